"""Crash safety: ``kill -9`` mid-training loses at most one checkpoint interval and
never leaves a half-written file that a resume would read; SIGTERM and stop()
checkpoint before finishing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ebm_engine.cli import main
from ebm_engine.config import RunConfig
from ebm_engine.learning.events import Checkpointed, Finished, TrainStep
from ebm_engine.learning.trainer import Trainer
from ebm_engine.runs.checkpoint import load_checkpoint
from ebm_engine.runs.rundir import RunDir

INTERVAL = 3
TINY = ["--set", "model.width=16", "--set", "model.depth=2", "--set", "sampler.n_steps=3",
        "--set", "train.batch_size=32", "--set", "sampler.buffer_size=256",
        "--set", f"train.checkpoint_every={INTERVAL}", "--set", "train.sample_every=1", "--quiet"]


def start_training(run: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "ebm_engine", "train", "--data", "8gaussians",
           "--steps", "100000", "--out", str(run), *TINY]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(proc: subprocess.Popen, ready, deadline_s: float = 180.0) -> None:
    """Poll until ``ready()`` (bounded; returns early if the process dies)."""
    end = time.monotonic() + deadline_s
    while not ready():
        assert time.monotonic() < end, "training never reached the expected point"
        try:
            proc.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            continue
        raise AssertionError(f"training exited early: {proc.stderr.read().decode()[-2000:]}")


def last_logged(run: Path) -> int:
    rows = RunDir(run).read_metrics()
    return int(rows[-1]["iteration"]) if rows else 0


def test_kill_9_then_resume_continues_from_last_checkpoint(tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = start_training(run)
    try:
        # Past the first checkpoint and into the next interval: there is work to lose.
        wait_for(proc, lambda: (run / "checkpoints" / "latest").is_file()
                 and last_logged(run) >= INTERVAL + 1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    rd = RunDir(run)
    logged = last_logged(run)
    latest = rd.latest_checkpoint()
    assert latest is not None
    saved = load_checkpoint(latest).iteration  # complete and readable
    assert saved % INTERVAL == 0 and 0 <= logged - saved <= INTERVAL
    # Leftovers a crash can leave must never be taken for checkpoints.
    (rd.checkpoints / "iter_9999999").mkdir()
    (rd.checkpoints / "iter_9999999" / "model.safetensors").write_bytes(b"\x08\x00\x00")
    (rd.checkpoints / ".iter_9999998.x.tmp").mkdir()
    assert rd.latest_checkpoint() == latest
    (rd.checkpoints / "latest").unlink()  # even without the pointer
    # Without it, the newest complete folder is taken: the pointer's, or a newer one
    # when the kill landed between a checkpoint's rename and the pointer's update.
    fallback = rd.latest_checkpoint()
    assert fallback.name in (latest.name, f"iter_{saved + INTERVAL:07d}")
    saved = load_checkpoint(fallback).iteration
    assert saved <= logged

    assert main(["train", "--resume", str(run), "--steps", "2", "--quiet"]) == 0
    rows = rd.read_metrics()
    assert [int(r["iteration"]) for r in rows] == list(range(1, saved + 3))
    assert load_checkpoint(rd.latest_checkpoint()).iteration == saved + 2
    assert any(e["event"] == "resumed" and e["iteration"] == saved for e in rd.read_events())
    assert rd.read_samples()["iteration"] == saved + 2


def test_sigterm_checkpoints_and_stops(tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = start_training(run)
    try:
        wait_for(proc, lambda: last_logged(run) >= 2)
        proc.send_signal(signal.SIGTERM)  # what SLURM sends at the time limit
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143, err.decode()[-2000:]
    assert "resume with --resume" in err.decode()
    # The checkpoint on stop holds every logged iteration: nothing is lost.
    saved = load_checkpoint(RunDir(run).latest_checkpoint()).iteration
    assert saved == last_logged(run) >= 2


def test_stop_writes_a_final_checkpoint(tmp_path: Path) -> None:
    cfg = RunConfig.from_dict({"model": {"width": 16, "depth": 2}, "sampler": {"n_steps": 2},
                               "train": {"batch_size": 16, "iterations": 50,
                                         "checkpoint_every": 0}})
    trainer = Trainer(cfg, tmp_path / "run")
    seen = []
    for event in trainer.events():
        seen.append(event)
        if isinstance(event, TrainStep) and event.iteration == 2:
            trainer.stop()
    assert isinstance(seen[-1], Finished) and seen[-1].reason == "stopped"
    assert isinstance(seen[-2], Checkpointed) and seen[-2].iteration == 2
    assert load_checkpoint(seen[-2].path).iteration == 2
