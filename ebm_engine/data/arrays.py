"""NumPy array reader (``.npy`` / ``.npz``) for every data kind.

The header is read and checked before any data is: a hostile or broken file
can declare a terabyte-sized shape in a few bytes, or hold pickled Python
objects whose unpickling runs code. Neither gets past :func:`check_header`.

Kind is inferred from the array's rank unless ``data.options["kind"]`` says:

=====  ======================  ==========================================
rank   layout                  kind
=====  ======================  ==========================================
2      ``(N, D)``              points (raw coordinates)
3      ``(N, P, 3)``           pointcloud
3      ``(N, H, W)``           image (one channel added)
4      ``(N, C, H, W)``        image, ``C`` in 1..4 (``(N, H, W, C)`` too)
4      ``(N, D, H, W)``        voxel, only with ``kind="voxel"``
5      ``(N, C, T, H, W)``     video (``(N, 1, D, H, W)`` with ``kind="voxel"``)
=====  ======================  ==========================================

A folder of such files is one dataset: every file is a batch of items of
the same kind and item shape, concatenated in sorted order, except where
each file is one item (:func:`one_item_per_file`): several files of one
``(P, 3)`` shape are one point cloud each, not ``P`` points apiece.
``data.options.per_file`` says it outright: ``"item"`` (each file one item,
e.g. one grey picture ``(H, W)`` per file) or ``"items"`` (each a batch).
"""

from __future__ import annotations

import math
import tokenize
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from numpy.lib import format as npformat

from ebm_engine.config import DataConfig
from ebm_engine.data._collect import collect_files
from ebm_engine.data.catalogue import reader
from ebm_engine.data.dataset import KINDS, Dataset
from ebm_engine.errors import DataError

# Largest array a file may declare; checked from the header, before allocating.
MAX_ARRAY_BYTES = 2 * 1024**3

_BOUNDED_KINDS = ("image", "video", "voxel")

ARRAY_EXTENSIONS = (".npy", ".npz")

# What numpy and zipfile raise on damaged bytes: the header is a Python
# literal parsed by ast/tokenize (SyntaxError, TokenError, RecursionError),
# and a zip member may be cut, bit-flipped (zlib.error), encrypted
# (RuntimeError) or use an unknown compression or version (NotImplementedError).
_CORRUPT = (
    ValueError,
    OSError,
    EOFError,
    SyntaxError,
    tokenize.TokenError,
    RecursionError,
    zipfile.BadZipFile,
    zlib.error,
    NotImplementedError,
    RuntimeError,
)


def check_header(
    fp: IO[bytes], where: str, available: int | None = None
) -> tuple[tuple[int, ...], np.dtype]:
    """Read and vet an ``.npy`` header without reading the data.

    Parameters
    ----------
    fp : file object
        Positioned at the start of an ``.npy`` stream.
    where : str
        File (and member) name for error messages.
    available : int, optional
        Bytes in the whole stream, if known; a header declaring more data
        than that is reported as truncated.

    Returns
    -------
    shape : tuple of int
    dtype : numpy.dtype

    Raises
    ------
    DataError
        Not an ``.npy`` stream, an unsupported version, Python objects, a
        non-numeric dtype, an empty shape or more than
        :data:`MAX_ARRAY_BYTES` of data.
    """
    try:
        version = npformat.read_magic(fp)
        if version == (1, 0):
            shape, _, dtype = npformat.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, _, dtype = npformat.read_array_header_2_0(fp)
        else:
            # 3.0 only exists for unicode field names of structured dtypes,
            # which are not numeric data anyway.
            raise DataError(f"{where}: unsupported .npy format version {version[0]}.{version[1]}")
    except DataError:
        raise
    except _CORRUPT as exc:
        raise DataError(f"{where}: not a valid .npy array ({_first_line(exc)})") from None
    if dtype.hasobject:
        raise DataError(f"{where}: contains Python objects; refusing to unpickle")
    if dtype.kind not in "biuf":
        raise DataError(f"{where}: dtype {dtype} is not numeric (need bool, int or float)")
    if any(s == 0 for s in shape):
        raise DataError(f"{where}: empty array of shape {shape}")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > MAX_ARRAY_BYTES:
        raise DataError(
            f"{where}: array of shape {shape} would take {nbytes / 1024**3:.1f} GiB "
            f"(limit {MAX_ARRAY_BYTES / 1024**3:.0f} GiB)"
        )
    if available is not None and nbytes > available - fp.tell():
        raise DataError(
            f"{where}: truncated (header declares {nbytes} bytes of data, "
            f"file holds {max(available - fp.tell(), 0)})"
        )
    return tuple(shape), dtype


