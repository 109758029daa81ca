"""Point-cloud samples → PLY (binary little-endian or ASCII) or ``.xyz`` text.

Coordinates are written as float32, so a binary PLY reads back bit for bit
and an ASCII one (``%.9g``) to the same float32. Several samples in one file
sit on a grid (:func:`save_point_clouds`); :func:`save_point_clouds_each`
writes one file per sample. Points with NaN or infinite coordinates (a
diverged sampler) are left out, so the file still opens. Writes are
atomic; failures raise :class:`~ebm_engine.errors.ExportError`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ebm_engine.atomic import write_bytes
from ebm_engine.data.ply import ply_bytes, read_ply
from ebm_engine.errors import DataError, ExportError
from ebm_engine.export.layout import grid_offsets, numbered_paths

POINT_FORMATS = (".ply", ".xyz")


def write_pointcloud(path: str | Path, points: np.ndarray, binary: bool = True) -> Path:
    """Write one ``(N, 3)`` point cloud to ``.ply`` (binary unless ``binary`` is
    false) or ``.xyz``; returns the path.

    Raises
    ------
    ExportError
        Unsupported extension, bad shape, or the file cannot be written.
    """
    path = Path(path)
    pts = np.asarray(points, dtype=np.float32)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ExportError(f"{path}: point clouds must be (N, 3), got shape {pts.shape}")
    pts = pts[np.isfinite(pts).all(1)]
    ext = path.suffix.lower()
    if ext == ".ply":
        data = ply_bytes(pts, binary=binary)
    elif ext == ".xyz":
        data = "".join(f"{a:.9g} {b:.9g} {c:.9g}\n" for a, b, c in pts.tolist()).encode("ascii")
    else:
        raise ExportError(
            f"{path}: unsupported point-cloud format {ext or '(none)'!r}; use .ply or .xyz"
        )
    try:
        write_bytes(path, data)
    except OSError as exc:
        raise ExportError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return path


def _clouds(samples: np.ndarray) -> np.ndarray:
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[2] != 3:
        raise ExportError(f"point-cloud samples must be (N, P, 3), got shape {np.shape(samples)}")
    return x


def save_point_clouds(
    samples: np.ndarray, path: str | Path, spacing: float = 2.5, binary: bool = True
) -> Path:
    """Write every sample into one file, laid out on a grid.

    Parameters
    ----------
    samples : np.ndarray
        ``(N, P, 3)`` point clouds in ``[-1, 1]³``.
    path : str or Path
        ``.ply`` or ``.xyz``.
    spacing : float
        Distance between neighbouring clouds' centres.
    binary : bool
        Binary little-endian PLY (else ASCII).
    """
    x = _clouds(samples)
    placed = x + grid_offsets(len(x), spacing)[:, None, :].astype(np.float32)
    return write_pointcloud(path, placed.reshape(-1, 3), binary)


def save_point_clouds_each(
    samples: np.ndarray, path: str | Path, binary: bool = True
) -> list[Path]:
    """Write each sample to its own file (``clouds.ply`` → ``clouds_000.ply`` …)."""
    x = _clouds(samples)
    return [write_pointcloud(p, c, binary) for p, c in zip(numbered_paths(path, len(x)), x)]


def read_ply_points(path: str | Path) -> np.ndarray:
    """Read the vertices of a PLY file as ``(N, 3)`` float32 (round-trip checks).

    Raises
    ------
    ExportError
        Missing or corrupt file.
    """
    try:
        return read_ply(path).vertices.astype(np.float32)
    except DataError as exc:
        raise ExportError(str(exc)) from None
