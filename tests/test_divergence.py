"""Divergence: detected, never applied, and rolled back by the CLI with gentler settings."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from ebm_engine.cli import main
from ebm_engine.config import RunConfig
from ebm_engine.errors import ConfigError
from ebm_engine.learning.events import Diverged, Finished
from ebm_engine.learning.rollback import RollbackPolicy, roll_back
from ebm_engine.learning.trainer import Trainer
from ebm_engine.runs.rundir import RunDir

# A tiny, fast 2D setup; the unstable edit below makes it blow up at once.
TINY = ["--set", "model.width=16", "--set", "model.depth=2", "--set", "sampler.n_steps=3",
        "--set", "train.batch_size=32", "--set", "train.sample_every=100",
        "--set", "sampler.buffer_size=256", "--set", "train.checkpoint_every=2", "--quiet"]
UNSTABLE = ["--set", "train.lr=100", "--set", "sampler.step_size=1.0"]


def events(run: Path) -> list[dict]:
    return RunDir(run).read_events()


def test_cli_rolls_back_to_last_good_checkpoint(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    assert main(["train", "--data", "8gaussians", "--steps", "4", "--out", str(run), *TINY]) == 0
    good = RunDir(run).latest_checkpoint()
    assert good is not None and good.name == "iter_0000004"

    # The same run continues with a learning rate that makes it explode.
    code = main(["train", "--resume", str(run), "--steps", "4", *UNSTABLE, "--quiet",
                 "--rollback-lr-factor", "0.0005", "--rollback-extra-steps", "5"])
    err = capsys.readouterr().err

    assert code == 0, err
    log = events(run)
    kinds = [e["event"] for e in log]
    assert "diverged" in kinds and "rollback" in kinds
    rb = next(e for e in log if e["event"] == "rollback")
    assert rb["checkpoint"] == "iter_0000004" and rb["iteration"] == 4
    assert rb["lr"] == [100.0, pytest.approx(0.05)]
    assert rb["n_steps"] == [3, 8]
    assert "rolled back to iteration 4" in err
    # The run ends where asked, with the gentler settings saved, and finite weights.
    cfg = RunDir(run).read_config()
    assert cfg.train.lr == pytest.approx(0.05) and cfg.sampler.n_steps == 8
    latest = RunDir(run).latest_checkpoint()
    assert latest is not None and latest.name == "iter_0000008"
    resumed = Trainer.resume(run)
    assert all(torch.isfinite(p).all() for p in resumed.method.net.parameters())
    rows = RunDir(run).read_metrics()
    assert [int(r["iteration"]) for r in rows] == list(range(1, 9))
    assert all(math.isfinite(r["loss"]) for r in rows)
    for line in (run / "events.jsonl").read_text().splitlines():
        json.loads(line)  # every line parses


def test_cli_on_diverge_stop_exits_1_keeping_last_good_checkpoint(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    code = main(["train", "--data", "8gaussians", "--steps", "6", "--out", str(run), *TINY,
                 *UNSTABLE, "--on-diverge", "stop"])
    err = capsys.readouterr().err.strip().splitlines()

    assert code == 1
    # the iteration named is the one that failed, one past the complete ones
    done = [e["iteration"] for e in events(run) if e["event"] == "finished"][-1]
    assert err[-1].startswith(f"ebm: error: training diverged in iteration {done + 1} in {run}")
    # the log names that step too (beside the complete iterations every event counts)
    assert {e["failed_at"] for e in events(run) if e["event"] == "diverged"} == {done + 1}
    assert f"warning (iteration {done + 1}): " in "\n".join(err)
    assert "lower train.lr or sampler.step_size" in err[-1]  # ml's Langevin step
    assert "rollback" not in [e["event"] for e in events(run)]
    # Nothing was applied, and the diverged state was not checkpointed: the line says
    # that the folder has nothing to resume, and what to do instead.
    assert RunDir(run).latest_checkpoint() is None
    assert "then train again with --out NEW (no checkpoint was written before it" in err[-1]


def test_cli_on_diverge_stop_after_a_checkpoint_says_how_to_continue(tmp_path: Path,
                                                                    capsys) -> None:
    run = tmp_path / "run"
    assert main(["train", "--data", "8gaussians", "--steps", "4", "--out", str(run), *TINY]) == 0
    code = main(["train", "--resume", str(run), "--steps", "6", *UNSTABLE[:2],
                 "--set", "train.lr=1e18", "--on-diverge", "stop", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    failed = [e["iteration"] for e in events(run) if e["event"] == "finished"][-1] + 1
    assert failed > 4  # the edit comes in after the resumed run's first step
    assert err[-1].startswith(f"ebm: error: training diverged in iteration {failed} in {run}")
    assert err[-1].endswith(f"then continue from its last checkpoint (iter_0000004) with "
                            f"--resume {run} --set KEY=VALUE")
    assert f"warning (iteration {failed}): non-finite" in "\n".join(err)


def test_rollback_gives_up_after_max_rollbacks(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    code = main(["train", "--data", "8gaussians", "--steps", "4", "--out", str(run), *TINY,
                 *UNSTABLE, "--rollback-lr-factor", "1", "--rollback-extra-steps", "0",
                 "--max-rollbacks", "1"])
    err = capsys.readouterr().err

    assert code == 1
    assert "after 1 rollback;" in err
    log = [e for e in events(run) if e["event"] == "rollback"]
    assert len(log) == 1 and log[0]["checkpoint"] is None and log[0]["iteration"] == 0


def test_trainer_yields_diverged_and_never_applies_a_bad_step(tmp_path: Path) -> None:
    cfg = RunConfig.from_dict({
        "model": {"width": 16, "depth": 2},
        "sampler": {"n_steps": 3, "step_size": 1.0},
        "train": {"lr": 100.0, "batch_size": 32, "iterations": 5, "checkpoint_every": 0},
    })
    trainer = Trainer(cfg, None)
    seen = list(trainer.events())
    diverged = [e for e in seen if isinstance(e, Diverged)]
    assert diverged and isinstance(seen[-1], Finished) and seen[-1].reason == "diverged"
    assert all(torch.isfinite(p).all() for p in trainer.method.net.parameters())


def test_policy_validates_and_roll_back_needs_a_run() -> None:
    with pytest.raises(ConfigError, match="lr factor"):
        RollbackPolicy(lr_factor=2.0)
    cfg = RunConfig.from_dict({"model": {"width": 8, "depth": 1}, "train": {"batch_size": 8}})
    from ebm_engine.errors import DivergenceError

    with pytest.raises(DivergenceError):
        roll_back(Trainer(cfg, None), RollbackPolicy())


def test_divergence_advice_names_the_methods_own_step_knob(tmp_path: Path, capsys) -> None:
    """Recovery's chains take ``train.options.step_scale`` (grown by ``step_ref``), not
    ``sampler.step_size``: an absurdly small ``step_ref`` blows them up, and the one
    line says which knobs to change."""
    code = main(["train", "--data", "digits", "--method", "recovery", "--steps", "2",
                 "--out", str(tmp_path / "run"), "--quiet", "--on-diverge", "stop",
                 "--set", "data.max_items=64", "--set", "model.width=8",
                 "--set", "train.batch_size=16", "--set", "sampler.n_steps=3",
                 "--set", "train.options.step_ref=1e-12"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1].startswith("ebm: error: training diverged in iteration 1")
    # before any update the rate is not the cause: the chains' start or step is
    assert "lower sampler.init_scale or train.options.step_scale (or raise " \
           "train.options.step_ref)" in err[-1]
    assert "sampler.step_size" not in err[-1]