def load_array(path: Path, key: str | None = None) -> tuple[np.ndarray, str | None]:
    """Safely load one array from an ``.npy`` or ``.npz`` file.

    Parameters
    ----------
    path : Path
        The file.
    key : str, optional
        Array name inside an ``.npz``; default ``x``, else ``data``, else
        the first array.

    Returns
    -------
    array : numpy.ndarray
    key : str or None
        The ``.npz`` member read (``None`` for ``.npy``).

    Raises
    ------
    DataError
        Unreadable, hostile or oversized file (see :func:`check_header`).
    """
    try:
        if path.suffix.lower() == ".npz":
            return _load_npz(path, key)
        with open(path, "rb") as fp:
            check_header(fp, str(path), available=path.stat().st_size)
            fp.seek(0)
            return npformat.read_array(fp, allow_pickle=False), None
    except DataError:
        raise
    except _CORRUPT as exc:
        raise DataError(f"{path}: cannot read array ({_first_line(exc)})") from None


def _load_npz(path: Path, key: str | None) -> tuple[np.ndarray, str]:
    try:
        zf = zipfile.ZipFile(path)
    except _CORRUPT:
        raise DataError(f"{path}: not a valid .npz (not a zip archive)") from None
    with zf:
        members = {n[: -len(".npy")]: n for n in zf.namelist() if n.endswith(".npy")}
        if not members:
            raise DataError(f"{path}: .npz holds no arrays")
        if key is None:
            key = next((k for k in ("x", "data") if k in members), next(iter(members)))
        elif key not in members:
            raise DataError(f"{path}: no array {key!r} in .npz (has {', '.join(members)})")
        name = members[key]
        where = f"{path}[{key}]"
        # Only the first bytes of the member are decompressed to read its header.
        with zf.open(name) as fp:
            check_header(fp, where, available=zf.getinfo(name).file_size)
        with zf.open(name) as fp:
            return npformat.read_array(fp, allow_pickle=False), key


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


PER_FILE = ("item", "items")
"""Values of ``data.options.per_file``."""


def one_item_per_file(n_files: int, shape: tuple[int, ...], options: dict[str, Any]) -> bool:
    """Whether each of ``n_files`` array files (the first of shape ``shape``) is one item.

    ``options["per_file"]`` decides when given. Otherwise several files of one
    ``(P, 3)`` shape are a point cloud each (how clouds are saved), unless
    ``options["kind"]`` is ``points``. Other 2D shapes stay batches of vectors:
    equal shards of features are as common as one grey picture ``(H, W)`` per
    file, which ``per_file="item"`` reads (the summary line suggests it,
    :func:`per_file_hint`).

    Parameters
    ----------
    n_files : int
        Array files in the source.
    shape : tuple of int
        The first file's array shape.
    options : dict
        ``data.options``.

    Returns
    -------
    bool
        Each file is one item.
    """
    chosen = options.get("per_file")
    if chosen is not None:
        if chosen not in PER_FILE:
            raise DataError(f"data.options.per_file must be one of {PER_FILE}, got {chosen!r}")
        return chosen == "item"
    return (n_files >= 2 and len(shape) == 2 and shape[1] == 3
            and options.get("kind") != "points")


