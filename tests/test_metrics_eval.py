"""`ebm eval` and evaluate_run on tiny runs of every data kind that exists."""

from __future__ import annotations

import json

import pytest

from ebm_engine.cli import main
from ebm_engine.data import demos
from ebm_engine.learning.trainer import Trainer
from ebm_engine.metrics import evaluate_run, read_eval
from ebm_engine.presets import config_for

# demo → (overrides that make a 1-iteration run tiny, metrics expected)
CASES = {
    "8gaussians": ([("model.width", 16), ("train.batch_size", 32)], {"js_samples", "js_model"}),
    "digits": ([("model.width", 8), ("model.depth", 1), ("train.batch_size", 8),
                ("sampler.buffer_size", 16)], {"digits_fd", "digits_kid"}),
    "texture-brick": ([("data.image_size", 16), ("model.width", 8), ("model.depth", 1),
                       ("train.batch_size", 4)], {"gram_distance"}),
    "shapes-voxels": ([("data.image_size", 8), ("data.options", {"items": 8}), ("model.width", 4),
                       ("model.depth", 1), ("train.batch_size", 4)], {"mmd_iou", "cov_iou", "1nna_iou"}),
    "shapes-points": ([("data.options", {"items": 8, "points": 64}), ("model.width", 16),
                       ("train.batch_size", 4)], {"mmd_cd", "cov_cd", "1nna_cd"}),
    "dynamic-texture": ([("data.image_size", 16), ("data.options", {"frames": 4}), ("model.width", 4),
                         ("model.depth", 1), ("train.batch_size", 2)], {"gram_appearance", "gram_motion"}),
}


def _tiny_run(tmp_path, demo: str, overrides):
    base = [("train.iterations", 1), ("sampler.n_steps", 2), ("train.checkpoint_every", 0),
            ("train.device", "cpu"), ("train.record_every", 0)]
    cfg = config_for(demo, overrides=base + list(overrides))
    run = tmp_path / demo
    for _ in Trainer(cfg, run).events():
        pass
    return run


@pytest.mark.parametrize("demo", sorted(CASES))
def test_evaluate_run_writes_eval_json_with_the_kinds_metrics(tmp_path, demo):
    if demo not in demos():
        pytest.skip(f"demo {demo!r} is not registered yet")
    overrides, expected = CASES[demo]
    run = _tiny_run(tmp_path, demo, overrides)
    result = evaluate_run(run, n=6, steps=2)
    assert expected <= set(result["metrics"]), result["metrics"]
    assert all(isinstance(v, float) for v in result["metrics"].values())
    assert result["n"] == 6 and result["steps"] == 2 and result["iteration"] == 1
    saved = read_eval(run)
    assert saved is not None and saved["metrics"] == result["metrics"]
    # Same seed → same numbers (reproducible evaluation on CPU).
    again = evaluate_run(run, n=6, steps=2, write=False)
    assert again["metrics"] == pytest.approx(result["metrics"], nan_ok=True)


def test_ebm_eval_cli_prints_a_table_and_refuses_bad_input(tmp_path, capsys):
    run = _tiny_run(tmp_path, "8gaussians", CASES["8gaussians"][0])
    assert main(["eval", "--run", str(run), "--n", "50", "--steps", "2"]) == 0
    out = capsys.readouterr().out
    assert "js_samples" in out and "lower is better" in out
    data = json.loads((run / "eval.json").read_text())
    assert data["kind"] == "points" and data["n"] == 50
    assert main(["eval", "--run", str(run), "--n", "1"]) == 2
    assert "--n must be >= 2" in capsys.readouterr().err
    assert main(["eval", "--run", str(tmp_path / "missing")]) == 2
    assert "error" in capsys.readouterr().err
    assert read_eval(tmp_path / "missing") is None
