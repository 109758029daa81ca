"""Checkpoint retention: keep the newest few, sparse milestones and the latest.

A long run with ``train.checkpoint_every = 200`` writes hundreds of
checkpoint folders; :func:`prune_checkpoints` deletes the ones nobody needs.
Only *completed* checkpoint folders named ``iter_NNNNNNN`` (see
:meth:`ebm_engine.runs.rundir.RunDir.checkpoint_path`) are ever considered:
folders being written or copied (``.iter_….tmp``), folders being replaced
(``.iter_….old-PID``), checkpoints set aside
when a run went back to an older one (``iter_….abandoned``, see
:func:`set_aside`), symlinks and anything else a user put there are left
alone, and so is the folder the ``latest`` pointer names, which resuming and
rollback read.

Pruning is safe against a reader and against another pruner: a folder is
first renamed to a hidden name (one atomic step, so it never looks like a
half-deleted checkpoint), then removed; one that vanished meanwhile is
skipped, and what a killed pruner left behind is removed next time.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import stat
import sys
from collections.abc import Iterable
from pathlib import Path

# Exactly what RunDir.checkpoint_path writes (7 digits, more past 9,999,999).
_CHECKPOINT_NAME = re.compile(r"iter_(\d+)")
# What _remove renames a checkpoint to before deleting it.
_DELETING_NAME = re.compile(r"\.iter_\d+\.deleting-[0-9a-f]+")
# The file RunDir.mark_latest writes.
LATEST_POINTER = "latest"
# A completed checkpoint has this (written last, before the rename into place).
_COMPLETE_MARKER = "state.json"
#: What :func:`set_aside` appends to the name of a checkpoint a run went back past.
ABANDONED = ".abandoned"


def checkpoint_iteration(name: str) -> int | None:
    """The iteration of a checkpoint folder name (``iter_0000040`` → 40), else ``None``."""
    match = _CHECKPOINT_NAME.fullmatch(name)
    return int(match.group(1)) if match else None


def completed_checkpoints(checkpoints_dir: str | Path) -> list[tuple[int, Path]]:
    """Completed checkpoint folders, oldest first, as ``(iteration, path)``.

    Parameters
    ----------
    checkpoints_dir : path
        ``RUN/checkpoints``.

    Returns
    -------
    list of (int, Path)
        Real (not symlinked) folders named ``iter_N`` that hold ``state.json``,
        sorted by iteration (numerically, so ``iter_10000000`` comes after
        ``iter_9999999``). A missing folder gives an empty list.
    """
    folder = Path(checkpoints_dir)
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = []
    for entry in entries:
        iteration = checkpoint_iteration(entry.name)
        if iteration is None:
            continue
        try:
            if not entry.is_dir(follow_symlinks=False):
                continue
        except OSError:  # vanished between scandir and the check
            continue
        path = Path(entry.path)
        if (path / _COMPLETE_MARKER).is_file():
            found.append((iteration, path))
    found.sort()
    return found


def latest_pointer(checkpoints_dir: str | Path) -> Path | None:
    """The folder ``checkpoints_dir/latest`` names (whether or not it exists), else ``None``."""
    pointer = Path(checkpoints_dir) / LATEST_POINTER
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    # A pointer is a bare folder name; anything else (a path, "..") protects nothing.
    if not name or name in (".", "..") or "/" in name or os.sep in name:
        return None
    return Path(checkpoints_dir) / name


def aside_name(path: str | Path, suffix: str) -> Path:
    """``path`` with ``suffix`` appended, or ``suffix-2``, ``suffix-3`` … where that name
    is taken (by anything, a dangling link too): a name to set ``path`` aside under
    without replacing what an earlier time set aside.

    Parameters
    ----------
    path : path
        The file or folder set aside (``metrics.csv``, ``iter_0000600``).
    suffix : str
        What to append (``.abandoned``, ``.damaged``).

    Returns
    -------
    Path
        A name beside ``path`` that nothing holds yet.
    """
    path = Path(path)
    target, n = path.with_name(path.name + suffix), 1
    while os.path.lexists(target):
        n += 1
        target = path.with_name(f"{path.name}{suffix}-{n}")
    return target


def set_aside(checkpoints_dir: str | Path, after: int) -> list[tuple[Path, Path]]:
    """Rename the completed checkpoints newer than iteration ``after`` to
    ``iter_N.abandoned`` (``.abandoned-2`` … where that name is taken).

    A run that goes back to an older checkpoint in its own folder (the app's Go
    back) leaves the newer ones off its line. Under their ``iter_N`` names they
    were the "newest" to :func:`prune_checkpoints` (which then pruned the
    checkpoint gone back to and kept them), the fallback of a lost ``latest``
    pointer, and were overwritten without a word when the run reached their
    iteration again. Renamed, they are the user's to look at or delete: nothing
    here resumes, prunes or overwrites them. Call it holding the run's lock.

    Parameters
    ----------
    checkpoints_dir : path
        ``RUN/checkpoints``.
    after : int
        The iteration the run goes on from.

    Returns
    -------
    list of (Path, Path)
        ``(old, new)`` for each folder renamed, oldest first; one that vanished
        or could not be renamed is left out (it keeps its name).
    """
    moved = []
    for iteration, path in completed_checkpoints(checkpoints_dir):
        if iteration <= after:
            continue
        target = aside_name(path, ABANDONED)  # not over an earlier go-back's
        try:
            os.rename(path, target)
        except OSError:  # still an iter_N: as it was before going back
            continue
        moved.append((path, target))
    return moved


def prune_checkpoints(
    checkpoints_dir: str | Path,
    keep_last: int,
    milestone_every: int,
    protect: Iterable[str | Path] = (),
) -> list[Path]:
    """Delete old checkpoint folders; return the ones removed.

    Kept are: the newest ``keep_last`` completed checkpoints; every
    checkpoint whose iteration is a multiple of ``milestone_every`` (0: no
    milestones); the folder the ``latest`` pointer names; the newest
    completed checkpoint (what :meth:`RunDir.latest_checkpoint` falls back to
    without a pointer), even when ``keep_last`` is 0; and every folder in
    ``protect``.

    Parameters
    ----------
    checkpoints_dir : path
        ``RUN/checkpoints``.
    keep_last : int
        How many of the newest checkpoints to keep (>= 0).
    milestone_every : int
        Keep iterations that are multiples of this for good (0 = none).
        Choose a multiple of ``train.checkpoint_every``, or no checkpoint
        lands on a milestone.
    protect : iterable of path
        Folders never to delete (e.g. one a follower has open). Matched by
        name inside ``checkpoints_dir``.

    Returns
    -------
    list of Path
        The removed folders (their original paths), oldest first. A folder
        that vanished meanwhile (another pruner) is not listed.

    Raises
    ------
    ValueError
        ``keep_last`` or ``milestone_every`` is negative.
    """
    if keep_last < 0:
        raise ValueError(f"keep_last must be >= 0, got {keep_last}")
    if milestone_every < 0:
        raise ValueError(f"milestone_every must be >= 0, got {milestone_every}")
    folder = Path(checkpoints_dir)
    done = completed_checkpoints(folder)
    if not done:
        return []
    keep = {path.name for _, path in done[max(len(done) - keep_last, 0):]}
    keep.add(done[-1][1].name)
    latest = latest_pointer(folder)
    if latest is not None:
        keep.add(latest.name)
    keep.update(Path(p).name for p in protect)
    _remove_leftovers(folder)
    removed = []
    for iteration, path in done:
        if path.name in keep or (milestone_every and iteration % milestone_every == 0):
            continue
        if _remove(path):
            removed.append(path)
    return removed


def _remove_leftovers(folder: Path) -> None:
    """Finish deletions a killed pruner left half done (hidden, only ours by name)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if _DELETING_NAME.fullmatch(entry.name):
            try:
                if entry.is_dir(follow_symlinks=False):
                    _rmtree(Path(entry.path))
            except OSError:
                continue  # still in use or not ours to remove: try next time


