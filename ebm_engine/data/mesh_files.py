"""Mesh readers: ``.off`` (ModelNet), ``.obj``, ``.stl`` (ASCII and binary)
and ``.ply`` (via :mod:`ebm_engine.data.ply`), parsed with numpy.

Registered as ``mesh``. Each mesh becomes one item, either

- a voxel grid (``data.options["as"] = "voxel"``, the default): side
  ``data.image_size`` (0 → 32, the 3D DescriptorNet's size), the shape
  scaled to leave one empty cell at each border; or
- a point cloud (``"pointcloud"``): ``data.options["points"]`` (2048)
  points drawn uniformly on the surface (area-weighted), in ``[-1, 1]³``.

Both first centre the mesh on its bounding box and scale its largest
half-extent to 1, so a folder of meshes in different units lines up.
Voxel grids are stored as occupancy bytes (``2 u - 1``); both forms are kept
in the decoded-data cache (:mod:`ebm_engine.data.cache`), since voxelising
is slow.
A PLY file without faces is read as a point cloud. Header counts are
checked against the file's size before anything is allocated.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from ebm_engine.config import DataConfig
from ebm_engine.data import progress
from ebm_engine.data._collect import (
    check_total,
    choice_option,
    collect_files,
    int_option,
    read_limited,
)
from ebm_engine.data.catalogue import reader
from ebm_engine.data.dataset import Dataset
from ebm_engine.data.ply import read_ply, triangulate
from ebm_engine.data.pointcloud_files import (
    DEFAULT_POINTS,
    points_dataset,
    resample_points,
)
from ebm_engine.errors import DataError

MESH_EXTENSIONS = (".off", ".obj", ".stl", ".ply")

# Surface points used to mark a voxel shell; above this the mesh is too fine
# (or too large a grid) for this simple voxeliser.
MAX_SHELL_POINTS = 50_000_000


# --- parsers ----------------------------------------------------------------


def _text(path: Path, data: bytes) -> list[bytes]:
    return [ln for ln in data.splitlines() if ln.strip() and not ln.lstrip().startswith(b"#")]


def read_off(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an OFF file (also ModelNet's ``OFF<nv> <nf> <ne>`` run-together header)."""
    path = Path(path)
    data = read_limited(path)
    lines = _text(path, data)
    first = lines[0].split() if lines else []
    # "OFF", "COFF", "NOFF" …; ModelNet writes the counts right after: "OFF490 518 0".
    magic = re.match(rb"^[A-Z]*OFF(.*)$", first[0]) if first else None
    if magic is None:
        raise DataError(f"{path}: not an OFF file (no 'OFF' header)")
    counts_tok = [t for t in [magic.group(1), *first[1:]] if t]
    body = 1
    if len(counts_tok) < 2:
        counts_tok, body = lines[1].split() if len(lines) > 1 else [], 2
    try:
        nv, nf = int(counts_tok[0]), int(counts_tok[1])
        if nv < 0 or nf < 0:
            raise ValueError
    except (IndexError, ValueError):
        raise DataError(f"{path}: bad OFF counts line") from None
    # "0 0 0\n" is 6 bytes and "3 0 1 2\n" 8: refuse counts the file cannot hold.
    if 6 * nv + 8 * nf > len(data) or body + nv + nf > len(lines):
        raise DataError(
            f"{path}: OFF header declares {nv} vertices and {nf} faces, more than the file holds "
            "(truncated or corrupt file)"
        )
    try:
        vertices = np.array([ln.split()[:3] for ln in lines[body : body + nv]], dtype=np.float64)
        rows = [ln.split() for ln in lines[body + nv : body + nv + nf]]
        if rows and all(len(r) == len(rows[0]) for r in rows):
            table = np.array(rows, dtype=np.int64)
            k = int(table[0, 0])
            if not np.all(table[:, 0] == k) or table.shape[1] < k + 1:
                raise ValueError
            polys = table[:, 1 : 1 + k]
        else:
            polys = np.empty(len(rows), dtype=object)
            polys[:] = [np.array(r[1 : 1 + int(r[0])], dtype=np.int64) for r in rows]
            if any(len(p) != int(r[0]) for p, r in zip(polys, rows)):
                raise ValueError
    except ValueError:
        raise DataError(f"{path}: bad OFF vertex or face line") from None
    if vertices.shape != (nv, 3):
        raise DataError(f"{path}: an OFF vertex line has fewer than 3 coordinates")
    return vertices, triangulate(polys, nv, path)


