"""One writer per run folder: a second training of the same run is refused, a killed
writer leaves no stale lock, and its half-written checkpoints are tidied."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ebm_engine.cli import main
from ebm_engine.errors import ConfigError
from ebm_engine.runs import run_lock
from ebm_engine.runs.rundir import RunDir

pytestmark = pytest.mark.skipif(run_lock.fcntl is None, reason="no flock on this system")

HOLD = ("import sys; from ebm_engine.runs import run_lock; run_lock.acquire(sys.argv[1]); "
        "print('held', flush=True); sys.stdin.read()")
TRY = ("import sys; from ebm_engine.errors import ConfigError; from ebm_engine.runs import "
       "run_lock\ntry:\n    run_lock.acquire(sys.argv[1]); print('free')\n"
       "except ConfigError:\n    print('held')")


def _holder(folder: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def _other_process_sees(folder: Path) -> str:
    return subprocess.run([sys.executable, "-c", TRY, str(folder)], capture_output=True,
                          text=True, check=True).stdout.strip()


@pytest.fixture()
def run(tmp_path: Path) -> Path:
    out = tmp_path / "run"
    assert main(["train", "--data", "8gaussians", "--steps", "4", "--set", "train.batch_size=16",
                 "--set", "sampler.n_steps=2", "--out", str(out), "--quiet"]) == 0
    return out


def test_a_second_training_of_a_run_is_refused_and_changes_nothing(run: Path, capsys):
    """Two `ebm train --resume RUN` at once both trained and interleaved their rows; the
    second is now refused in one line that names the holder, and the run is as it was."""
    holder = _holder(run)
    before = (run / "metrics.csv").read_text(), (run / "events.jsonl").read_text()
    capsys.readouterr()
    try:
        assert main(["train", "--resume", str(run), "--steps", "2", "--quiet"]) == 2
        err = capsys.readouterr().err
        assert f"is being trained by another process (pid {holder.pid}" in err
        assert "--out NEW" in err and err.count("\n") == 1 and "Traceback" not in err
        assert ((run / "metrics.csv").read_text(), (run / "events.jsonl").read_text()) == before
    finally:
        holder.stdin.close()
        holder.wait(30)
    # the holder gone, the run goes on
    assert main(["train", "--resume", str(run), "--steps", "2", "--quiet"]) == 0
    assert [int(r["iteration"]) for r in RunDir(run).read_metrics()] == list(range(1, 7))


def test_a_file_system_without_locks_trains_unlocked_with_a_warning(tmp_path: Path, capsys,
                                                                   monkeypatch):
    """On NFS without lockd flock fails with ENOLCK: every run, new or resumed, was
    refused as "being trained by another process" (a long-dead pid from the note)."""
    import errno

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(run_lock.fcntl, "flock", no_locks)
    out = tmp_path / "run"
    args = ["--set", "train.batch_size=16", "--set", "sampler.n_steps=2", "--quiet"]
    assert main(["train", "--data", "8gaussians", "--steps", "2", "--out", str(out), *args]) == 0
    assert main(["train", "--resume", str(out), "--steps", "2", *args]) == 0
    err = capsys.readouterr().err
    assert err.count("cannot be locked here (No locks available)") == 2, err
    assert RunDir(out).latest_checkpoint().name == "iter_0000004"


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path):
    holder = _holder(tmp_path)
    assert _other_process_sees(tmp_path) == "held"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(30)
    assert _other_process_sees(tmp_path) == "free"


def test_holders_in_one_process_share_the_lock_until_the_last_lets_go(tmp_path: Path):
    """A rollback builds a new trainer on the folder while the old one still holds it."""
    first = run_lock.acquire(tmp_path)
    second = run_lock.acquire(tmp_path)
    first.release()
    first.release()  # twice: still one release
    assert _other_process_sees(tmp_path) == "held"
    second.release()
    assert _other_process_sees(tmp_path) == "free"


def test_checkpoints_a_killed_writer_left_are_tidied_on_resume(run: Path, capsys):
    """`kill -9` during a checkpoint write left `.iter_N….tmp` folders that nothing
    removed; one killed between its two renames left the only copy as `.old-PID`."""
    checkpoints = run / "checkpoints"
    (checkpoints / ".iter_0000003.ab12.tmp").mkdir()
    (checkpoints / ".iter_0000003.ab12.tmp" / "model.safetensors").write_bytes(b"x" * 100)
    (checkpoints / ".iter_0000004.old-998").mkdir()  # superseded: iter_0000004 is there
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--steps", "1"]) == 0
    names = sorted(p.name for p in checkpoints.iterdir())
    assert not [n for n in names if n.startswith(".iter_")]
    assert "tidied 2 half-written checkpoint folders" in capsys.readouterr().err


def test_a_checkpoint_whose_replacement_never_arrived_is_put_back(tmp_path: Path):
    checkpoints = tmp_path / "checkpoints"
    (checkpoints / ".iter_0000008.old-77").mkdir(parents=True)
    (checkpoints / ".iter_0000008.old-77" / "state.json").write_text("{}")
    (checkpoints / ".iter_0000008.cd34.tmp").mkdir()
    assert sorted(run_lock.tidy_checkpoints(checkpoints)) == [".iter_0000008.cd34.tmp",
                                                              ".iter_0000008.old-77"]
    assert [p.name for p in checkpoints.iterdir()] == ["iter_0000008"]
    assert (checkpoints / "iter_0000008" / "state.json").is_file()


def test_resume_puts_back_a_checkpoint_caught_between_its_renames_before_choosing(tmp_path):
    """Killed between its two renames, a checkpoint's only copy is `.iter_N.old-PID`.
    The tidy that puts it back ran after resume had chosen the older checkpoint, so
    the run went back two iterations and dropped their curves."""
    run = tmp_path / "run"
    assert main(["train", "--data", "8gaussians", "--steps", "4", "--set", "train.batch_size=16",
                 "--set", "sampler.n_steps=2", "--set", "train.checkpoint_every=2",
                 "--out", str(run), "--quiet"]) == 0
    checkpoints = run / "checkpoints"
    (checkpoints / "iter_0000004").rename(checkpoints / ".iter_0000004.old-999")
    assert main(["train", "--resume", str(run), "--steps", "1", "--quiet"]) == 0
    assert [int(r["iteration"]) for r in RunDir(run).read_metrics()] == [1, 2, 3, 4, 5]
    assert RunDir(run).latest_checkpoint().name == "iter_0000005"


@pytest.mark.app
def test_the_app_cannot_resume_a_run_another_process_trains(qtbot, tmp_path, run):
    """Resume in place of a run a CLI job trains: one sentence in the app's words, and
    the run as it was."""
    from app.testing import make_window

    holder = _holder(run)
    before = (run / "metrics.csv").read_text()
    try:
        window = make_window(qtbot, tmp_path, knobs=())
        window.open_run(run, "resume")
        qtbot.waitUntil(lambda: bool(window.errors), timeout=60_000)
        window.controller.wait()
        said = window.errors[-1]
        assert f"pid {holder.pid}" in said and "▶ Continue to train a copy" in said
        assert "--out" not in said and (run / "metrics.csv").read_text() == before
    finally:
        holder.stdin.close()
        holder.wait(30)


def test_a_lock_that_is_a_link_or_no_plain_file_is_refused_and_nothing_is_emptied(
        run: Path, tmp_path: Path, capsys):
    """A symlinked ``RUN/.lock`` was followed and truncated: the file it named lost its
    contents to the holder's "pid …" stamp."""
    precious = tmp_path / "thesis.tex"
    precious.write_text("years of work")
    lock = run / run_lock.LOCK_NAME
    lock.unlink()
    lock.symlink_to(precious)
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--steps", "5", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"ebm: error: {lock} is a symbolic link, not the run's lock file; remove it "
                   "(the run makes its own)")
    assert precious.read_text() == "years of work"
    lock.unlink()
    os.mkfifo(lock)  # no hang on a FIFO either
    with pytest.raises(ConfigError, match="is not a plain file"):
        run_lock.acquire(run)


