"""One writer per run folder: a lock that a second training of the same run meets.

Two ``ebm train --resume RUN`` at once (a cluster job submitted twice, the app
resuming a run a CLI job still trains) both trained and interleaved their rows,
checkpoints and events in one folder. A training now holds ``RUN/.lock`` with
an exclusive ``flock`` for as long as it writes; another process is refused in
one line that names the holder. The operating system drops the lock when the
holder dies (even by ``kill -9``), so a crashed run never leaves a stale lock,
and whoever takes it next knows that the half-written checkpoint folders it
finds (:func:`tidy_checkpoints`) belong to nobody.

Within one process the lock is shared: a rollback builds a new trainer on the
same folder while the old one is still referenced. Each holder has its own
:class:`RunLock`; the file is unlocked when the last is released. On systems
without ``fcntl`` (Windows) nothing is locked, and nothing is tidied.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import stat
import threading
import time
from pathlib import Path

from ebm_engine.errors import ConfigError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks here
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".lock"
# what flock says when another process holds the lock; any other error means no locking
HELD_ERRNOS = frozenset({errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES})

_held: dict[Path, tuple[int, int]] = {}  # folder → (file descriptor, holders)
_unlocked: dict[Path, str] = {}  # folder → why its file system would not lock it
_guard = threading.Lock()


class RunLock:
    """This process's hold on one run folder; :meth:`release` once (idempotent).

    Attributes
    ----------
    folder : Path
        The run folder (resolved).
    held : bool
        The folder is flocked (false on systems without ``fcntl``, or where the lock
        file can be neither created nor opened).
    fresh : bool
        This hold took the lock; false for one that shares the process's earlier hold.
    """

    def __init__(self, folder: Path, held: bool, fresh: bool, note: str = ""):
        self.folder, self.held, self.fresh = folder, held, fresh
        self.note = note  # why the folder is not locked where it should be ("" if it is)
        self._released = False

    def release(self) -> None:
        with _guard:
            if self._released:
                return
            self._released = True
            fd, holders = _held.get(self.folder, (-1, 0))
            if holders > 1:
                _held[self.folder] = (fd, holders - 1)
                return
            _held.pop(self.folder, None)
            _unlocked.pop(self.folder, None)
            if fd >= 0:  # under the guard: a new acquire must not meet this fd's lock
                os.close(fd)  # closing the file drops its flock


def acquire(folder: str | Path) -> RunLock:
    """Hold ``folder`` for writing, or raise if another process trains it.

    Parameters
    ----------
    folder : str or Path
        A run folder (it must exist).

    Returns
    -------
    RunLock
        Release it when the training ends (the process's exit releases it too).

    Raises
    ------
    ConfigError
        Another process holds the folder: one line naming it and what to do.
    """
    folder = Path(folder).resolve()
    with _guard:
        if folder in _held:
            fd, holders = _held[folder]
            _held[folder] = (fd, holders + 1)
            return RunLock(folder, fd >= 0, False, _unlocked.get(folder, ""))
        fd = _open(folder / LOCK_NAME)
        if fd < 0:
            _held[folder] = (-1, 1)
            return RunLock(folder, False, True)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in HELD_ERRNOS:  # no locks on this file system (NFS without
                os.close(fd)  # lockd, Lustre without -o flock): nobody holds it
                _held[folder] = (-1, 1)
                _unlocked[folder] = (f"{folder} cannot be locked here ({exc.strerror or exc}): "
                                     "a second training of this run at the same time would "
                                     "not be refused")
                return RunLock(folder, False, True, _unlocked[folder])
            holder = _holder(fd)
            os.close(fd)
            raise ConfigError(
                f"{folder} is being trained by another process{holder}; wait for it or stop "
                f"it, or continue a copy of it with --resume {folder} --out NEW") from None
        try:
            os.ftruncate(fd, 0)
            stamp = f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%H:%M:%S')}"
            os.write(fd, stamp.encode())
        except OSError:
            pass  # opened read-only (a colleague's lock file): the lock holds without the note
        _held[folder] = (fd, 1)
        return RunLock(folder, True, True)


def held_by(folder: str | Path) -> str | None:
    """Who else holds ``folder``'s lock: ``None`` where no other process does
    (or nothing can be locked here), else what its lock file says
    (``pid 123 on host since 10:00:00``; ``""`` where it says nothing).

    Parameters
    ----------
    folder : str or Path
        A run folder (one without a lock file is held by nobody).

    Returns
    -------
    str or None
    """
    folder = Path(folder).resolve()
    with _guard:
        if folder in _held or fcntl is None:  # this process's own hold is not another's
            return None
    try:
        fd = os.open(folder / LOCK_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # not a lock file: acquire says so
        os.close(fd)
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        return _holder(fd).strip(" ()") if exc.errno in HELD_ERRNOS else None
    else:
        return None
    finally:
        os.close(fd)  # drops the shared lock taken to look


def busy(folder: str | Path, holder: str) -> str:
    """The line refusing a new run in ``folder``, which another process is writing
    (``holder``: what :func:`held_by` said)."""
    return (f"{Path(folder).resolve()} is being written by another process"
            f"{f' ({holder})' if holder else ''}; choose another --out")


def starting(folder: str | Path, holder: str) -> str:
    """The line refusing to resume or copy ``folder``, which another process holds
    (``holder``: what :func:`held_by` said) but which holds no run yet: a training
    (or fork) still starting, whose ``config.json`` comes next."""
    return (f"{Path(folder).resolve()} is being written by another process"
            f"{f' ({holder})' if holder else ''}: a run still starting, with nothing to "
            "resume yet; wait for its first checkpoint, or stop it")


def _open(path: Path) -> int:
    """A descriptor of the lock file, or -1 (no ``fcntl``, or it cannot be opened).

    Created readable and writable by all that the umask allows (as the run's other
    files), so a colleague's job in a shared folder meets the same lock; flock needs
    no write access, so an existing file of someone else's is opened read-only."""
    if fcntl is None:
        return -1
    # not through a link: acquire truncates the file, and a link planted in a shared run
    # folder (RUN/.lock -> ~/thesis.tex) emptied what it pointed to; no blocking on a FIFO
    safe = os.O_NOFOLLOW | os.O_NONBLOCK
    for flags in (os.O_RDWR | os.O_CREAT, os.O_RDONLY):
        try:
            fd = os.open(path, flags | safe, 0o666)
        except OSError as exc:
            if exc.errno == errno.ELOOP or path.is_symlink():
                raise ConfigError(f"{path} is a symbolic link, not the run's lock file; remove "
                                  "it (the run makes its own)") from None
            continue
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise ConfigError(f"{path} is not a plain file, so it cannot be the run's lock "
                              "file; remove it (the run makes its own)")
        return fd
    return -1  # a read-only folder without a lock file: its writes say what is wrong


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""
    return f" ({text})" if text else ""


def tidy_checkpoints(checkpoints: str | Path) -> list[str]:
    """Deal with what a killed writer left in ``checkpoints``.

    Call it only with a fresh, held :class:`RunLock` of the run: nobody else writes
    there then. A checkpoint being written or copied (``.iter_N.….tmp``: the hidden
    folders of :func:`~ebm_engine.runs.checkpoint.save_checkpoint` and
    :func:`~ebm_engine.runs.checkpoint.copy_checkpoint_folder`) is incomplete or
    superseded and is removed. One being replaced (``.iter_N.old-PID``) is the
    previous complete copy: it is put back when the new one never arrived, else
    removed.

    Parameters
    ----------
    checkpoints : str or Path
        A run's ``checkpoints`` folder.

    Returns
    -------
    list of str
        The names dealt with.
    """
    folder = Path(checkpoints)
    done: list[str] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return done
    for entry in entries:
        name = entry.name
        if not (name.startswith(".iter_") and entry.is_dir() and not entry.is_symlink()):
            continue
        if name.endswith(".tmp"):
            shutil.rmtree(entry, ignore_errors=True)
            done.append(name)
        elif ".old-" in name:
            target = folder / name[1:name.index(".old-")]
            if target.exists():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                os.replace(entry, target)
            done.append(name)
    return done