def read_obj(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read the ``v`` and ``f`` lines of a Wavefront OBJ (``f 1/2/3 …``,
    negative indices counted back from the last vertex so far).

    Raises
    ------
    DataError
        A ``v`` or ``f`` line that does not parse; the message names its line number.
    """
    path = Path(path)
    data = read_limited(path)
    verts: list[list[float]] = []
    fans: list[list[int]] = []
    for number, line in enumerate(data.splitlines(), 1):
        try:
            if line.startswith(b"v "):
                xyz = [float(t) for t in line.split()[1:4]]
                if len(xyz) < 3:
                    raise ValueError
                verts.append(xyz)
            elif line.startswith(b"f "):
                idx = [int(t.split(b"/")[0]) for t in line.split()[1:]]
                if len(idx) < 3 or 0 in idx:
                    raise ValueError
                nv = len(verts)
                idx = [i - 1 if i > 0 else nv + i for i in idx]
                fans += [[idx[0], idx[i], idx[i + 1]] for i in range(1, len(idx) - 1)]
        except ValueError:
            what = "vertex (v x y z)" if line.startswith(b"v ") else "face (f i j k …)"
            shown = line.decode("utf-8", "replace").strip()
            shown = shown if len(shown) <= 60 else shown[:57] + "…"
            raise DataError(f"{path}: line {number} is not an OBJ {what} line: {shown!r}") from None
    vertices = np.array(verts, dtype=np.float64) if verts else np.zeros((0, 3))
    faces = np.array(fans, dtype=np.int64).reshape(-1, 3)
    return vertices, triangulate(faces, len(vertices), path)


def read_stl(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a binary or ASCII STL; returns per-triangle vertices (not merged)."""
    path = Path(path)
    data = read_limited(path)
    if len(data) >= 84:
        n = int(np.frombuffer(data, "<u4", 1, 80)[0])
        # Binary files may start with "solid" too: the size decides.
        if len(data) == 84 + 50 * n or not data.lstrip().startswith(b"solid"):
            if 84 + 50 * n > len(data):
                raise DataError(
                    f"{path}: binary STL declares {n} triangles but holds only "
                    f"{(len(data) - 84) // 50} (truncated or corrupt file)"
                )
            rows = np.frombuffer(data, [("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")], n, 84)
            with np.errstate(invalid="ignore"):  # signalling NaNs warn; read_mesh_file refuses them
                vertices = rows["v"].reshape(-1, 3).astype(np.float64)
            return vertices, np.arange(3 * n, dtype=np.int64).reshape(-1, 3)
    if not data.lstrip().startswith(b"solid"):
        raise DataError(f"{path}: not an STL file (too short for binary, no 'solid' header)")
    try:
        coords = [ln.split()[1:4] for ln in data.splitlines() if ln.lstrip().startswith(b"vertex")]
        vertices = np.array(coords, dtype=np.float64).reshape(-1, 3)
    except ValueError:
        raise DataError(f"{path}: bad ASCII STL vertex line") from None
    if len(vertices) % 3:
        raise DataError(f"{path}: ASCII STL has {len(vertices)} vertices, not a multiple of 3")
    return vertices, np.arange(len(vertices), dtype=np.int64).reshape(-1, 3)


def read_mesh_file(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a mesh by extension.

    Returns
    -------
    vertices : np.ndarray
        ``(V, 3)`` float64.
    faces : np.ndarray
        ``(F, 3)`` int64 triangles (may be empty for a PLY point cloud).

    Raises
    ------
    DataError
        Unknown extension, corrupt file, non-finite coordinates.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext == ".off":
        vertices, faces = read_off(path)
    elif ext == ".obj":
        vertices, faces = read_obj(path)
    elif ext == ".stl":
        vertices, faces = read_stl(path)
    elif ext == ".ply":
        mesh = read_ply(path)
        vertices, faces = mesh.vertices, mesh.faces
    else:
        raise DataError(f"{path}: not a mesh file ({' '.join(MESH_EXTENSIONS)})")
    if not np.all(np.isfinite(vertices)):
        raise DataError(f"{path}: holds NaN or infinite coordinates")
    return vertices, faces


# --- geometry ---------------------------------------------------------------


def normalize_mesh(
    vertices: np.ndarray, faces: np.ndarray, path: Path | str = "mesh"
) -> np.ndarray:
    """Centre the used vertices' bounding box and scale its largest half-extent to 1."""
    used = vertices[np.unique(faces)] if len(faces) else vertices
    if len(used) == 0:
        raise DataError(f"{path}: mesh has no vertices")
    lo, hi = used.min(0), used.max(0)
    half = float((hi - lo).max()) / 2
    if not half > 0:
        raise DataError(f"{path}: mesh is a single point; cannot scale to the unit cube")
    return (vertices - (lo + hi) / 2) / half


def sample_surface(
    vertices: np.ndarray, faces: np.ndarray, n: int, rng: np.random.RandomState
) -> np.ndarray:
    """``n`` points uniform on the mesh surface (triangle chosen by area)."""
    tri = vertices[faces]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    if not area.sum() > 0:
        raise DataError("mesh has zero surface area")
    pick = rng.choice(len(faces), size=n, p=area / area.sum())
    r1, r2 = np.sqrt(rng.uniform(size=(n, 1))), rng.uniform(size=(n, 1))
    t = tri[pick]
    return (1 - r1) * t[:, 0] + r1 * (1 - r2) * t[:, 1] + r1 * r2 * t[:, 2]


def _lattice(k: int) -> np.ndarray:
    """Barycentric weights of a triangle subdivided ``k`` times, ``(m, 3)``."""
    i, j = np.meshgrid(np.arange(k + 1), np.arange(k + 1), indexing="ij")
    keep = i + j <= k
    a, b = i[keep] / k, j[keep] / k
    return np.stack([1 - a - b, a, b], axis=1)


def voxelize_mesh(
    vertices: np.ndarray, faces: np.ndarray, size: int, path: Path | str = "mesh"
) -> np.ndarray:
    """Occupancy of a closed mesh on a ``size``³ grid over ``[-1, 1]³`` (bool).

    Every triangle is covered by a lattice of points at most half a cell
    apart; the cells they fall in form a shell with no face-connected gaps,
    and :func:`scipy.ndimage.binary_fill_holes` fills what the shell encloses.
    A mesh with holes larger than a cell gives its shell only.
    """
    h = 2.0 / size
    tri = vertices[faces]
    edges = np.stack([tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 1], tri[:, 0] - tri[:, 2]], axis=1)
    longest = np.linalg.norm(edges, axis=2).max(1)
    k = np.maximum(np.ceil(2.0 * longest / h).astype(np.int64), 1)
    total = int(((k + 1) * (k + 2) // 2).sum())
    if total > MAX_SHELL_POINTS:
        raise DataError(
            f"{path}: mesh too fine to voxelise at {size}³ ({total / 1e6:.0f}M surface points)"
        )
    grid = np.zeros((size, size, size), dtype=bool)
    for kk in np.unique(k):
        weights = _lattice(int(kk))
        group = tri[k == kk]
        step = max(1, 2_000_000 // len(weights))  # bounded memory per chunk
        for start in range(0, len(group), step):
            pts = np.einsum("mk,tkd->tmd", weights, group[start : start + step]).reshape(-1, 3)
            idx = np.clip(np.floor((pts + 1.0) / h).astype(np.int64), 0, size - 1)
            grid[idx[:, 0], idx[:, 1], idx[:, 2]] = True
    return ndimage.binary_fill_holes(grid)


# --- reader ---------------------------------------------------------------


@reader("mesh", MESH_EXTENSIONS, label="meshes", cacheable=True,
        options=("as", "points", "seed"))
def read_meshes(path: Path, cfg: DataConfig) -> Dataset:
    """Read one mesh, or every mesh under a folder, as voxels or point clouds.

    Parameters
    ----------
    path : Path
        A mesh file, or a folder of them.
    cfg : DataConfig
        ``image_size`` (voxel grid side, 0 → 32), ``options.as`` (``voxel`` or
        ``pointcloud``), ``options.points`` (2048), ``options.seed`` (0).
    """
    files = collect_files(path, MESH_EXTENSIONS, "mesh")
    files = files[: cfg.max_items] if cfg.max_items else files
    mode = choice_option(cfg.options, "as", "voxel", ("voxel", "pointcloud"))
    seed = int_option(cfg.options, "seed", 0, 0, 2**32 - 1)
    rng = np.random.RandomState(seed)
    if len(files) == 1 and files[0].suffix.lower() == ".ply" and path.is_file():
        mesh = read_ply(files[0])
        if len(mesh.faces) == 0:  # a PLY point cloud
            n = int_option(cfg.options, "points", DEFAULT_POINTS, 1, 1_000_000)
            if len(mesh.vertices) == 0:
                raise DataError(f"{path}: no points in this file")
            cloud = resample_points(mesh.vertices, n, rng)
            return points_dataset(path, [cloud], cfg, files)
    progress.expect(len(files))
    if mode == "pointcloud":
        n = int_option(cfg.options, "points", DEFAULT_POINTS, 1, 1_000_000)
        check_total(path, len(files), 3 * n)
        clouds = []
        for f in files:
            vertices, faces = _read_with_faces(f)
            clouds.append(sample_surface(normalize_mesh(vertices, faces, f), faces, n, rng))
            progress.advance()
        return points_dataset(path, clouds, cfg, files)
    size = cfg.image_size or 32
    if not 4 <= size <= 256:
        raise DataError(f"data.image_size must be 4..256 to voxelise meshes, got {size}")
    check_total(path, len(files), size**3)
    grids = np.empty((len(files), 1, size, size, size), dtype=np.uint8)
    for i, f in enumerate(files):
        vertices, faces = _read_with_faces(f)
        # One empty cell at each border: the shell never touches the edge,
        # so hole filling sees the outside as outside. (The hair under 1
        # keeps faces that land exactly on a cell edge out of the border.)
        unit = normalize_mesh(vertices, faces, f) * ((1.0 - 2.0 / size) * (1.0 - 1e-6))
        grids[i, 0] = voxelize_mesh(unit, faces, size, f)
        progress.advance()
    meta = {"files": [str(f) for f in files], "grid": size}
    return Dataset(str(path), "voxel", torch.from_numpy(grids), (-1.0, 1.0), meta,
                   scale=2.0, offset=-1.0)


def _read_with_faces(path: Path) -> tuple[np.ndarray, np.ndarray]:
    vertices, faces = read_mesh_file(path)
    if len(faces) == 0:
        raise DataError(
            f"{path}: mesh has no faces (a point cloud? read it with "
            "--set data.options.reader=pointcloud)"
        )
    return vertices, faces
