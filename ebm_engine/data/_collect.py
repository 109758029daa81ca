"""Helpers shared by the 3D and video readers: which files a source names,
and the checked ``data.options`` values they take.

A reader is handed one path. A file is read alone; a folder (given to the
reader whose files make up most of it, see :mod:`ebm_engine.data.detect`,
or the one ``data.options.reader`` names) is searched recursively for the
reader's extensions, so ``ModelNet10/chair/train`` is one mesh dataset.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

from ebm_engine.errors import DataError

# Files are parsed in memory (text as Python lists: ~8x the file size); a
# bigger file is almost surely a mistake (a 256 MB OBJ holds ~5M vertices,
# far more than a voxel grid or a 2048-point cloud can show).
MAX_FILE_BYTES = 256 * 1024**2

# Ceiling on decoded values (voxels, pixels of all frames) in one dataset:
# 100M float32 values are 400 MB.
MAX_VALUES = 100_000_000


@dataclass(frozen=True)
class _Listing:
    """One complete walk of a folder, and the folders' mtimes that vouch for it."""

    folder: str
    files: list[str]
    folder_mtimes: dict[str, int]
    taken: float


# The last complete listing: a start-up lists the same folder several times
# (choosing the preset, the pre-flight check, detection, the cache key),
# each a second at 100k files. Adding, removing or renaming a file changes
# its folder's mtime, so re-statting the folders (tens, not 100k) tells
# whether the listing still holds.
_last_listing: _Listing | None = None
LISTING_TTL_SECONDS = 300.0
# A folder changed this recently may change again within its mtime's tick
# unseen: such a listing is not kept.
_RACY_SECONDS = 2.0


def walk_files(
    folder: str | Path, extensions: Iterable[str] | None = None, limit: int = 0
) -> list[str]:
    """Paths (as strings) of the files under ``folder``, recursively, unsorted.

    Hidden files and folders are skipped and symlinked folders are not
    followed (as :meth:`pathlib.Path.rglob` does); a symlinked file counts
    when its target is a file. Unreadable folders are skipped.

    Parameters
    ----------
    folder : str or Path
        Folder to search.
    extensions : iterable of str, optional
        Keep only these (lower-case, with the dot); all files if ``None``.
    limit : int
        Stop after this many files (0: no limit).

    Returns
    -------
    list of str
        ``os.path.join``-style paths starting with ``folder`` (a new list).
    """
    root = os.fspath(folder)
    files = _listing(root, limit)
    if extensions is not None:
        wanted = tuple({e.lower() for e in extensions})
        files = [p for p in files if _extension(p) in wanted]
    else:
        files = list(files)
    return files[:limit] if limit else files


def _extension(path: str) -> str:
    """``os.path.splitext(path)[1].lower()``, faster (hidden names never get here)."""
    dot = path.rfind(".")
    return path[dot:].lower() if dot > path.rfind(os.sep) + 1 else ""


def _listing(root: str, limit: int) -> list[str]:
    """All files under ``root`` (a shared list: do not change it)."""
    global _last_listing
    memo = _last_listing
    if memo is not None and memo.folder == root and _still_valid(memo):
        return memo.files
    # os.scandir gives names and types from one getdents call per folder:
    # about 5x faster than rglob + relative_to + is_file on 100k files.
    found: list[str] = []
    mtimes: dict[str, int] = {}
    taken = time.time()
    stack = [root]
    while stack:
        top = stack.pop()
        try:
            mtimes[top] = os.stat(top).st_mtime_ns
            entries = os.scandir(top)
        except OSError:
            continue
        with entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.is_file():
                        found.append(entry.path)
                except OSError:  # vanished while we looked, or a symlink loop
                    continue
        if limit and len(found) >= limit:
            return found  # cut short: not a listing to keep
    if all(taken - m / 1e9 > _RACY_SECONDS for m in mtimes.values()):
        _last_listing = _Listing(root, found, mtimes, taken)
    return found


def forget_listing() -> None:
    """Drop the kept listing (100k paths are ~10 MB): once a dataset is loaded, it is not needed."""
    global _last_listing
    _last_listing = None


