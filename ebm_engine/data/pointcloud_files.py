"""Point-cloud readers: ``.xyz`` and ``.pts`` text, and ``.ply`` vertices.

Registered as ``pointcloud`` for ``.xyz`` and ``.pts``. A ``.ply`` file
goes to the ``mesh`` reader (:mod:`ebm_engine.data.mesh_files`), which
hands a PLY without faces back to :func:`read_points_file`; forcing
``data.options.reader = "pointcloud"`` reads any PLY's vertices as points.
A folder (of point files, or with the forced reader) is read file by file,
one item each; a folder's ``.ply`` files without faces count as point clouds
when the reader is detected.

Every cloud is resampled to ``data.options["points"]`` points (default
2048, the Generative PointNet's size): a random subset, or points repeated
at random when the file has fewer; then it is centred on its bounding box
and scaled so its largest half-extent is 1 (``data.options["normalize"]``,
default true), so items lie in ``[-1, 1]³``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ebm_engine.config import DataConfig
from ebm_engine.data import progress
from ebm_engine.data._collect import check_total, collect_files, int_option, read_limited
from ebm_engine.data.catalogue import reader
from ebm_engine.data.dataset import Dataset
from ebm_engine.data.ply import read_ply
from ebm_engine.errors import DataError

POINT_EXTENSIONS = (".xyz", ".pts", ".ply")
DEFAULT_POINTS = 2048


def read_xyz(path: str | Path) -> np.ndarray:
    """Read a text point file: one point per line, ``x y z`` first (spaces
    or commas; extra columns such as normals are ignored; ``#`` comments and
    a leading point-count line, as in some ``.pts`` files, are skipped).

    Returns
    -------
    np.ndarray
        ``(N, 3)`` float64.
    """
    path = Path(path)
    data = read_limited(path)
    lines = [
        ln
        for ln in data.replace(b",", b" ").splitlines()
        if ln.strip() and not ln.lstrip().startswith(b"#")
    ]
    if lines and len(lines[0].split()) == 1:
        lines = lines[1:]  # a point-count header line
    if not lines:
        raise DataError(f"{path}: no points in this file")
    rows = [ln.split()[:3] for ln in lines]
    if any(len(r) < 3 for r in rows):
        bad = next(i for i, r in enumerate(rows) if len(r) < 3)
        raise DataError(f"{path}: line {bad + 1} has fewer than 3 coordinates: {lines[bad][:60]!r}")
    try:
        return np.array(rows, dtype=np.float64)
    except ValueError:
        raise DataError(f"{path}: a coordinate is not a number") from None


def read_points_file(path: str | Path) -> np.ndarray:
    """Read the points of a ``.xyz``, ``.pts`` or ``.ply`` file.

    Raises
    ------
    DataError
        Unreadable, empty or corrupt file, or NaN / infinite coordinates.
    """
    path = Path(path)
    points = read_ply(path).vertices if path.suffix.lower() == ".ply" else read_xyz(path)
    if len(points) == 0:
        raise DataError(f"{path}: no points in this file")
    if not np.all(np.isfinite(points)):
        raise DataError(f"{path}: holds NaN or infinite coordinates")
    return points


def normalize_points(points: np.ndarray, path: Path | str = "points") -> np.ndarray:
    """Centre on the bounding box and scale the largest half-extent to 1."""
    lo, hi = points.min(0), points.max(0)
    half = float((hi - lo).max()) / 2
    if not half > 0:
        raise DataError(f"{path}: all points are the same point; cannot scale to the unit cube")
    return (points - (lo + hi) / 2) / half


def resample_points(points: np.ndarray, n: int, rng: np.random.RandomState) -> np.ndarray:
    """``n`` of the points: a random subset, or with repeats when there are fewer."""
    replace = len(points) < n
    return points[rng.choice(len(points), size=n, replace=replace)]


def points_dataset(
    path: Path, clouds: list[np.ndarray], cfg: DataConfig, files: Sequence[Path]
) -> Dataset:
    """Turn raw clouds (already resampled to one size) into a ``pointcloud`` dataset."""
    normalize = cfg.options.get("normalize", True)
    if not isinstance(normalize, bool):
        raise DataError(f"data.options.normalize must be true or false, got {normalize!r}")
    if normalize:
        clouds = [normalize_points(c, f) for c, f in zip(clouds, files)]
    x = torch.from_numpy(np.stack(clouds).astype(np.float32))
    if normalize:
        x = x.clamp(-1.0, 1.0)  # rounding to float32 may step a hair outside
    meta = {"files": [str(f) for f in files], "points": x.shape[1]}
    return Dataset(str(path), "pointcloud", x, (-1.0, 1.0) if normalize else None, meta)


def _limit_files(files: Sequence[Path], cfg: DataConfig) -> Sequence[Path]:
    return files[: cfg.max_items] if cfg.max_items else files


# Cached as float32 (float16 would move points by up to 5e-4; clouds are small,
# and the cache saves the parsing of text files, which is the slow part).
@reader("pointcloud", (".xyz", ".pts"), label="point clouds", folder_extensions=POINT_EXTENSIONS,
        cacheable=True, options=("points", "normalize", "seed"))
def read_pointcloud(path: Path, cfg: DataConfig) -> Dataset:
    """Read one point file, or every point file under a folder, as a dataset.

    Parameters
    ----------
    path : Path
        A ``.xyz`` / ``.pts`` / ``.ply`` file or a folder of them.
    cfg : DataConfig
        ``options.points`` (2048), ``options.normalize`` (true), ``options.seed`` (0).
    """
    n = int_option(cfg.options, "points", DEFAULT_POINTS, 1, 1_000_000)
    seed = int_option(cfg.options, "seed", 0, 0, 2**32 - 1)
    files = _limit_files(collect_files(path, POINT_EXTENSIONS, "point-cloud"), cfg)
    check_total(path, len(files), 3 * n)
    rng = np.random.RandomState(seed)
    progress.expect(len(files))
    clouds = []
    for f in files:
        clouds.append(resample_points(read_points_file(f), n, rng))
        progress.advance()
    return points_dataset(path, clouds, cfg, files)
