"""Disk errors: checkpoints and exports into missing or unwritable folders give a clear,
typed error; during training a failed write is a warning and the run continues.

Tests run as root, where ``chmod`` does not stop writes: an unwritable folder is
simulated by a path under a regular *file* (``NotADirectoryError``), by replacing a
folder with a file, or by making the write itself fail (``PermissionError``/``ENOSPC``).
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import numpy as np
import pytest

from ebm_engine.cli import main
from ebm_engine.config import RunConfig
from ebm_engine.errors import CheckpointError, ConfigError, ExportError
from ebm_engine.export.samples import export_samples
from ebm_engine.learning.events import Checkpointed, Finished, TrainStep, Warned
from ebm_engine.learning.trainer import Trainer
from ebm_engine.runs.checkpoint import load_checkpoint
from ebm_engine.runs.rundir import RunDir

TINY = {"model": {"width": 16, "depth": 2}, "sampler": {"n_steps": 2},
        "train": {"batch_size": 16, "iterations": 6, "checkpoint_every": 2, "sample_every": 2}}


def tiny(**train) -> RunConfig:
    raw = {**TINY, "train": {**TINY["train"], **train}}
    return RunConfig.from_dict(raw)


def blocker(tmp_path: Path) -> Path:
    f = tmp_path / "a-file"
    f.write_text("I am a file, not a folder")
    return f


def test_checkpoint_folder_gone_warns_and_training_continues(tmp_path: Path) -> None:
    run = tmp_path / "run"
    trainer = Trainer(tiny(), run)
    ckpts = RunDir(run).checkpoints
    shutil.rmtree(ckpts)
    ckpts.write_text("the checkpoints folder became a file")  # every write under it fails
    seen = []
    for event in trainer.events():
        seen.append(event)
        if isinstance(event, Warned) and event.iteration == 4:
            ckpts.unlink()  # the disk comes back: the next checkpoint must succeed
            ckpts.mkdir()
    warned = [e for e in seen if isinstance(e, Warned)]
    steps = [e.iteration for e in seen if isinstance(e, TrainStep)]
    done = [e for e in seen if isinstance(e, Checkpointed)]
    assert steps == [1, 2, 3, 4, 5, 6]  # the run continued
    assert [w.iteration for w in warned] == [2, 4]
    assert all("cannot write checkpoint" in w.message and "training continues" in w.message
               and "\n" not in w.message for w in warned)
    assert [c.iteration for c in done] == [6]
    assert isinstance(seen[-1], Finished) and seen[-1].reason == "completed"
    assert load_checkpoint(RunDir(run).latest_checkpoint()).iteration == 6


def test_samples_and_metrics_write_failures_warn_once(tmp_path: Path, monkeypatch) -> None:
    run = tmp_path / "run"
    trainer = Trainer(tiny(), run)
    rd = RunDir(run)
    shutil.rmtree(rd.samples)
    rd.samples.write_text("not a folder")

    def full_disk(self, row):
        raise OSError(errno.ENOSPC, "No space left on device", str(self.metrics_path))

    monkeypatch.setattr(RunDir, "append_metrics", full_disk)
    seen = list(trainer.events())
    warned = [e.message for e in seen if isinstance(e, Warned)]
    assert len([m for m in warned if m.startswith("cannot write metrics")]) == 1
    assert len([m for m in warned if m.startswith("cannot write samples")]) == 1
    assert any("No space left on device" in m for m in warned)
    assert [e.iteration for e in seen if isinstance(e, TrainStep)] == [1, 2, 3, 4, 5, 6]
    assert isinstance(seen[-1], Finished) and seen[-1].reason == "completed"


def test_save_checkpoint_into_unwritable_folder_is_a_checkpoint_error(tmp_path: Path) -> None:
    trainer = Trainer(tiny(iterations=1), None)
    list(trainer.events())
    with pytest.raises(CheckpointError, match="cannot write checkpoint"):
        trainer.save_checkpoint(blocker(tmp_path) / "ckpt")


def test_save_checkpoint_when_the_write_is_denied(tmp_path: Path, monkeypatch) -> None:
    import ebm_engine.runs.checkpoint as ckpt_mod

    trainer = Trainer(tiny(iterations=1), None)

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(ckpt_mod.atomic, "temp_dir", denied)  # a read-only folder
    with pytest.raises(CheckpointError, match="Permission denied"):
        trainer.save_checkpoint(tmp_path / "ckpt")
    assert not (tmp_path / "ckpt").exists()


def test_run_folder_under_a_file_is_refused(tmp_path: Path, capsys) -> None:
    with pytest.raises(ConfigError, match="cannot create run folder"):
        Trainer(tiny(), blocker(tmp_path) / "run")
    code = main(["train", "--data", "8gaussians", "--out", str(tmp_path / "a-file" / "run"),
                 "--steps", "1", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "cannot create run folder" in err


@pytest.mark.parametrize("name", ["grid.png", "chain.gif", "samples.npz"])
def test_export_into_missing_or_blocked_folder(tmp_path: Path, name: str) -> None:
    x = np.random.default_rng(0).normal(size=(8, 2)).astype(np.float32)
    frames = [x, x]
    for target in (tmp_path / "missing" / name, blocker(tmp_path) / name):
        with pytest.raises(ExportError, match="does not exist"):
            export_samples(x, "points", None, target, frames=frames)
        assert not target.exists()


def test_cli_sample_into_unwritable_folder(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    list(Trainer(tiny(iterations=1), run).events())
    code = main(["sample", "--run", str(run), "--n", "4",
                 "--out", str(blocker(tmp_path) / "out.png")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("ebm: error: ")


def test_cli_sample_says_a_read_only_folder_before_sampling(tmp_path: Path, capsys,
                                                            monkeypatch) -> None:
    """The README promises it; a read-only folder was found only after the sampling
    (minutes for a long draw). Root ignores modes here: the file system is faked."""
    from ebm_engine import atomic
    from ebm_engine.learning import loading

    run = tmp_path / "run"
    list(Trainer(tiny(iterations=1), run).events())
    sampled = []
    real = loading.load_model

    def load_and_watch(*args, **kwargs):
        loaded = real(*args, **kwargs)
        sample = loaded.method.sample
        loaded.method.sample = lambda *a, **k: sampled.append(1) or sample(*a, **k)
        return loaded

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(loading, "load_model", load_and_watch)
    monkeypatch.setattr(atomic, "temp_file", read_only)
    code = main(["sample", "--run", str(run), "--n", "4", "--out", str(tmp_path / "out.png")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == f"ebm: error: cannot write in {tmp_path}: Read-only file system"
    assert not sampled


def test_sigterm_while_writing_leaves_no_temporary_file(tmp_path: Path, capsys,
                                                        monkeypatch) -> None:
    """A scheduler's SIGTERM during an encode left `.chain.gif.<hex>.tmp.gif` behind."""
    import os
    import signal

    from ebm_engine.export import video

    run = tmp_path / "run"
    list(Trainer(tiny(iterations=1), run).events())
    out = tmp_path / "out"
    out.mkdir()

    def killed(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # delivered here, in the main thread
        raise AssertionError("SIGTERM was not delivered")

    monkeypatch.setattr(video, "_write_gif", killed)
    code = main(["sample", "--run", str(run), "--n", "4", "--out", str(out / "chain.gif")])
    assert code == 143 and capsys.readouterr().err.strip().endswith("ebm: terminated")
    assert list(out.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # put back after the command


def _full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_in_safetensors_is_a_warning_and_training_goes_on(tmp_path, monkeypatch):
    # safetensors reports ENOSPC as its own SafetensorError (not an OSError): the run died
    # with a traceback instead of warning as for every other failed write.
    from safetensors import SafetensorError

    import ebm_engine.runs.checkpoint as ckpt_mod

    def full(*args, **kwargs):
        raise SafetensorError("Error while serializing: I/O error: No space left on device")

    trainer = Trainer(tiny(iterations=4, checkpoint_every=1), tmp_path / "run")
    monkeypatch.setattr(ckpt_mod, "save_file", full)
    events = list(trainer.events())
    warned = [e for e in events if isinstance(e, Warned)]
    assert warned and "No space left on device" in warned[0].message
    assert isinstance(events[-1], Finished) and events[-1].iteration == 4


def test_eval_score_resume_and_export_on_a_full_or_read_only_disk(tmp_path, monkeypatch, capsys):
    # The result stands and the error is one line; nothing half-written is left behind.
    import ebm_engine.atomic as atomic

    run = tmp_path / "run"
    list(Trainer(tiny(iterations=2), run).events())
    before = sorted(p.name for p in run.rglob("*"))
    monkeypatch.setattr(atomic, "write_text", _full_disk)
    monkeypatch.setattr("ebm_engine.metrics.evaluate.atomic.write_text", _full_disk)
    assert main(["eval", "--run", str(run), "--n", "64"]) == 0
    out, err = capsys.readouterr()
    assert "kl_samples" in out and "cannot write" in err and "--no-write" in err
    assert "Traceback" not in err
    code = main(["train", "--resume", str(run), "--steps", "1", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "--out NEW" in err
    code = main(["score", "--run", str(run), "--data", "8gaussians", "--out",
                 str(tmp_path / "s.csv")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.splitlines()[-1].startswith("ebm: error: cannot write")
    monkeypatch.setattr(shutil, "copyfile", copy_until_full())
    code = main(["export", "--run", str(run), "--what", "checkpoint",
                 "--out", str(tmp_path / "ck")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "No space left on device" in err and "None" not in err
    assert ".partial" not in err  # the reason, not the temporary folder's path
    assert not (tmp_path / "ck").exists() and not list(tmp_path.glob(".ck*"))
    assert sorted(p.name for p in run.rglob("*")) == before


def copy_until_full(files: int = 1):
    """A ``shutil.copyfile`` that copies ``files`` files, then half of the next one and
    fails as a full disk does."""
    real, done = shutil.copyfile, []

    def copy(src, dst, **kwargs):
        if len(done) >= files:
            Path(dst).write_bytes(Path(src).read_bytes()[:100])
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        done.append(src)
        return real(src, dst, **kwargs)

    return copy


def test_a_failed_or_interrupted_checkpoint_copy_leaves_nothing_in_the_way(tmp_path, monkeypatch):
    """A full disk or Ctrl-C midway: no half-copied folder, one line, and the same name
    works the next time (a fixed temporary name was "File exists" on the retry)."""
    from ebm_engine.export.checkpoint import copy_checkpoint

    run = tmp_path / "run"
    list(Trainer(tiny(iterations=2), run).events())
    src = RunDir(run).latest_checkpoint()
    out = tmp_path / "out" / "ck"
    out.parent.mkdir()
    with monkeypatch.context() as m:
        m.setattr(shutil, "copyfile", copy_until_full())
        with pytest.raises(ExportError) as err:
            copy_checkpoint(src, out)
    assert str(err.value) == f"cannot copy checkpoint to {out}: No space left on device"
    assert list(out.parent.iterdir()) == []

    def interrupted(src, dst, **kwargs):
        Path(dst).write_bytes(b"half")
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(shutil, "copyfile", interrupted)
        with pytest.raises(KeyboardInterrupt):
            copy_checkpoint(src, out)
    assert list(out.parent.iterdir()) == []
    assert copy_checkpoint(src, out) == out  # the retry, same name
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in src.iterdir())
    assert load_checkpoint(out).iteration == load_checkpoint(src).iteration
    assert list(out.parent.iterdir()) == [out]
    with pytest.raises(ExportError, match="already exists"):
        copy_checkpoint(src, out)
    with pytest.raises(ExportError, match="folder .*nope does not exist"):
        copy_checkpoint(src, tmp_path / "nope" / "ck")


def test_a_final_checkpoint_that_cannot_be_written_is_no_success(tmp_path, monkeypatch, capsys):
    """A full disk at the end: the run's end says which iterations were lost (not
    "completed" and exit 0 with the latest checkpoint 30 iterations behind)."""
    import json

    import ebm_engine.runs.checkpoint as ckpt_mod

    run = tmp_path / "run"
    assert main(["train", "--data", "8gaussians", "--steps", "4", "--out", str(run), "--quiet",
                 "--set", "train.checkpoint_every=2", "--set", "sampler.n_steps=2"]) == 0
    capsys.readouterr()
    monkeypatch.setattr(ckpt_mod, "save_file", _full_disk)
    assert main(["train", "--resume", str(run), "--steps", "3", "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("ebm: error: training ended at iteration 7 in ") and err.endswith(
        "but the last saved checkpoint is iteration 4; iterations 5–7 were not saved: cannot "
        f"write checkpoint {RunDir(run).checkpoint_path(7)}: No space left on device")
    assert RunDir(run).latest_checkpoint().name == "iter_0000004"
    finished = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()
                if '"finished"' in line][-1]
    assert finished["iteration"] == 7 and "iterations 5–7 were not saved" in finished["unsaved"]
    # the engine's own event, as the app and followers get it
    events = list(Trainer.resume(run).events(6))
    assert isinstance(events[-1], Finished) and events[-1].unsaved.startswith(
        "the last saved checkpoint is iteration 4; iterations 5–6 were not saved: ")
    assert any(isinstance(e, Warned) and e.message == events[-1].unsaved for e in events)


def test_paths_the_file_system_refuses_are_one_line_and_a_failed_start_leaves_nothing(
        tmp_path, monkeypatch, capsys):
    """A name too long, a symlink loop, a full disk before a new run saved anything,
    a cut-short samples/latest.npz: one line each and exit 2, not a traceback; the
    failed run's folder is gone, so the same --out works next time."""
    run = tmp_path / "run"
    assert main(["train", "--data", "8gaussians", "--steps", "2", "--out", str(run), "--quiet",
                 "--set", "sampler.n_steps=2"]) == 0
    capsys.readouterr()
    long = tmp_path / ("x" * 300)
    for argv in (["train", "--data", "8gaussians", "--steps", "1", "--quiet", "--out", str(long)],
                 ["export", "--run", str(run), "--what", "metrics", "--out", f"{long}.csv"],
                 ["eval", "--run", str(long)]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("ebm: error: File name too long: ") and "\n" not in err, argv
    loop = tmp_path / "self.csv"
    loop.symlink_to(loop.name)
    # a link to itself is no file of anyone's: replaced by the export, as a dangling link is
    assert main(["export", "--run", str(run), "--what", "metrics", "--out", str(loop)]) == 0
    assert not loop.is_symlink() and loop.read_text() == (run / "metrics.csv").read_text()
    assert capsys.readouterr().err == ""

    new = tmp_path / "new"

    def full(self, cfg):
        raise OSError(errno.ENOSPC, "No space left on device", str(self.config_path))

    with monkeypatch.context() as m:
        m.setattr(RunDir, "write_config", full)
        assert main(["train", "--data", "8gaussians", "--steps", "1", "--quiet",
                     "--out", str(new)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"ebm: error: cannot write {new / 'config.json'}: No space left on device"
    assert not new.exists()
    assert main(["train", "--data", "8gaussians", "--steps", "1", "--quiet",
                 "--set", "sampler.n_steps=2", "--out", str(new)]) == 0

    latest = run / "samples" / "latest.npz"
    latest.write_bytes(latest.read_bytes()[:200])
    capsys.readouterr()
    assert main(["export", "--run", str(run), "--out", str(tmp_path / "s.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"ebm: error: {latest}: the saved samples cannot be read (") \
        and "\n" not in err


def test_a_fork_blames_the_source_file_it_cannot_read_not_the_new_folder(tmp_path, monkeypatch):
    """Every OSError of a fork read "cannot make the run folder NEW", also a source
    checkpoint file that could not be read; and a lock file that is a link was said to
    be "being written by another process"."""
    import shutil

    from ebm_engine.errors import CheckpointError, ConfigError
    from ebm_engine.runs import fork

    run = tmp_path / "run"
    assert main(["train", "--data", "8gaussians", "--steps", "2", "--out", str(run), "--quiet",
                 "--set", "sampler.n_steps=2"]) == 0
    real = shutil.copyfile

    def unreadable(src, dst, *args, **kwargs):
        if str(src).endswith("model.safetensors"):
            raise PermissionError(errno.EACCES, "Permission denied", str(src))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(fork.shutil, "copyfile", unreadable)
    with pytest.raises(CheckpointError, match=r"cannot read .*run/checkpoints/iter_0000002/"
                                              r"model.safetensors: Permission denied"):
        fork.fork_run(run, tmp_path / "new")
    assert not (tmp_path / "new").exists()  # nothing left behind
    monkeypatch.setattr(fork.shutil, "copyfile", real)
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / ".lock").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ConfigError, match="symbolic link"):
        fork.fork_run(run, tmp_path / "linked")


def test_a_grid_may_be_named_samples_png_in_its_own_run_folder(tmp_path, capsys):
    """Only a zoo entry keeps a samples.png (and the zoo is never written): the name was
    refused in every run folder once it joined the run's own files."""
    run = tmp_path / "run"
    assert main(["train", "--data", "8gaussians", "--steps", "2", "--out", str(run), "--quiet",
                 "--set", "sampler.n_steps=2"]) == 0
    assert main(["sample", "--run", str(run), "--n", "16", "--steps", "2",
                 "--out", str(run / "samples.png")]) == 0
    assert (run / "samples.png").stat().st_size > 0
    assert main(["export", "--run", str(run), "--what", "metrics",
                 "--out", str(run / "data.json")]) == 2  # what the run keeps: refused
    capsys.readouterr()