def _still_valid(memo: _Listing) -> bool:
    if time.time() - memo.taken > LISTING_TTL_SECONDS:
        return False
    try:
        return all(os.stat(d).st_mtime_ns == m for d, m in memo.folder_mtimes.items())
    except OSError:
        return False


def sort_key(path: str) -> str:
    """A key that sorts path strings as :class:`~pathlib.Path` objects sort (part by part)."""
    # NUL sorts before every character a name can hold, as a shorter part
    # sorts before a longer one it prefixes ("a/b" before "a-b").
    return path.replace(os.sep, "\0")


class PathList(Sequence[Path]):
    """File paths held as strings, handed out as :class:`~pathlib.Path` objects.

    A list of 100k ``Path`` objects takes ~40 MB and a second to build;
    most callers look at one or two (the first image's header, the count).
    Indexing gives a ``Path``, slicing a ``PathList``, iteration ``Path``
    objects one at a time; it compares equal to a list of the same paths.
    """

    def __init__(self, paths: list[str]):
        self._paths = paths

    def __len__(self) -> int:
        return len(self._paths)

    @overload
    def __getitem__(self, index: int) -> Path: ...

    @overload
    def __getitem__(self, index: slice) -> PathList: ...

    def __getitem__(self, index: int | slice) -> Path | PathList:
        if isinstance(index, slice):
            return PathList(self._paths[index])
        return Path(self._paths[index])

    def __iter__(self) -> Iterator[Path]:
        return (Path(p) for p in self._paths)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PathList):
            return self._paths == other._paths
        if isinstance(other, (list, tuple)):
            return len(other) == len(self) and all(Path(a) == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # unhashable, as a list is

    def __repr__(self) -> str:
        head = ", ".join(repr(p) for p in self._paths[:3])
        more = f", … {len(self) - 3} more" if len(self) > 3 else ""
        return f"PathList([{head}{more}])"


def sorted_paths(paths: Iterable[str]) -> PathList:
    """``paths`` in ``sorted(Path)`` order, as a :class:`PathList`."""
    return PathList(sorted(paths, key=sort_key))


def collect_files(path: Path, extensions: tuple[str, ...], what: str) -> Sequence[Path]:
    """The files a reader should read: ``path`` itself, or every file under
    the folder ``path`` whose extension is in ``extensions`` (sorted; hidden
    files and folders skipped).

    Raises
    ------
    DataError
        The folder holds no such file.
    """
    if not path.is_dir():
        return PathList([os.fspath(path)])
    found = walk_files(path, extensions)
    if not found:
        raise DataError(f"{path}: no {what} files ({' '.join(extensions)}) in this folder")
    return sorted_paths(found)


def read_limited(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of ``path``, refusing files over ``limit`` before reading them."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise DataError(
                f"{path}: file is {size / 1e6:.0f} MB, over the {limit / 1e6:.0f} MB limit"
            )
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None


def int_option(opts: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    """``opts[key]`` as an integer in ``lo..hi`` (DataError naming the option)."""
    value = opts.get(key, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise DataError(f"data.options.{key} must be an integer in {lo}..{hi}, got {value!r}")
    return value


def float_option(opts: dict[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    """``opts[key]`` as a number in ``[lo, hi]`` (DataError naming the option)."""
    value = opts.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise DataError(f"data.options.{key} must be a number in [{lo:g}, {hi:g}], got {value!r}")
    return float(value)


def choice_option(opts: dict[str, Any], key: str, default: str, choices: tuple[str, ...]) -> str:
    """``opts[key]`` as one of ``choices`` (DataError naming the option)."""
    value = opts.get(key, default)
    if value not in choices:
        raise DataError(f"data.options.{key} must be one of {list(choices)}, got {value!r}")
    return value


def check_total(path: Path, n_items: int, item_values: int) -> None:
    """Refuse a dataset of more than :data:`MAX_VALUES` values before allocating it."""
    total = n_items * item_values
    if total > MAX_VALUES:
        raise DataError(
            f"{path}: {n_items} items of {item_values} values ({total / 1e6:.0f}M) exceed the "
            f"{MAX_VALUES // 1_000_000}M limit; lower data.image_size or data.max_items"
        )