def per_file_hint(n_files: int, shape: tuple[int, ...], options: dict[str, Any]) -> str:
    """A note for files that may each be one picture but are read as batches of vectors.

    Parameters
    ----------
    n_files, shape, options
        As for :func:`one_item_per_file`.

    Returns
    -------
    str
        How to read each file as one item, or "".
    """
    if (n_files >= 2 and len(shape) == 2 and min(shape) >= 8 and "per_file" not in options
            and not one_item_per_file(n_files, shape, options)):
        return "each file one picture? --set data.options.per_file=item"
    return ""


def _infer_layout(arr: np.ndarray, kind: str | None, where: str) -> tuple[str, np.ndarray]:
    """Decide the data kind and bring ``arr`` to that kind's item layout."""
    shape = arr.shape
    rank = arr.ndim
    if kind is None:
        if rank == 2:
            kind = "points"
        elif rank == 3:
            kind = "pointcloud" if shape[2] == 3 else "image"
        elif rank == 4:
            kind = "image"
        elif rank == 5:
            kind = "video"
        else:
            hint = "; reshape to (N, 1) for 1-D points" if rank == 1 else ""
            raise DataError(f"{where}: cannot use an array of rank {rank} {shape}{hint}")

    def bad(expected: str) -> DataError:
        return DataError(f"{where}: shape {shape} does not fit kind {kind!r} (expected {expected})")

    if kind == "points":
        if rank != 2:
            raise bad("(N, D)")
        return kind, arr
    if kind == "pointcloud":
        if rank != 3 or shape[2] != 3:
            raise bad("(N, P, 3)")
        return kind, arr
    if kind == "image":
        if rank == 3:
            return kind, arr[:, None]
        if rank != 4:
            raise bad("(N, C, H, W), (N, H, W, C) or (N, H, W)")
        if shape[1] not in (1, 2, 3, 4) and shape[3] in (1, 3, 4):
            return kind, arr.transpose(0, 3, 1, 2)  # channel-last, as most libraries save
        if shape[1] not in (1, 2, 3, 4):
            raise bad("1 to 4 channels")
        return kind, arr
    if kind == "voxel":
        if rank == 4:
            return kind, arr[:, None]
        if rank != 5 or shape[1] != 1:
            raise bad("(N, D, H, W) or (N, 1, D, H, W)")
        return kind, arr
    if kind == "video":
        if rank != 5 or shape[1] not in (1, 2, 3, 4):
            raise bad("(N, C, T, H, W) with 1 to 4 channels")
        return kind, arr
    raise DataError(f"data.options.kind must be one of {KINDS}, got {kind!r}")


# Integer pictures whose values reach no higher than this are likely not 0..255 pictures
# (digits of 0..16 read so were nearly black, without a word): they are read as 0..255 with
# a warning that says how to give their range (data.options.value_range).
SMALL_INTEGER_MAX = 63


def value_range_option(options: dict[str, Any]) -> tuple[float, float] | None:
    """``data.options.value_range`` as ``(lo, hi)``.

    Parameters
    ----------
    options : dict
        ``data.options``; ``value_range`` is ``"0,16"`` or ``[0, 16]``.

    Returns
    -------
    (float, float) or None
        ``None`` when not given.

    Raises
    ------
    DataError
        Not two finite numbers with ``lo < hi``.
    """
    given = options.get("value_range")
    if given is None:
        return None
    parts = given.split(",") if isinstance(given, str) else given
    try:
        lo, hi = (float(v) for v in parts)
    except (TypeError, ValueError):
        raise DataError(f"data.options.value_range must be LO,HI (e.g. 0,16), got {given!r}") \
            from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise DataError(f"data.options.value_range must be finite with LO < HI, got {given!r}")
    return lo, hi