@pytest.mark.parametrize("out", [False, True])
def test_resuming_a_run_still_starting_names_its_holder(tmp_path: Path, capsys, out: bool):
    """A training that has taken its folder's lock but not yet written config.json: a
    second `ebm train --resume` of it said "not a run folder" as if nothing were there.
    It names the process writing it now, in one line."""
    folder = tmp_path / "starting"
    folder.mkdir()
    holder = _holder(folder)
    try:
        args = ["--out", str(tmp_path / "copy")] if out else []
        assert main(["train", "--resume", str(folder), "--steps", "1", *args, "--quiet"]) == 2
        err = capsys.readouterr().err
        assert f"is being written by another process (pid {holder.pid}" in err, err
        assert "still starting" in err and err.count("\n") == 1 and "Traceback" not in err
        assert not (tmp_path / "copy").exists()
    finally:
        holder.stdin.close()
        holder.wait(30)
    assert main(["train", "--resume", str(folder), "--steps", "1", "--quiet"]) == 2
    assert "not a run folder" in capsys.readouterr().err  # nobody holds it: as before


def test_what_a_run_killed_while_starting_left_is_taken_over_by_the_next(tmp_path: Path, capsys):
    """A training makes checkpoints/ and samples/, then takes the lock, then writes
    config.json: killed in between, it left those empty folders beside the lock file,
    and the same --out was refused as "a folder of other files". The next run takes
    them over; a folder that holds anything more is still refused."""
    out = tmp_path / "run"
    for name in ("checkpoints", "samples"):
        (out / name).mkdir(parents=True)
    (out / ".lock").write_text("pid 1 on elsewhere since 10:00:00")  # nobody holds it
    args = ["--data", "8gaussians", "--steps", "1", "--set", "sampler.n_steps=2", "--quiet"]
    assert main(["train", *args, "--out", str(out)]) == 0, capsys.readouterr().err
    assert RunDir(out).latest_checkpoint().name == "iter_0000001"
    other = tmp_path / "other"
    (other / "samples").mkdir(parents=True)
    (other / "samples" / "mine.npz").write_bytes(b"x")
    (other / ".lock").touch()
    assert main(["train", *args, "--out", str(other)]) == 2
    assert "is a folder of other files" in capsys.readouterr().err
    assert [p.name for p in (other / "samples").iterdir()] == ["mine.npz"]