def _remove(path: Path) -> bool:
    """Rename ``path`` out of sight, then delete it; ``False`` if it vanished first."""
    # Hidden and not iter_*: pruners, latest_checkpoint() and followers skip it.
    doomed = path.with_name(f".{path.name}.deleting-{secrets.token_hex(6)}")
    try:
        os.rename(path, doomed)
    except FileNotFoundError:
        return False
    _rmtree(doomed)
    return True


def _rmtree(doomed: Path) -> None:
    # onexc replaced onerror in Python 3.12 (which warns about the old name).
    if sys.version_info >= (3, 12):
        shutil.rmtree(doomed, onexc=_ignore_vanished)
    else:
        shutil.rmtree(doomed, onerror=lambda f, p, info: _ignore_vanished(f, p, info[1]))


def _ignore_vanished(func: object, name: str, exc: BaseException) -> None:
    if not isinstance(exc, FileNotFoundError):
        raise exc


def disk_usage(path: str | Path) -> int:
    """Bytes of the files under ``path`` (a run folder), recursively.

    Symlinks are not followed (a link counts as itself); files that vanish
    while counting (a run still being written) are skipped.

    Parameters
    ----------
    path : path
        A folder (or a file).

    Returns
    -------
    int
        Sum of the apparent sizes; 0 for a missing path.
    """
    try:
        st = os.lstat(path)
    except OSError:
        return 0
    if not stat.S_ISDIR(st.st_mode):
        return st.st_size
    total = 0
    stack = [os.fspath(path)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:  # vanished or unreadable subfolder
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    return total