def _to_model_space(
    arr: np.ndarray, kind: str, where: str, given: tuple[float, float] | None = None
) -> tuple[np.ndarray, tuple[float, float] | None]:
    """Map bounded kinds to ``[-1, 1]`` (from ``given`` = the values' ``(lo, hi)``
    when the user says it); leave coordinates raw."""
    if kind in _BOUNDED_KINDS:
        lo, hi = float(arr.min()), float(arr.max())
        if given is not None:
            if lo < given[0] or hi > given[1]:
                raise DataError(f"{where}: {kind} values span [{lo:g}, {hi:g}], outside "
                                f"data.options.value_range {given[0]:g},{given[1]:g}")
            scale = 2.0 / (given[1] - given[0])
            return (arr.astype(np.float32) - given[0]) * scale - 1.0, (-1.0, 1.0)
        say = (f"; say their range, e.g. --set data.options.value_range={lo:g},{hi:g}"
               if lo < hi else "")
        if arr.dtype.kind in "iu" and lo >= 0 and 1 < hi <= SMALL_INTEGER_MAX:
            # read as before (a run trained so resumes and evaluates), but not silently
            warnings.warn(f"{where}: integer {kind} values span [{lo:g}, {hi:g}], a small "
                          f"part of 0..255: read as 0..255 they are nearly black{say}",
                          stacklevel=2)
        if arr.dtype == np.uint8 or arr.dtype == np.bool_:
            scale = 255.0 if arr.dtype == np.uint8 else 1.0
            return arr.astype(np.float32) * (2.0 / scale) - 1.0, (-1.0, 1.0)
        if arr.dtype.kind in "iu" and lo >= 0 and hi <= 255 and hi > 1:
            return arr.astype(np.float32) * (2.0 / 255.0) - 1.0, (-1.0, 1.0)
        if lo >= 0.0 and hi <= 1.0:
            return arr.astype(np.float32) * 2.0 - 1.0, (-1.0, 1.0)
        if lo >= -1.0 and hi <= 1.0:
            return arr.astype(np.float32), (-1.0, 1.0)
        raise DataError(
            f"{where}: {kind} values span [{lo:g}, {hi:g}]; expected uint8 0..255 "
            f"or floats in [0, 1] or [-1, 1]{say}"
        )
    if given is not None:
        raise DataError(f"data.options.value_range is for images, videos and voxels; these "
                        f"are {kind} (coordinates are read as they are)")
    arr = arr.astype(np.float32)
    if kind == "pointcloud":
        # Point clouds live in [-1, 1]; centre and scale each cloud that does not.
        if float(np.abs(arr).max()) > 1.0:
            arr = arr - arr.mean(axis=1, keepdims=True)
            radius = np.abs(arr).max(axis=(1, 2), keepdims=True)
            arr = arr / np.maximum(radius, 1e-12)
        return arr, (-1.0, 1.0)
    return arr, None


@reader("array", ARRAY_EXTENSIONS, label="arrays",
        options=("key", "kind", "per_file", "value_range"))
