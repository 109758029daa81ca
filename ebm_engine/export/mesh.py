"""Voxel samples → triangle meshes (marching cubes) → STL, OBJ or PLY files.

The surface is the ``level`` set of the grid: 0 in model space (between
empty = -1 and full = +1), or 0.5 for display-space grids in ``[0, 1]``.
The grid is padded with one empty cell first, so shapes that touch the
border still give closed surfaces. Vertices are placed like the data: cell
``[i, j, k]`` of a ``D×H×W`` grid is centred at ``x_i = -1 + (i + ½)·2/D``
(and so on), so a mesh lines up with the point clouds of the same shape.

Several samples in one file sit on a grid (:func:`save_voxel_meshes`, what
``ebm sample --n 4 --out shapes.stl`` writes); :func:`save_voxel_meshes_each`
writes one file per sample. Writes are atomic; failures raise
:class:`~ebm_engine.errors.ExportError`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ebm_engine.atomic import write_bytes
from ebm_engine.data.ply import ply_bytes
from ebm_engine.errors import DataError, ExportError
from ebm_engine.export.layout import grid_offsets, numbered_paths

MESH_FORMATS = (".stl", ".obj", ".ply")


def voxels_to_mesh(voxels: np.ndarray, level: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Extract the ``level`` surface of one voxel grid.

    Parameters
    ----------
    voxels : np.ndarray
        ``(D, H, W)`` or ``(1, D, H, W)`` values (model space: -1 empty, +1 full).
    level : float
        Iso-value: 0 in model space, 0.5 in display space.

    Returns
    -------
    vertices : np.ndarray
        ``(V, 3)`` float32 in ``[-1, 1]³``.
    faces : np.ndarray
        ``(F, 3)`` int64; both empty when no cell is above ``level``.
    """
    from skimage.measure import marching_cubes

    grid = np.asarray(voxels, dtype=np.float32)
    if grid.ndim == 4 and grid.shape[0] == 1:
        grid = grid[0]
    if grid.ndim != 3:
        raise ExportError(f"voxel samples must be (1, D, H, W) grids, got shape {np.shape(voxels)}")
    empty = np.float32(
        min(level - 1.0, float(np.nanmin(grid)) if np.isfinite(grid).any() else level - 1.0)
    )
    # A diverged sampler's NaN/inf cells count as empty: the export still works.
    grid = np.where(np.isfinite(grid), grid, empty)
    if not grid.max() > level:  # nothing full (the empty padding closes the rest)
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int64)
    padded = np.pad(grid, 1, constant_values=empty)
    verts, faces, _, _ = marching_cubes(padded, level=level)
    step = 2.0 / np.array(grid.shape, dtype=np.float64)
    # Padded index p is cell p - 1, centred at -1 + (p - 1 + ½)·step.
    coords = -1.0 + (verts - 0.5) * step
    # marching_cubes winds the faces of a solid (high inside) inward: reversed, the
    # normals point out (slicers, back-face culling and volume tools need that)
    return coords.astype(np.float32), faces[:, ::-1].astype(np.int64)


def combine_meshes(
    meshes: list[tuple[np.ndarray, np.ndarray]], spacing: float = 2.5
) -> tuple[np.ndarray, np.ndarray]:
    """Place meshes on a grid (see :func:`~ebm_engine.export.layout.grid_offsets`)
    and merge them into one vertex and face list."""
    offsets = grid_offsets(len(meshes), spacing)
    verts, faces, base = [], [], 0
    for (v, f), off in zip(meshes, offsets):
        verts.append(v + off.astype(np.float32))
        faces.append(f + base)
        base += len(v)
    if not verts:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int64)
    return np.concatenate(verts), np.concatenate(faces)


