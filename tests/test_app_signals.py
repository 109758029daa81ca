"""The app treats SIGTERM (logout, shutdown) like Stop: it checkpoints the last
complete iteration and exits cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ebm_engine.runs.rundir import RunDir

pytestmark = pytest.mark.app


def test_sigterm_checkpoints_and_exits(tmp_path: Path):
    runs = tmp_path / "runs"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "OMP_NUM_THREADS": "1",
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    cmd = [sys.executable, "-m", "app.main", "--demo", "8gaussians", "--runs", str(runs),
           "--set", "train.checkpoint_every=0", "--set", "train.checkpoint_minutes=0",
           "--set", "train.iterations=100000", "--train"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        end = time.monotonic() + 120

        def progress() -> int:
            rows = [RunDir(p).read_metrics() for p in runs.glob("*") if (p / "config.json").is_file()]
            return int(rows[0][-1]["iteration"]) if rows and rows[0] else 0

        while progress() < 20:  # well into training, no checkpoint yet (none are due)
            assert time.monotonic() < end and proc.poll() is None, proc.stderr.read().decode()
            try:
                proc.wait(0.1)
            except subprocess.TimeoutExpired:
                pass
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    run = next(p for p in runs.glob("*") if (p / "config.json").is_file())
    latest = RunDir(run).latest_checkpoint()
    assert code == 0, proc.stderr.read().decode()[-2000:]
    assert latest is not None
    last_row = int(RunDir(run).read_metrics()[-1]["iteration"])
    assert latest.name == f"iter_{last_row:07d}"  # nothing trained was lost
