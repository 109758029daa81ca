"""Voxel readers: ``.binvox`` (parsed here) and MATLAB ``.mat`` grids as used
by the 3D DescriptorNet (3D ShapeNets' ``volumetric_data``, variable
``instance``, 30³ padded to 32³).

Registered as ``voxels`` for both extensions; a folder of them is read
file by file. ``.npy`` / ``.npz`` grids belong to the ``array`` reader.
``.mat`` files are parsed by :mod:`ebm_engine.data._matfile`, not scipy.

Items are ``(1, D, H, W)`` in ``{-1, +1}`` (empty, full), axes in the file's
``(x, y, z)`` order, stored as occupancy bytes (``2 u - 1``) and kept in the
decoded-data cache (:mod:`ebm_engine.data.cache`). ``data.image_size`` (0 keeps the file's size) resizes
every grid to a cube: a grid 2 or 4 cells smaller is padded with empty cells
(as the 3D DescriptorNet pads 30³ to 32³), an integer-factor reduction keeps
a cell when a quarter of its block is full (thin legs survive), anything
else is resampled linearly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from ebm_engine.config import DataConfig
from ebm_engine.data import progress
from ebm_engine.data._collect import check_total, collect_files, read_limited
from ebm_engine.data._matfile import load_variable, read_mat
from ebm_engine.data.catalogue import reader
from ebm_engine.data.dataset import Dataset
from ebm_engine.errors import DataError

VOXEL_EXTENSIONS = (".binvox", ".mat")

# Largest grid one file may declare (512³ = 134M cells).
MAX_GRID_CELLS = 512**3


def read_binvox(path: str | Path) -> np.ndarray:
    """Read a ``.binvox`` file as a bool grid in ``(x, y, z)`` order.

    The header (``#binvox 1``, ``dim d h w``, optional ``translate`` and
    ``scale``, ``data``) is followed by run-length pairs ``(value, count)``;
    binvox stores ``x`` slowest and ``y`` fastest.

    Raises
    ------
    DataError
        Bad magic or header, dims over 512³, a run-length body that is short
        (truncated) or long (corrupt).
    """
    path = Path(path)
    data = read_limited(path)
    if not data.startswith(b"#binvox"):
        raise DataError(f"{path}: not a binvox file (no '#binvox' header)")
    dims = None
    pos = 0
    for _ in range(16):  # the header is a handful of short lines
        end = data.find(b"\n", pos)
        if end < 0:
            raise DataError(f"{path}: binvox header ends before 'data'")
        line = data[pos:end].strip()
        pos = end + 1
        if line.startswith(b"dim"):
            try:
                dims = tuple(int(t) for t in line.split()[1:])
            except ValueError:
                dims = None
            if dims is None or len(dims) != 3 or min(dims) <= 0:
                raise DataError(f"{path}: bad binvox dims line {line[:40]!r}")
        elif line == b"data":
            break
    else:
        raise DataError(f"{path}: binvox header has no 'data' line")
    if dims is None:
        raise DataError(f"{path}: binvox header has no 'dim' line")
    total = int(np.prod(dims, dtype=np.int64))
    if total > MAX_GRID_CELLS:
        raise DataError(f"{path}: binvox grid {'x'.join(map(str, dims))} is over the 512³ limit")
    body = np.frombuffer(data, np.uint8, offset=pos)
    if len(body) % 2:
        body = body[:-1]  # a stray trailing byte (newline) after the last pair
    values, counts = body[0::2], body[1::2].astype(np.int64)
    filled = int(counts.sum())
    if filled != total:
        what = "truncated" if filled < total else "corrupt"
        raise DataError(f"{path}: binvox data covers {filled} of {total} voxels ({what} file)")
    # dims are (x, y, z) sizes; the data runs x slowest, then z, then y.
    grid = np.repeat(values > 0, counts).reshape(dims[0], dims[2], dims[1])
    return np.ascontiguousarray(grid.transpose(0, 2, 1))


def binvox_bytes(
    grid: np.ndarray, translate: tuple[float, float, float] = (0.0, 0.0, 0.0), scale: float = 1.0
) -> bytes:
    """Encode a bool grid in ``(x, y, z)`` order as a ``.binvox`` file."""
    occ = np.asarray(grid, dtype=bool)
    if occ.ndim != 3:
        raise ValueError(f"binvox needs a 3D grid, got shape {occ.shape}")
    flat = occ.transpose(0, 2, 1).ravel().astype(np.uint8)
    # Runs of equal values, split into chunks of at most 255.
    change = np.flatnonzero(np.diff(flat)) + 1
    starts = np.concatenate([[0], change])
    lengths = np.diff(np.concatenate([starts, [flat.size]]))
    pairs = []
    for value, length in zip(flat[starts].tolist(), lengths.tolist()):
        full, rest = divmod(length, 255)
        pairs += [value, 255] * full + ([value, rest] if rest else [])
    d, h, w = occ.shape
    header = (
        f"#binvox 1\ndim {d} {h} {w}\ntranslate {translate[0]} {translate[1]} {translate[2]}\n"
        f"scale {scale}\ndata\n"
    )
    return header.encode("ascii") + bytes(pairs)


def read_mat_voxels(path: str | Path) -> np.ndarray:
    """Read voxel grids from a MATLAB 5/7 ``.mat`` file.

    Takes the variable ``instance`` or else the first numeric array that is
    3D (one grid) or 4D (a stack ``(N, D, H, W)``); singleton axes are
    dropped. Shapes are checked before the data is read, by the
    bounds-checked parser in :mod:`ebm_engine.data._matfile` (scipy's can
    crash the process on a damaged file). MATLAB v4 and v7.3 (HDF5) files
    are not supported.

    Returns
    -------
    np.ndarray
        ``(N, D, H, W)`` bool occupancy (value > 0.5).
    """
    path = Path(path)
    found = read_mat(path)

    def grid_like(shape: tuple[int, ...]) -> bool:
        return len([s for s in shape if s != 1]) in (3, 4)

    candidates = [v for v in found if v.numeric and grid_like(v.shape)]
    chosen = next((v for v in candidates if v.name == "instance"), None)
    chosen = chosen or (candidates[0] if candidates else None)
    if chosen is None:
        names = ", ".join(f"{v.name} {'x'.join(map(str, v.shape))} {v.mclass}" for v in found)
        raise DataError(
            f"{path}: no 3D or 4D numeric array in this file (variables: {names or 'none'})"
        )
    arr = load_variable(path, chosen)
    arr = arr.reshape([s for s in arr.shape if s != 1])
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise DataError(f"{path}: variable {chosen.name!r} holds NaN or infinite values")
    return (arr > 0.5).reshape(-1, *arr.shape[-3:])


def resize_grid(occ: np.ndarray, size: int) -> np.ndarray:
    """Resize a bool grid ``(D, H, W)`` to ``size``³ (rules in the module docstring)."""
    dims = np.array(occ.shape)
    if np.all(dims == size):
        return occ
    gap = size - dims
    if np.all((gap >= 0) & (gap <= 4) & (gap % 2 == 0)):
        return np.pad(occ, [(g // 2, g // 2) for g in gap])
    if np.all(dims % size == 0):
        f = dims // size
        blocks = occ.reshape(size, f[0], size, f[1], size, f[2]).mean(axis=(1, 3, 5))
        return blocks >= 0.25
    zoomed = ndimage.zoom(
        occ.astype(np.float32), size / dims, order=1, grid_mode=True, mode="grid-constant"
    )
    return zoomed[:size, :size, :size] >= 0.5


@reader("voxels", VOXEL_EXTENSIONS, label="voxel grids", cacheable=True)
def read_voxels(path: Path, cfg: DataConfig) -> Dataset:
    """Read ``.binvox`` / ``.mat`` voxel grids (a file or a folder of them).

    Parameters
    ----------
    path : Path
        A file, or a folder of them.
    cfg : DataConfig
        ``image_size`` resizes every grid to a cube (0 keeps the file's size).
    """
    files = collect_files(path, VOXEL_EXTENSIONS, "voxel")
    size = cfg.image_size
    if size and not 4 <= size <= 256:
        raise DataError(f"data.image_size must be 4..256 for voxel grids, got {size}")
    grids: list[np.ndarray] = []
    progress.expect(len(files))
    for f in files:
        progress.advance()
        stack = read_mat_voxels(f) if f.suffix.lower() == ".mat" else read_binvox(f)[None]
        for occ in stack:
            occ = resize_grid(occ, size) if size else occ
            if grids and occ.shape != grids[0].shape:
                raise DataError(
                    f"{f}: grid {'x'.join(map(str, occ.shape))} differs from the first file's "
                    f"{'x'.join(map(str, grids[0].shape))}; set data.image_size to resize all"
                )
            check_total(path, len(grids) + 1, occ.size)
            grids.append(occ)
            if cfg.max_items and len(grids) >= cfg.max_items:
                break
        if cfg.max_items and len(grids) >= cfg.max_items:
            break
    x = torch.from_numpy(np.stack(grids)[:, None].astype(np.uint8))
    meta = {"files": [str(f) for f in files], "grid": list(grids[0].shape)}
    return Dataset(str(path), "voxel", x, (-1.0, 1.0), meta, scale=2.0, offset=-1.0)
