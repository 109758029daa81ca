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

import contextlib
import shutil
import warnings
from pathlib import Path

from ebm_engine import atomic
from ebm_engine.errors import CheckpointError, ConfigError
from ebm_engine.runs import run_lock, zoo
from ebm_engine.runs.checkpoint import Checkpoint, copy_checkpoint_folder, load_checkpoint
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

    ``dest`` is locked (:mod:`.run_lock`) while it is made: a second fork into it at
    the same time is refused in one line. Its ``config.json`` is written last, so it
    holds a run only once its checkpoint is complete; a fork that fails removes what
    it made, and the same ``--out`` can be tried again. A checkpoint that the source's
    training prunes while it is copied is never copied in part: the source's new
    latest one is copied instead.

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

    Raises
    ------
    ConfigError
        ``dest`` holds a run or other files, is in the zoo, is being made by another
        process, or cannot be written (the reason, in one line).
    CheckpointError
        ``src`` has no checkpoint that can be read and copied.
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
        cfg = source.read_config()
        loaded = None  # chosen while copying: the training may prune its latest meanwhile
    if target.exists():
        raise ConfigError(f"{target.path} already holds a run; choose another --out")
    if source is not None and target.path.resolve() == source.path.resolve():
        raise ConfigError("--out must be a new folder, not the run itself")
    target.check_new()
    try:
        target.path.mkdir(parents=True)
        made = True
    except FileExistsError:
        made = False  # an empty folder (check_new), or another fork's that has just begun
    except OSError as exc:
        raise ConfigError(f"cannot create run folder {target.path}: {exc.strerror}") from None
    lock_file = target.path / run_lock.LOCK_NAME
    had_lock_file = lock_file.exists()
    try:
        lock = run_lock.acquire(target.path)
    except ConfigError:  # another fork (or training) into the same --out: its folder, untouched
        holder = run_lock.held_by(target.path)
        if holder is None:  # not held: the lock itself is wrong (a link, no plain file)
            raise
        raise ConfigError(run_lock.busy(target.path, holder)) from None
    created: list[Path] = [] if had_lock_file else [lock_file]
    try:
        if target.exists():  # another fork finished it while this one waited
            raise ConfigError(f"{target.path} already holds a run; choose another --out")
        checkpoint, note = _fill(target, source, src, loaded, cfg, created)
    except BaseException as exc:
        _remove(target.path if made else None, created)
        lock.release()
        if isinstance(exc, OSError):  # a full disk, a read-only folder; or the source's
            where = Path(exc.filename) if exc.filename else None  # file that cannot be read
            if where is not None and not where.is_relative_to(target.path):
                raise CheckpointError(f"cannot read {where}: {exc.strerror or exc}") from None
            raise ConfigError(f"cannot make the run folder {target.path}: "
                              f"{exc.strerror or exc}") from None
        raise
    lock.release()
    if note:
        warnings.warn(note, stacklevel=2)
    return target


def _fill(target: RunDir, source: RunDir | None, src: str | Path, loaded: Checkpoint | None,
          cfg, created: list[Path]) -> tuple[Path, str]:
    """Write ``target``'s files (config.json last), adding each to ``created``; the
    checkpoint copied, and a note where the source's latest one could not be read."""
    for folder in (target.checkpoints, target.samples):
        if not folder.is_dir():
            folder.mkdir()
            created.append(folder)
    note = ""
    if loaded is None:  # the source run's latest readable one, again if pruned meanwhile
        assert source is not None
        checkpoint, _, note = source.copy_latest(
            lambda folder: copy_checkpoint_folder(folder, target.checkpoints / folder.name))
    else:
        checkpoint = copy_checkpoint_folder(loaded.path,
                                            target.checkpoints / loaded.path.name)
    target.mark_latest(checkpoint)
    if source is not None:
        created.append(target.metrics_path)
        if source.metrics_path.is_file():  # the curves so far (to the checkpoint, on resume)
            atomic.write_text(target.metrics_path,
                              source.metrics_path.read_text(encoding="utf-8"))
        from ebm_engine.runs.data_record import DATA_FILE

        created.append(target.path / DATA_FILE)
        if (source.path / DATA_FILE).is_file():  # what it was trained on, to compare on resume
            atomic.write_text(target.path / DATA_FILE,
                              (source.path / DATA_FILE).read_text(encoding="utf-8"))
    created.append(target.config_path)
    target.write_config(cfg)  # last: the folder holds a run once all of it is there
    created.append(target.events_path)
    target.append_event("forked", source=str(source.path if source is not None else Path(src)),
                         checkpoint=checkpoint.name)
    return checkpoint, note


def _remove(folder: Path | None, created: list[Path]) -> None:
    """Undo a fork that failed: the folder it made (``folder``), else what it put in one."""
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
        return
    for path in reversed(created):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
