"""Copying a run's checkpoint while its training goes on (``keep_checkpoints=1``
prunes the one copied), or while another process makes the same folder: a fork or a
checkpoint export copies a whole checkpoint or fails in one line, and a fork that
fails leaves nothing in the way of the next try."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ebm_engine.cli import main
from ebm_engine.errors import ConfigError
from ebm_engine.export.checkpoint import copy_checkpoint
from ebm_engine.runs import retention
from ebm_engine.runs.checkpoint import FILES, load_checkpoint
from ebm_engine.runs.fork import fork_run
from ebm_engine.runs.rundir import RunDir


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run with checkpoints at 1, 2 and 3 (latest 3)."""
    run = tmp_path_factory.mktemp("trained") / "run"
    assert main(["train", "--data", "8gaussians", "--steps", "3", "--out", str(run), "--quiet",
                 "--set", "train.checkpoint_every=1", "--set", "sampler.n_steps=2"]) == 0
    return run


@pytest.fixture
def run(trained, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    return copy


def _next_checkpoint(run: Path) -> None:
    """What a training with keep_checkpoints=1 does: write the next checkpoint, point
    `latest` at it and prune the one before (renamed away, then deleted)."""
    rd = RunDir(run)
    latest = rd.latest_checkpoint()
    n = retention.checkpoint_iteration(latest.name) + 1
    shutil.copytree(latest, rd.checkpoint_path(n))
    rd.mark_latest(rd.checkpoint_path(n))
    retention._remove(latest)


def _pruned_midway(monkeypatch, target, name: str) -> list[Path]:
    """Patch ``target.name`` (a copying function) so that the training prunes the
    checkpoint being copied right after the first file it copies."""
    original = getattr(target, name)
    seen: list[Path] = []

    def copying(src, *args, **kwargs):
        out = original(src, *args, **kwargs)
        folder = Path(src).parent
        if not seen and folder.name.startswith("iter_"):
            seen.append(folder)
            _next_checkpoint(folder.parent.parent)
        return out

    monkeypatch.setattr(target, name, copying)
    return seen


def test_load_latest_reads_latest_again_when_the_one_it_read_was_pruned(run, monkeypatch):
    import ebm_engine.runs.rundir as rundir

    original = rundir.load_checkpoint
    pruned = []

    def load(folder):
        if not pruned:
            pruned.append(folder)
            _next_checkpoint(run)  # between choosing the latest and reading it
        return original(folder)

    monkeypatch.setattr(rundir, "load_checkpoint", load)
    ckpt, note = RunDir(run).load_latest()
    assert pruned[0].name == "iter_0000003"
    assert ckpt.path.name == "iter_0000004" and note == ""


def test_a_fork_copies_the_new_latest_when_its_checkpoint_is_pruned_midway(run, tmp_path,
                                                                          monkeypatch, capsys):
    seen = _pruned_midway(monkeypatch, shutil, "copyfile")
    new = tmp_path / "fork"
    fork_run(run, new)
    assert seen and seen[0].name == "iter_0000003"
    latest = RunDir(new).latest_checkpoint()
    assert latest.name == "iter_0000004" and sorted(p.name for p in latest.iterdir()) == sorted(FILES)
    assert load_checkpoint(latest).iteration == 3  # (the copy _next_checkpoint made of 3)
    monkeypatch.undo()
    assert main(["train", "--resume", str(new), "--steps", "1", "--quiet"]) == 0


@pytest.mark.parametrize("name", ["ck", "ck.zip"])
def test_a_checkpoint_export_copies_the_new_latest_when_pruned_midway(run, tmp_path,
                                                                      monkeypatch, name):
    if name.endswith(".zip"):
        seen: list[Path] = []
        # ZipFile.write(self, filename, arcname): the source file is the second argument
        original = zipfile.ZipFile.write
        monkeypatch.setattr(zipfile.ZipFile, "write", lambda self, f, *a, **k: _first(
            seen, f, lambda: original(self, f, *a, **k), run))
    else:
        seen = _pruned_midway(monkeypatch, shutil, "copyfile")
    out = tmp_path / name
    src = RunDir(run).latest_checkpoint()
    assert copy_checkpoint(src, out, run=run) == out
    assert seen
    if name.endswith(".zip"):
        with zipfile.ZipFile(out) as z:
            names = sorted(z.namelist())
        assert names == sorted(f"iter_0000004/{f}" for f in FILES)
    else:
        assert sorted(p.name for p in out.iterdir()) == sorted(FILES)


def _first(seen: list[Path], src, write, run: Path):
    out = write()
    if not seen:
        seen.append(Path(src).parent)
        _next_checkpoint(run)
    return out


def test_a_fork_that_fails_leaves_nothing_and_the_same_out_works_next(run, tmp_path,
                                                                      monkeypatch):
    new = tmp_path / "fork"

    def full(src, dst, **kwargs):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(shutil, "copyfile", full)
        with pytest.raises(ConfigError, match="No space left on device"):
            fork_run(run, new)
    assert not new.exists()
    empty = tmp_path / "empty"  # a folder the user made for it stays, empty
    empty.mkdir()
    with monkeypatch.context() as m:
        m.setattr(shutil, "copyfile", full)
        with pytest.raises(ConfigError):
            fork_run(run, empty)
    assert list(empty.iterdir()) == []
    assert fork_run(run, new).latest_checkpoint().name == "iter_0000003"


def test_a_fork_into_a_folder_another_process_is_making_is_refused(run, tmp_path):
    new = tmp_path / "fork"
    new.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time\n"
         f"fd = os.open({str(new / '.lock')!r}, os.O_RDWR | os.O_CREAT)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, b'pid 4242 on elsewhere')\n"
         "print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ConfigError) as err:
            fork_run(run, new)
        # two forks at once both pass the first look: the lock refuses the second
        with pytest.MonkeyPatch.context() as m:
            m.setattr(RunDir, "check_new", lambda self: None)
            with pytest.raises(ConfigError) as raced:
                fork_run(run, new)
    finally:
        holder.kill()
        holder.wait()
    assert str(err.value) == (f"{new.resolve()} is being written by another process "
                              "(pid 4242 on elsewhere); choose another --out")
    assert str(raced.value) == str(err.value)
    assert [p.name for p in new.iterdir()] == [".lock"]


def test_a_checkpoint_export_into_a_folder_is_named_after_the_one_it_copied(
        run, tmp_path, monkeypatch, capsys):
    """Into an existing folder the copy takes the latest checkpoint's name; pruned
    midway, the newer one copied instead went under the old name (iter_3 holding 4)."""
    import json

    plain = _next_checkpoint

    def renumbered(run_path: Path) -> None:  # the next checkpoint says its own iteration
        plain(run_path)
        state = RunDir(run_path).latest_checkpoint() / "state.json"
        raw = json.loads(state.read_text())
        state.write_text(json.dumps({**raw, "iteration": raw["iteration"] + 1}))

    monkeypatch.setattr(sys.modules[__name__], "_next_checkpoint", renumbered)
    seen = _pruned_midway(monkeypatch, shutil, "copyfile")
    into = tmp_path / "into"
    into.mkdir()
    assert main(["export", "--run", str(run), "--what", "checkpoint", "--out", str(into)]) == 0
    assert seen and seen[0].name == "iter_0000003"
    assert [p.name for p in into.iterdir()] == ["iter_0000004"]
    assert capsys.readouterr().out.strip().endswith("into/iter_0000004")


def test_a_fork_and_a_checkpoint_export_copy_the_same_whole_folder(run, tmp_path):
    """One copy for both (runs.checkpoint.copy_checkpoint_folder): a fork copied only the
    checkpoint's top-level files, so a network kept in a subfolder was lost to a fork
    but not to an export."""
    latest = RunDir(run).latest_checkpoint()
    (latest / "aux").mkdir()
    (latest / "aux" / "extra.safetensors").write_bytes(b"aux net")
    forked = fork_run(run, tmp_path / "fork").latest_checkpoint()
    exported = copy_checkpoint(latest, tmp_path / "ck", run=run)
    for copy in (forked, exported):
        assert sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*")) == sorted(
            [*FILES, "aux", "aux/extra.safetensors"])
        assert (copy / "aux" / "extra.safetensors").read_bytes() == b"aux net"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_what_a_killed_checkpoint_copy_leaves_in_a_run_is_tidied(run, monkeypatch):
    """A copy killed before its rename leaves its hidden folder (its name: what
    save_checkpoint's are), which taking the run's lock tidies as theirs."""
    from ebm_engine.runs import checkpoint, run_lock

    checkpoints = RunDir(run).checkpoints
    monkeypatch.setattr(checkpoint.os, "replace", lambda *a: os_exit())
    monkeypatch.setattr(checkpoint.shutil, "rmtree", lambda *a, **k: None)  # killed: no cleanup
    with pytest.raises(SystemExit):
        checkpoint.copy_checkpoint_folder(checkpoints / "iter_0000002", checkpoints / "iter_0000009")
    monkeypatch.undo()
    left = [p.name for p in checkpoints.iterdir() if p.name.startswith(".")]
    assert len(left) == 1 and left[0].startswith(".iter_0000009.") and left[0].endswith(".tmp")
    assert run_lock.tidy_checkpoints(checkpoints) == left
    assert not [p for p in checkpoints.iterdir() if p.name.startswith(".")]


def os_exit():
    raise SystemExit(9)
