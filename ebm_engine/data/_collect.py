"""Helpers shared by the 3D and video readers: which files a source names,
and the checked ``data.options`` values they take.

A reader is handed one path. A file is read alone; a folder (given to the
reader whose files make up most of it, see :mod:`ebm_engine.data.detect`,
or the one ``data.options.reader`` names) is searched recursively for the
reader's extensions, so ``ModelNet10/chair/train`` is one mesh dataset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ebm_engine.errors import DataError

# Files are parsed in memory (text as Python lists: ~8x the file size); a
# bigger file is almost surely a mistake (a 256 MB OBJ holds ~5M vertices,
# far more than a voxel grid or a 2048-point cloud can show).
MAX_FILE_BYTES = 256 * 1024**2

# Ceiling on decoded values (voxels, pixels of all frames) in one dataset:
# 100M float32 values are 400 MB.
MAX_VALUES = 100_000_000


def collect_files(path: Path, extensions: tuple[str, ...], what: str) -> list[Path]:
    """The files a reader should read: ``path`` itself, or every file under
    the folder ``path`` whose extension is in ``extensions`` (sorted; hidden
    files and folders skipped).

    Raises
    ------
    DataError
        The folder holds no such file.
    """
    if not path.is_dir():
        return [path]
    found = []
    for p in path.rglob("*"):
        rel = p.relative_to(path)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if p.suffix.lower() in extensions and p.is_file():
            found.append(p)
    if not found:
        raise DataError(f"{path}: no {what} files ({' '.join(extensions)}) in this folder")
    return sorted(found)


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
