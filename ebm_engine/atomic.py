"""Atomic file writes: write a temporary file in the same folder, then
``os.replace`` it over the target, so a reader never sees half a file and a
crash never destroys the previous version.

File modes
----------
Files and folders made here end with the mode a plain ``open(path, "w")`` or
``os.mkdir(path)`` would give: ``0666 & ~umask`` and ``0777 & ~umask`` (plus
whatever default ACLs or a set-group-ID parent add). ``tempfile.mkstemp`` and
``mkdtemp`` would give ``0600`` / ``0700``, so a colleague on a shared file
system could not follow a run.

We get this by creating the temporary names ourselves with ``O_CREAT |
O_EXCL`` and mode ``0666`` (``os.mkdir`` with ``0777`` for folders) and
letting the kernel apply the umask, rather than reading the umask and
calling ``chmod``: reading it with ``os.umask(0); os.umask(old)`` changes a
process-wide setting and races with every other thread that creates files,
and a ``chmod`` after the fact would drop a set-group-ID bit and ignore
default ACLs. A writer that swaps in a file of its own (safetensors'
``save_file`` leaves ``0600``) gets the kernel-given mode back through
:func:`match_mode`. :func:`current_umask` exists for callers (and tests)
that need the number itself; it never changes the umask.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

# A name collision needs the same 64 random bits twice; after this many
# tries something else is wrong (e.g. a read-only folder reported as EEXIST).
_NAME_TRIES = 100
TEMP_NAME_CHARS = 32  # of the target's name, in the temporary file's


def _umask_from_proc() -> int | None:
    """The umask from ``/proc/self/status`` (Linux ≥ 4.7), or ``None``."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _umask_at_import() -> int:
    value = _umask_from_proc()
    if value is None:
        # No procfs (macOS, Windows): the set-and-restore dance, once, while
        # importing this module, which is as early (and as single-threaded)
        # as we can get.
        value = os.umask(0o022)
        os.umask(value)
    return value


_IMPORT_UMASK = _umask_at_import()


def current_umask() -> int:
    """The process umask, read without changing it.

    Returns
    -------
    int
        The umask now on Linux (``/proc/self/status``); elsewhere the umask
        this module saw when it was imported.
    """
    value = _umask_from_proc()
    return _IMPORT_UMASK if value is None else value


def _random_name(folder: Path, prefix: str, suffix: str) -> Path:
    return folder / f"{prefix}{secrets.token_hex(8)}{suffix}"


def temp_file(folder: str | Path, prefix: str = ".tmp.", suffix: str = ".tmp") -> Path:
    """Create an empty, uniquely named file in ``folder`` and return its path.

    Like :func:`tempfile.mkstemp` (exclusive creation, so never a file or
    symlink someone else made) but with the mode a normal ``open(path, "w")``
    gives under the current umask instead of ``0600``.

    Parameters
    ----------
    folder : path
        Existing folder to create the file in.
    prefix, suffix : str
        Around a random part of the name.

    Returns
    -------
    Path
        The new, empty file (the caller removes or renames it).
    """
    folder = Path(folder)
    for _ in range(_NAME_TRIES):
        path = _random_name(folder, prefix, suffix)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                         0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return path
    raise FileExistsError(f"no free temporary name in {folder}")


def temp_dir(parent: str | Path, prefix: str = ".tmp.", suffix: str = ".tmp") -> Path:
    """Create an empty, uniquely named folder in ``parent`` and return its path.

    Like :func:`tempfile.mkdtemp` but with the mode a normal ``os.mkdir``
    gives under the current umask (``0777 & ~umask``) instead of ``0700``.

    Parameters
    ----------
    parent : path
        Existing folder to create the folder in.
    prefix, suffix : str
        Around a random part of the name.

    Returns
    -------
    Path
        The new, empty folder (the caller removes or renames it).
    """
    parent = Path(parent)
    for _ in range(_NAME_TRIES):
        path = _random_name(parent, prefix, suffix)
        try:
            os.mkdir(path, 0o777)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"no free temporary name in {parent}")


def match_mode(path: str | Path, mode: int) -> None:
    """Give ``path`` the permission bits ``mode`` unless it has them already.

    A file system that refuses ``chmod`` (some network mounts) keeps its own
    idea of modes: that is no reason to fail a write, so errors are ignored.
    """
    try:
        if stat.S_IMODE(os.stat(path).st_mode) != mode:
            os.chmod(path, mode)
    except OSError:
        pass


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success move it over ``path``.

    The file exists (empty) when yielded. It ends with the mode of the file
    it replaces (a private 0600 file stays private), else the mode a normal
    ``open(path, "w")`` would give. A symbolic link at ``path`` is replaced,
    not followed: a link planted in a shared run folder cannot redirect the
    run's writes (a command resolves a link the user named itself).
    ``suffix`` defaults to the target's (writers that pick a format by
    extension need it). On error the temporary file is removed and the old
    ``path`` is left untouched.
    """
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"folder {folder} does not exist")
    tmp_path = temp_file(
        # a short prefix: the whole name plus ours passed the 255-byte limit of a name
        folder, prefix=f".{path.name[:TEMP_NAME_CHARS]}.",
        suffix=".tmp" + (suffix if suffix is not None else path.suffix),
    )
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode) if path.is_file() else None
    except OSError:
        mode = None
    if mode is None:
        mode = stat.S_IMODE(os.stat(tmp_path).st_mode)
    try:
        yield tmp_path
        # Some writers replace the file with their own temp file (safetensors'
        # save_file leaves 0600): give it the mode decided above.
        fd = os.open(tmp_path, os.O_RDONLY)  # read-only: a 0444 mode set below still opens
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        match_mode(tmp_path, mode)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes(path: str | Path, data: bytes) -> None:
    """Atomically write ``data`` to ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    """Atomically write UTF-8 ``text`` to ``path``."""
    write_bytes(path, text.encode("utf-8"))


def write_with(path: str | Path, writer: Callable[[Path], None]) -> None:
    """Atomically create ``path`` with ``writer(tmp_path)``."""
    with atomic_path(path) as tmp:
        writer(tmp)