def stl_bytes(vertices: np.ndarray, faces: np.ndarray) -> bytes:
    """Encode a triangle mesh as binary STL (normals from the winding)."""
    tri = np.asarray(vertices, dtype=np.float32)[np.asarray(faces, dtype=np.int64)]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    length = np.linalg.norm(normal, axis=1, keepdims=True)
    normal = np.divide(normal, length, out=np.zeros_like(normal), where=length > 0)
    rows = np.zeros(len(tri), dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")])
    rows["n"], rows["v"] = normal, tri
    header = b"binary STL written by EBM Studio".ljust(80, b" ")
    return header + np.uint32(len(tri)).astype("<u4").tobytes() + rows.tobytes()


def obj_bytes(vertices: np.ndarray, faces: np.ndarray) -> bytes:
    """Encode a triangle mesh as Wavefront OBJ text (1-based faces)."""
    v = np.asarray(vertices, dtype=np.float32).tolist()
    f = (np.asarray(faces, dtype=np.int64) + 1).tolist()
    lines = ["# written by EBM Studio"]
    lines += [f"v {a:.9g} {b:.9g} {c:.9g}" for a, b, c in v]
    lines += [f"f {a} {b} {c}" for a, b, c in f]
    return ("\n".join(lines) + "\n").encode("ascii")


def write_mesh(
    path: str | Path, vertices: np.ndarray, faces: np.ndarray, binary: bool = True
) -> Path:
    """Write a triangle mesh; the extension (``.stl``, ``.obj``, ``.ply``) picks the format.

    ``binary`` selects binary little-endian PLY (STL is always binary, OBJ
    always text). Atomic: the old file survives a failure.

    Raises
    ------
    ExportError
        Unsupported extension, or the file cannot be written.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext == ".stl":
        data = stl_bytes(vertices, faces)
    elif ext == ".obj":
        data = obj_bytes(vertices, faces)
    elif ext == ".ply":
        data = ply_bytes(vertices, faces, binary=binary)
    else:
        raise ExportError(
            f"{path}: unsupported mesh format {ext or '(none)'!r}; use {' '.join(MESH_FORMATS)}"
        )
    try:
        write_bytes(path, data)
    except OSError as exc:
        raise ExportError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return path


def _sample_meshes(samples: np.ndarray, level: float) -> list[tuple[np.ndarray, np.ndarray]]:
    x = np.asarray(samples)
    if x.ndim == 3:
        x = x[None]  # one bare grid
    if x.ndim == 4:
        x = x[:, None]  # (N, D, H, W), or one (1, D, H, W) grid
    if x.ndim != 5 or x.shape[1] != 1:
        raise ExportError(f"voxel samples must be (N, 1, D, H, W), got shape {np.shape(samples)}")
    return [voxels_to_mesh(g, level) for g in x]


def save_voxel_meshes(
    samples: np.ndarray,
    path: str | Path,
    level: float = 0.0,
    spacing: float = 2.5,
    binary: bool = True,
) -> Path:
    """Write every voxel sample's surface into one mesh file, laid out on a grid.

    Parameters
    ----------
    samples : np.ndarray
        ``(N, 1, D, H, W)`` grids (model space; ``level`` 0).
    path : str or Path
        ``.stl``, ``.obj`` or ``.ply``.
    level : float
        Iso-value (0.5 for display-space grids).
    spacing : float
        Distance between neighbouring shapes' centres (each spans 2).
    binary : bool
        Binary PLY (else ASCII).

    Raises
    ------
    ExportError
        Bad shape or format, no surface in any sample, or a write failure.
    """
    meshes = _sample_meshes(samples, level)
    vertices, faces = combine_meshes(meshes, spacing)
    if len(faces) == 0:
        raise ExportError(
            f"{path}: no surface at level {level:g}: every sample is all empty or all full"
        )
    return write_mesh(path, vertices, faces, binary)


def save_voxel_meshes_each(
    samples: np.ndarray, path: str | Path, level: float = 0.0, binary: bool = True
) -> list[Path]:
    """Write each voxel sample to its own file: ``shapes.stl`` →
    ``shapes_000.stl``, ``shapes_001.stl`` … (a sample without a surface
    gives an empty mesh file). Returns the paths written."""
    meshes = _sample_meshes(samples, level)
    return [
        write_mesh(p, v, f, binary) for p, (v, f) in zip(numbered_paths(path, len(meshes)), meshes)
    ]


def read_mesh(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read back an STL, OBJ or PLY mesh (for checks and round-trip tests).

    Returns
    -------
    vertices : np.ndarray
        ``(V, 3)`` float64 (STL: three per triangle, not merged).
    faces : np.ndarray
        ``(F, 3)`` int64.

    Raises
    ------
    ExportError
        The file is missing or not a valid mesh.
    """
    from ebm_engine.data.mesh_files import read_mesh_file

    try:
        return read_mesh_file(path)
    except DataError as exc:
        raise ExportError(str(exc)) from None