def read_array_file(path: Path, cfg: DataConfig) -> Dataset:
    """Read an ``.npy`` / ``.npz`` array (or every one under a folder) as a
    dataset of any kind.

    Parameters
    ----------
    path : Path
        The file, or a folder of them: each file holds a batch of items, and
        all must give the same kind and item shape (they are concatenated in
        sorted file order).
    cfg : DataConfig
        ``options["key"]`` picks the ``.npz`` member; ``options["kind"]``
        overrides the kind inferred from the rank (see the module docstring);
        ``options["per_file"]`` says whether each file is one item or a batch;
        ``options["value_range"]`` (``"0,16"``) the range of the values of images,
        videos or voxels that are neither 8-bit nor in ``[0, 1]`` or ``[-1, 1]``.

    Returns
    -------
    Dataset
        Images, videos and voxels in ``[-1, 1]`` (``uint8`` 0..255 and floats
        in ``[0, 1]`` are rescaled); points raw with ``value_range=None``;
        point clouds scaled into ``[-1, 1]`` per cloud if they exceed it.

    Raises
    ------
    DataError
        Unsafe, unreadable, non-finite or wrongly shaped data.
    """
    options: dict[str, Any] = cfg.options
    kind = options.get("kind")
    if kind is not None and kind not in KINDS:
        raise DataError(f"data.options.kind must be one of {KINDS}, got {kind!r}")
    key = options.get("key")
    if key is not None and not isinstance(key, str):
        raise DataError(f"data.options.key must be a string, got {key!r}")
    given = value_range_option(options)
    files = collect_files(path, ARRAY_EXTENSIONS, "array")
    parts: list[_Part] = []
    total = 0
    single: bool | None = None  # each file one item: decided from the first file's shape
    for f in files:
        arr, found = load_array(f, key)
        if single is None:
            single, first_shape = one_item_per_file(len(files), arr.shape, options), arr.shape
        elif single and arr.shape != first_shape:
            raise DataError(
                f"{f}: shape {arr.shape} differs from {files[0]}'s {first_shape}; each file "
                "is read as one item, so all must have one shape (point clouds of different "
                "sizes: .ply or .xyz files are resampled to one size; batches of points: "
                "--set data.options.per_file=items)")
        part = _raw_part(f, arr[None] if single else arr, found, kind)
        if parts and (part.kind, part.items.shape[1:]) != (parts[0].kind, parts[0].items.shape[1:]):
            raise DataError(
                f"{part.where}: {part.kind} items of shape {part.items.shape[1:]} differ from "
                f"{parts[0].where}'s {parts[0].kind} items of shape {parts[0].items.shape[1:]}"
            )
        # Each file is vetted alone by check_header; the folder's sum must fit too.
        total += part.items.nbytes
        if total > MAX_ARRAY_BYTES:
            raise DataError(
                f"{path}: arrays exceed {MAX_ARRAY_BYTES / 1024**3:.0f} GiB together; "
                "set data.max_items or use fewer files"
            )
        parts.append(part)
        if cfg.max_items and sum(len(p.items) for p in parts) >= cfg.max_items:
            break  # don't read what load_dataset would drop
    first = parts[0]
    if len({p.items.dtype for p in parts}) == 1:
        # One decision for the whole folder: per file, a [-1, 1] file that happened
        # to be all >= 0 was doubled while its neighbours were kept.
        raw = first.items if len(parts) == 1 else np.concatenate([p.items for p in parts])
        where = str(path) if len(parts) > 1 else first.where
        items, value_range = _to_model_space(raw, first.kind, where, given)
    else:  # 8-bit files beside float ones: each file's type says its convention
        mapped = [_to_model_space(p.items, p.kind, p.where, given) for p in parts]
        items = np.concatenate([m[0] for m in mapped])
        value_range = mapped[0][1] if all(m[1] == mapped[0][1] for m in mapped) else None
    meta: dict[str, Any] = {"file": str(path), "dtype": first.dtype}
    if len(files) > 1 or path.is_dir():
        meta["files"] = [str(p.file) for p in parts]
    if first.key is not None:
        meta["key"] = first.key
    return Dataset(
        name=str(path),
        kind=first.kind,
        items=torch.from_numpy(np.ascontiguousarray(items)),
        value_range=value_range,
        meta=meta,
    )


@dataclass
class _Part:
    """One file's items in their kind's layout, values as stored."""

    file: Path
    where: str
    kind: str
    items: np.ndarray
    dtype: str
    key: str | None


def _raw_part(path: Path, arr: np.ndarray, key: str | None, kind: str | None) -> _Part:
    where = f"{path}[{key}]" if key is not None else str(path)
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise DataError(f"{where}: contains NaN or inf")
    kind, arr = _infer_layout(arr, kind, where)
    return _Part(path, where, kind, arr, str(arr.dtype), key)
