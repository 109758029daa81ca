"""A damaged latest checkpoint does not strand a run: sample, eval, resume and
fork go on from the newest checkpoint that reads, and say which they passed over."""

from __future__ import annotations

import json

import pytest

from ebm_engine.cli import main
from ebm_engine.errors import CheckpointError
from ebm_engine.runs.rundir import RunDir


@pytest.fixture
def damaged(tmp_path):
    """A run with checkpoints at 10, 20 and 30, the last one's weights cut short."""
    run = tmp_path / "run"
    assert main(["train", "--data", "8gaussians", "--steps", "30", "--out", str(run), "--quiet",
                 "--set", "train.checkpoint_every=10", "--set", "sampler.n_steps=2"]) == 0
    weights = run / "checkpoints" / "iter_0000030" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    return run


def test_sample_and_eval_use_the_newest_checkpoint_that_reads(damaged, tmp_path, capsys):
    assert main(["sample", "--run", str(damaged), "--n", "4", "--steps", "1",
                 "--out", str(tmp_path / "x.npz")]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "iter_0000030 cannot be read" in err
    assert "corrupt safetensors" in err and "using iter_0000020" in err
    assert main(["eval", "--run", str(damaged), "--n", "16", "--steps", "1", "--json",
                 "--no-write"]) == 0
    assert json.loads(capsys.readouterr().out)["checkpoint"] == "iter_0000020"


def test_resume_continues_from_it_and_logs_why(damaged, capsys):
    assert main(["train", "--resume", str(damaged), "--steps", "3", "--quiet"]) == 0
    out = capsys.readouterr()
    assert "iter_0000030 cannot be read" in out.out + out.err and "now at 23" in out.out
    events = RunDir(damaged).read_events()
    resumed = [e for e in events if e["event"] == "resumed"][-1]
    assert resumed["checkpoint"] == "iter_0000020" and "iter_0000030" in resumed["passed_over"]
    assert RunDir(damaged).latest_checkpoint().name == "iter_0000023"
    assert [r["iteration"] for r in RunDir(damaged).read_metrics()][-4:] == [20, 21, 22, 23]


def test_an_incomplete_latest_checkpoint_is_said_as_a_damaged_one_is(damaged, capsys):
    """`latest` naming a folder whose state.json is gone: resume went on from the one
    before without a word (a corrupt one gets a note)."""
    (damaged / "checkpoints" / "iter_0000030" / "state.json").unlink()
    assert main(["train", "--resume", str(damaged), "--steps", "2", "--quiet"]) == 0
    out = capsys.readouterr()
    assert ("the latest checkpoint iter_0000030 is incomplete (missing state.json); using "
            "iter_0000020, the newest one that is complete") in out.err
    resumed = [e for e in RunDir(damaged).read_events() if e["event"] == "resumed"][-1]
    assert "iter_0000030 is incomplete" in resumed["passed_over"]
    assert RunDir(damaged).latest_checkpoint().name == "iter_0000022"


def test_a_divergence_after_resuming_past_it_rolls_back_to_the_checkpoint_resumed(damaged,
                                                                                  capsys):
    """The rollback reads checkpoints/latest: it must name the checkpoint resumed, not
    the damaged one (the run ended with 'corrupt safetensors file')."""
    code = main(["train", "--resume", str(damaged), "--steps", "4", "--quiet",
                 "--set", "train.lr=100", "--set", "sampler.step_size=1.0",
                 "--max-rollbacks", "1"])
    err = capsys.readouterr().err
    assert "corrupt safetensors" not in err.splitlines()[-1], err
    rollbacks = [e for e in RunDir(damaged).read_events() if e["event"] == "rollback"]
    assert code in (0, 1) and rollbacks and rollbacks[0]["checkpoint"] == "iter_0000020"


def test_fork_copies_the_checkpoint_that_reads(damaged, tmp_path, capsys):
    new = tmp_path / "new"
    assert main(["train", "--resume", str(damaged), "--out", str(new), "--steps", "1",
                 "--quiet"]) == 0
    assert "iter_0000030 cannot be read" in capsys.readouterr().err
    assert (new / "checkpoints" / "iter_0000020").is_dir()
    assert not (new / "checkpoints" / "iter_0000030").exists()


def test_with_no_checkpoint_that_reads_the_latest_ones_reason_is_said(damaged):
    for folder in (damaged / "checkpoints").glob("iter_*"):
        (folder / "state.json").write_text("{ cut")
    with pytest.raises(CheckpointError, match="iter_0000030.*state.json: unreadable"):
        RunDir(damaged).load_latest()


@pytest.mark.app
def test_the_app_samples_from_it_and_says_so_in_the_log(qtbot, damaged, tmp_path):
    from app.testing import WAIT_MS, make_window

    window = make_window(qtbot, tmp_path, knobs=())
    window.open_run(damaged, "sample")
    qtbot.waitUntil(lambda: window.controller.state == "finished", timeout=WAIT_MS)
    assert window.errors == []
    assert "iter_0000030 cannot be read" in window.log.toPlainText()

