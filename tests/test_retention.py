"""Checkpoint retention: newest few + sparse milestones + the latest survive,
nothing else in the checkpoints folder is touched, and a run still resumes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ebm_engine.config import RunConfig
from ebm_engine.learning.trainer import Trainer
from ebm_engine.runs import retention
from ebm_engine.runs.retention import (
    checkpoint_iteration,
    completed_checkpoints,
    disk_usage,
    prune_checkpoints,
)
from ebm_engine.runs.rundir import RunDir


def fake_checkpoint(folder: Path, iteration: int, complete: bool = True) -> Path:
    path = folder / f"iter_{iteration:07d}"
    path.mkdir(parents=True)
    (path / "model.safetensors").write_bytes(b"x" * 10)
    if complete:
        (path / "state.json").write_text(json.dumps({"iteration": iteration}))
    return path


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def iterations(folder: Path) -> list[int]:
    return [it for it, _ in completed_checkpoints(folder)]


def test_checkpoint_names() -> None:
    assert checkpoint_iteration("iter_0000040") == 40
    assert checkpoint_iteration("iter_12345678") == 12345678
    for other in ("latest", ".iter_0000040.abc.tmp", "iter_0000040.partial", "iter_", "iter_x1",
                  ".iter_0000040.old-12", "iter_0000040 "):
        assert checkpoint_iteration(other) is None


def test_keeps_newest_milestones_and_latest(tmp_path: Path) -> None:
    for it in range(20, 420, 20):  # 20, 40, …, 400
        fake_checkpoint(tmp_path, it)
    (tmp_path / "latest").write_text("iter_0000060\n")  # e.g. after a rollback
    removed = prune_checkpoints(tmp_path, keep_last=3, milestone_every=100)
    assert iterations(tmp_path) == [60, 100, 200, 300, 360, 380, 400]
    assert sorted(checkpoint_iteration(p.name) for p in removed) == [
        20, 40, 80, 120, 140, 160, 180, 220, 240, 260, 280, 320, 340]
    assert all(not p.exists() for p in removed)
    # Idempotent.
    assert prune_checkpoints(tmp_path, keep_last=3, milestone_every=100) == []


def test_no_milestones_and_protect(tmp_path: Path) -> None:
    for it in (1, 2, 3, 4, 5):
        fake_checkpoint(tmp_path, it)
    removed = prune_checkpoints(tmp_path, keep_last=2, milestone_every=0,
                                protect=[tmp_path / "iter_0000002"])
    assert [p.name for p in removed] == ["iter_0000001", "iter_0000003"]
    assert iterations(tmp_path) == [2, 4, 5]


def test_fewer_checkpoints_than_keep_last_are_all_kept(tmp_path: Path) -> None:
    for it in (10, 20):
        fake_checkpoint(tmp_path, it)
    assert prune_checkpoints(tmp_path, keep_last=3, milestone_every=0) == []
    assert iterations(tmp_path) == [10, 20]


def test_keep_last_zero_still_keeps_the_newest(tmp_path: Path) -> None:
    for it in (10, 20, 30):
        fake_checkpoint(tmp_path, it)
    prune_checkpoints(tmp_path, keep_last=0, milestone_every=0)
    assert iterations(tmp_path) == [30]  # what latest_checkpoint() falls back to


def test_numeric_order_past_seven_digits(tmp_path: Path) -> None:
    fake_checkpoint(tmp_path, 9_999_999)
    fake_checkpoint(tmp_path, 10_000_000)
    prune_checkpoints(tmp_path, keep_last=1, milestone_every=0)
    assert iterations(tmp_path) == [10_000_000]
    run = RunDir(tmp_path / "run")
    fake_checkpoint(run.checkpoints, 9_999_999)
    fake_checkpoint(run.checkpoints, 10_000_000)
    assert run.latest_checkpoint().name == "iter_10000000"


def test_leaves_unrelated_partial_and_temp_entries_alone(tmp_path: Path) -> None:
    for it in (1, 2, 3):
        fake_checkpoint(tmp_path, it)
    fake_checkpoint(tmp_path, 0, complete=False)            # incomplete (no state.json)
    (tmp_path / ".iter_0000004.abcd.tmp").mkdir()          # being written by save_checkpoint
    (tmp_path / ".iter_0000001.old-77").mkdir()            # being replaced
    (tmp_path / "iter_0000005.partial").mkdir()            # an export in progress
    (tmp_path / "best").mkdir()                            # the user's own
    (tmp_path / "notes.txt").write_text("keep me")
    (tmp_path / "iter_0000006").write_text("a file, not a folder")
    os.symlink(tmp_path / "iter_0000001", tmp_path / "iter_0000007")
    (tmp_path / "latest").write_text("iter_0000003\n")
    leftover = tmp_path / ".iter_0000000.deleting-0a1b2c"  # a pruner killed mid-delete
    (leftover / "sub").mkdir(parents=True)
    (leftover / "sub" / "model.safetensors").write_bytes(b"x")
    removed = prune_checkpoints(tmp_path, keep_last=1, milestone_every=0)
    assert [p.name for p in removed] == ["iter_0000001", "iter_0000002"]
    assert not leftover.exists()
    assert names(tmp_path) == sorted([
        ".iter_0000001.old-77", ".iter_0000004.abcd.tmp", "best", "iter_0000000",
        "iter_0000003", "iter_0000005.partial", "iter_0000006", "iter_0000007",
        "latest", "notes.txt"])


def test_a_bad_latest_pointer_protects_nothing_outside(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    ckpts = tmp_path / "checkpoints"
    for it in (1, 2):
        fake_checkpoint(ckpts, it)
    (ckpts / "latest").write_text("../outside\n")
    prune_checkpoints(ckpts, keep_last=1, milestone_every=0)
    assert outside.is_dir() and iterations(ckpts) == [2]


def test_tolerates_folders_that_vanish(tmp_path: Path, monkeypatch) -> None:
    for it in (1, 2, 3, 4):
        fake_checkpoint(tmp_path, it)
    real_rename = os.rename

    def racing_rename(src, dst):
        if Path(src).name == "iter_0000002":  # another pruner got there first
            import shutil

            shutil.rmtree(src)
        return real_rename(src, dst)

    monkeypatch.setattr(retention.os, "rename", racing_rename)
    removed = prune_checkpoints(tmp_path, keep_last=1, milestone_every=0)
    assert [p.name for p in removed] == ["iter_0000001", "iter_0000003"]
    assert names(tmp_path) == ["iter_0000004"]


def test_missing_folder_and_bad_arguments(tmp_path: Path) -> None:
    assert prune_checkpoints(tmp_path / "nope", keep_last=1, milestone_every=0) == []
    with pytest.raises(ValueError, match="keep_last"):
        prune_checkpoints(tmp_path, keep_last=-1, milestone_every=0)
    with pytest.raises(ValueError, match="milestone_every"):
        prune_checkpoints(tmp_path, keep_last=1, milestone_every=-5)


def test_disk_usage(tmp_path: Path) -> None:
    assert disk_usage(tmp_path / "missing") == 0
    (tmp_path / "a").write_bytes(b"x" * 100)
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "sub" / "b").write_bytes(b"y" * 50)
    (tmp_path / "sub" / "deeper" / "c").write_bytes(b"z" * 7)
    big = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    big.write_bytes(b"w" * 10_000)
    os.symlink(big, tmp_path / "link")  # counted as the link, not its target
    total = disk_usage(tmp_path)
    assert 157 <= total < 157 + 1000
    assert disk_usage(tmp_path / "a") == 100


def tiny_config() -> RunConfig:
    cfg = RunConfig()
    for key, value in (("model.width", 8), ("model.depth", 1), ("sampler.n_steps", 2),
                       ("train.batch_size", 16), ("sampler.buffer_size", 64),
                       ("train.checkpoint_every", 2), ("train.sample_every", 100),
                       ("train.iterations", 10), ("train.device", "cpu"),
                       ("train.keep_checkpoints", 2), ("train.milestone_every", 4)):
        cfg = cfg.with_value(key, value)
    return cfg


def test_training_prunes_and_resumes(tmp_path: Path) -> None:
    run_path = tmp_path / "run"
    trainer = Trainer(tiny_config(), run_path)
    for _ in trainer.events():
        pass
    run = RunDir(run_path)
    # Checkpoints at 2, 4, …, 10: the newest two plus the milestones (multiples of 4).
    assert iterations(run.checkpoints) == [4, 8, 10]
    removed = run.prune_checkpoints(keep_last=1, milestone_every=0)
    assert [p.name for p in removed] == ["iter_0000004", "iter_0000008"]
    assert run.latest_checkpoint().name == "iter_0000010"
    assert run.disk_usage() > 0
    resumed = Trainer.resume(run_path)
    assert resumed.iteration == 10
    for _ in resumed.events(iterations=12):
        pass
    assert resumed.iteration == 12
    assert run.latest_checkpoint().name == "iter_0000012"
    assert iterations(run.checkpoints) == [10, 12]


def test_set_aside_renames_only_newer_checkpoints_and_never_over_another(tmp_path: Path) -> None:
    for it in (2, 4, 6):
        fake_checkpoint(tmp_path, it)
    fake_checkpoint(tmp_path, 8, complete=False)  # being written: not a checkpoint yet
    (tmp_path / "iter_0000006.abandoned").mkdir()  # an earlier go-back's
    moved = retention.set_aside(tmp_path, 2)
    assert [(a.name, b.name) for a, b in moved] == [
        ("iter_0000004", "iter_0000004.abandoned"), ("iter_0000006", "iter_0000006.abandoned-2")]
    assert iterations(tmp_path) == [2]
    assert "iter_0000008" in names(tmp_path)
    assert prune_checkpoints(tmp_path, keep_last=1, milestone_every=0) == []
    assert "iter_0000004.abandoned" in names(tmp_path)
