"""Continue a run in a new folder: copy its config and latest checkpoint, leave it untouched.

``ebm train --resume SRC --out NEW`` (and the app's Train after "Load
pretrained") forks ``SRC`` into ``NEW`` and resumes ``NEW``: the weights,
chains, iteration count and optimiser state carry over (zoo entries ship
without optimiser state: those resume with fresh optimisers, the rate
schedules going on from the checkpoint's iteration, and the ``resumed`` event
says so); ``SRC`` is only read, which is what keeps the
pretrained zoo (:mod:`.zoo`) read-only. ``SRC`` may also be one checkpoint
folder (``RUN/checkpoints/iter_0000400``, or a copy of one): ``NEW`` then goes
on from that checkpoint, with the settings it was written with.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

from ebm_engine import atomic
from ebm_engine.errors import CheckpointError, ConfigError
from ebm_engine.runs import zoo
from ebm_engine.runs.checkpoint import load_checkpoint
from ebm_engine.runs.rundir import RunDir, run_folder_of


def is_checkpoint_folder(path: str | Path) -> bool:
    """Whether ``path`` is a checkpoint folder (it holds ``state.json``), not a run folder.

    Parameters
    ----------
    path : path
        Any folder (or a path that does not exist: False).

    Returns
    -------
    bool
    """
    return (Path(path) / "state.json").is_file()


def fork_run(src: str | Path, dest: str | Path) -> RunDir:
    """Make ``dest`` a new run folder holding ``src``'s config and latest checkpoint
    (or, when ``src`` is a checkpoint folder, that checkpoint and its config).

    Parameters
    ----------
    src : path
        A run folder (a zoo entry's included), or a checkpoint folder.
    dest : path
        The new run folder; must not hold a run yet.

    Returns
    -------
    RunDir
        ``dest``, ready for :meth:`ebm_engine.session.Session.resume`.
    """
    target = RunDir(dest)
    zoo.check_outside(target.path)  # before reading the source: no fork into the zoo
    if is_checkpoint_folder(src):
        loaded = load_checkpoint(src)
        owner = run_folder_of(src)
        source = RunDir(owner) if owner is not None else None
        from ebm_engine.learning.saved_config import saved_config

        cfg = saved_config(loaded.state["config"])
    else:
        source = RunDir(src)
        if not source.exists():
            raise CheckpointError(f"{source.path}: not a run folder (no config.json)")
        if source.latest_checkpoint() is None:
            raise CheckpointError(f"{source.path}: run has no checkpoint to continue from")
        loaded, note = source.load_latest()  # a damaged latest one is passed over, and said
        if note:
            warnings.warn(note, stacklevel=2)
        cfg = source.read_config()
    checkpoint = loaded.path
    if target.exists():
        raise ConfigError(f"{target.path} already holds a run; choose another --out")
    if source is not None and target.path.resolve() == source.path.resolve():
        raise ConfigError("--out must be a new folder, not the run itself")
    target.create(cfg)
    # Copied under a hidden name, then renamed: a half-copied checkpoint is never "latest".
    tmp = atomic.temp_dir(target.checkpoints, prefix=f".{checkpoint.name}.", suffix=".tmp")
    try:
        for item in checkpoint.iterdir():
            if item.is_file():
                shutil.copyfile(item, tmp / item.name)
        os.replace(tmp, target.checkpoints / checkpoint.name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    target.mark_latest(target.checkpoints / checkpoint.name)
    if source is None:
        target.append_event("forked", source=str(Path(src)), checkpoint=checkpoint.name)
        return target
    if source.metrics_path.is_file():  # the curves so far (to the checkpoint, on resume)
        atomic.write_text(target.metrics_path, source.metrics_path.read_text(encoding="utf-8"))
    from ebm_engine.runs.data_record import DATA_FILE

    if (source.path / DATA_FILE).is_file():  # what it was trained on, to compare on resume
        atomic.write_text(target.path / DATA_FILE,
                          (source.path / DATA_FILE).read_text(encoding="utf-8"))
    target.append_event("forked", source=str(source.path), checkpoint=checkpoint.name)
    return target
