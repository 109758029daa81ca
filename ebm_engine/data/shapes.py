"""Procedural 3D shapes: the voxel and point-cloud demos (nothing downloaded).

Six categories built from four primitives: spheres, boxes, tori, cylinders,
and chairs and tables assembled from boxes (tables sometimes on round legs
or a pedestal). Every item draws its proportions, size, position and
orientation from a ``numpy.random.RandomState`` seeded with
``data.options["seed"]`` (default 0), so a demo is the same on every
machine. Chairs and tables only turn about the vertical axis (they stand on
the floor); the other shapes take any orientation.

Coordinates: a shape lives in the cube ``[-1, 1]³`` with ``z`` up. A voxel
grid ``(1, D, H, W)`` indexes ``(x, y, z)``: cell ``[i, j, k]`` is centred at
``(x_i, y_j, z_k)``, ``x_i = -1 + (i + ½)·2/D``, so voxels, point clouds and
meshes exported from either line up.

- ``shapes-voxels``: occupancy grids, ``data.image_size`` a side (0 → 16),
  -1 empty, +1 full.
- ``shapes-points``: ``data.options["points"]`` points (default 512) drawn
  uniformly on each shape's outer surface (faces hidden inside another
  part, like a leg's top under the seat, are not sampled).

Options for both: ``items`` (default 200), ``seed`` (0), ``categories``
(a subset of :data:`CATEGORIES`, e.g. ``["chair"]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ebm_engine.config import DataConfig
from ebm_engine.data._collect import int_option
from ebm_engine.data.catalogue import demo
from ebm_engine.data.dataset import Dataset
from ebm_engine.errors import DataError

CATEGORIES = ("sphere", "box", "torus", "cylinder", "chair", "table")

# Every shape fits inside [-MARGIN, MARGIN]³: point clouds stay inside the unit cube.
MARGIN = 0.95


@dataclass(frozen=True)
class Part:
    """One primitive in the object's frame (axis-aligned, ``z`` up).

    ``size`` is ``(r,)`` for a sphere, half extents ``(a, b, c)`` for a box,
    ``(R, r)`` (ring and tube radius) for a torus and ``(r, h)`` (radius,
    half height) for a cylinder.
    """

    kind: str
    center: tuple[float, float, float]
    size: tuple[float, ...]

    def area(self) -> float:
        s = self.size
        if self.kind == "sphere":
            return 4 * np.pi * s[0] ** 2
        if self.kind == "box":
            a, b, c = s
            return 8 * (a * b + b * c + a * c)
        if self.kind == "torus":
            return 4 * np.pi**2 * s[0] * s[1]
        r, h = s
        return 2 * np.pi * r * (2 * h) + 2 * np.pi * r**2

    def inside(self, p: np.ndarray, shrink: float = 0.0) -> np.ndarray:
        """Which of the points ``p`` (M, 3) lie inside the part shrunk by ``shrink``
        (a negative ``shrink`` grows it: boundary points count as inside)."""
        q = p - np.asarray(self.center, dtype=p.dtype)
        s = self.size
        if self.kind == "sphere":
            return (q**2).sum(1) <= (s[0] - shrink) ** 2
        if self.kind == "box":
            return np.all(np.abs(q) <= np.asarray(s, dtype=p.dtype) - shrink, axis=1)
        if self.kind == "torus":
            ring = np.hypot(q[:, 0], q[:, 1]) - s[0]
            return ring**2 + q[:, 2] ** 2 <= (s[1] - shrink) ** 2
        r, h = s
        return (q[:, 0] ** 2 + q[:, 1] ** 2 <= (r - shrink) ** 2) & (np.abs(q[:, 2]) <= h - shrink)

    def sample_surface(self, n: int, rng: np.random.RandomState) -> np.ndarray:
        """``n`` points uniform on the part's surface, shape ``(n, 3)``."""
        s = self.size
        if self.kind == "sphere":
            v = rng.normal(size=(n, 3))
            pts = v / np.linalg.norm(v, axis=1, keepdims=True) * s[0]
        elif self.kind == "box":
            half = np.asarray(s)
            # Pick a face pair by area, then a point on it and a side.
            areas = np.array([half[1] * half[2], half[0] * half[2], half[0] * half[1]])
            axis = rng.choice(3, size=n, p=areas / areas.sum())
            pts = rng.uniform(-1, 1, size=(n, 3)) * half
            side = np.where(rng.uniform(size=n) < 0.5, -1.0, 1.0)
            pts[np.arange(n), axis] = side * half[axis]
        elif self.kind == "torus":
            ring, tube = s
            # Area element ∝ (R + r cos v): rejection on v.
            v = np.empty(0)
            while v.size < n:
                cand = rng.uniform(0, 2 * np.pi, size=2 * n)
                keep = rng.uniform(size=2 * n) * (ring + tube) <= ring + tube * np.cos(cand)
                v = np.concatenate([v, cand[keep]])
            v = v[:n]
            u = rng.uniform(0, 2 * np.pi, size=n)
            rad = ring + tube * np.cos(v)
            pts = np.stack([rad * np.cos(u), rad * np.sin(u), tube * np.sin(v)], axis=1)
        else:
            r, h = s
            side_area, cap_area = 4 * np.pi * r * h, np.pi * r**2
            on_side = rng.uniform(size=n) < side_area / (side_area + 2 * cap_area)
            u = rng.uniform(0, 2 * np.pi, size=n)
            rad = np.where(on_side, r, r * np.sqrt(rng.uniform(size=n)))
            cap_z = np.where(rng.uniform(size=n) < 0.5, -h, h)
            z = np.where(on_side, rng.uniform(-h, h, size=n), cap_z)
            pts = np.stack([rad * np.cos(u), rad * np.sin(u), z], axis=1)
        return pts + np.asarray(self.center)


@dataclass(frozen=True)
class Shape:
    """A union of parts placed in the world: ``p_world = scale · R p_obj + offset``."""

    category: str
    parts: tuple[Part, ...]
    rotation: np.ndarray
    scale: float
    offset: np.ndarray

    def to_object(self, p: np.ndarray) -> np.ndarray:
        # Keep the caller's dtype: the voxeliser works in float32 for speed.
        rot = self.rotation.astype(p.dtype)
        return (p - self.offset.astype(p.dtype)) @ rot * p.dtype.type(1.0 / self.scale)

    def to_world(self, q: np.ndarray) -> np.ndarray:
        return q @ self.rotation.T * self.scale + self.offset

    def inside(self, p_world: np.ndarray) -> np.ndarray:
        q = self.to_object(p_world)
        hit = np.zeros(len(q), dtype=bool)
        for part in self.parts:
            hit |= part.inside(q)
        return hit


# --- building shapes ---------------------------------------------------------


def _chair(rng: np.random.RandomState) -> list[Part]:
    w, d = rng.uniform(0.38, 0.5), rng.uniform(0.38, 0.5)
    t = rng.uniform(0.07, 0.1)  # thick enough to survive a 16³ grid
    leg_h, back_h = rng.uniform(0.4, 0.6), rng.uniform(0.45, 0.7)
    parts = [Part("box", (0.0, 0.0, 0.0), (w, d, t))]
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(
                Part("box", (sx * (w - t), sy * (d - t), -t - leg_h / 2), (t, t, leg_h / 2))
            )
    parts.append(Part("box", (0.0, d - t, t + back_h / 2), (w, t, back_h / 2)))
    return parts


def _table(rng: np.random.RandomState) -> list[Part]:
    w, d = rng.uniform(0.6, 0.9), rng.uniform(0.4, 0.7)
    t, leg_h, lt = rng.uniform(0.06, 0.09), rng.uniform(0.5, 0.8), rng.uniform(0.07, 0.1)
    parts = [Part("box", (0.0, 0.0, 0.0), (w, d, t))]
    style = rng.uniform()
    if style < 0.25:  # pedestal: a column on a round foot
        parts.append(Part("cylinder", (0.0, 0.0, -t - leg_h / 2), (1.5 * lt, leg_h / 2)))
        parts.append(Part("cylinder", (0.0, 0.0, -t - leg_h + t / 2), (0.6 * min(w, d), t / 2)))
        return parts
    inset = rng.uniform(0.0, 0.1)
    for sx in (-1, 1):
        for sy in (-1, 1):
            c = (sx * (w - lt - inset), sy * (d - lt - inset), -t - leg_h / 2)
            if style < 0.5:
                parts.append(Part("cylinder", c, (lt, leg_h / 2)))
            else:
                parts.append(Part("box", c, (lt, lt, leg_h / 2)))
    return parts


def _parts(category: str, rng: np.random.RandomState) -> list[Part]:
    if category == "sphere":
        return [Part("sphere", (0.0, 0.0, 0.0), (1.0,))]
    if category == "box":
        return [Part("box", (0.0, 0.0, 0.0), tuple(rng.uniform(0.35, 1.0, size=3)))]
    if category == "torus":
        return [Part("torus", (0.0, 0.0, 0.0), (rng.uniform(0.55, 0.75), rng.uniform(0.18, 0.3)))]
    if category == "cylinder":
        return [Part("cylinder", (0.0, 0.0, 0.0), (rng.uniform(0.35, 0.7), rng.uniform(0.4, 1.0)))]
    if category == "chair":
        return _chair(rng)
    return _table(rng)


def _random_rotation(rng: np.random.RandomState, upright: bool) -> np.ndarray:
    if upright:
        a = rng.uniform(0, 2 * np.pi)
        c, s = np.cos(a), np.sin(a)
        return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    # Uniform on SO(3): a random unit quaternion.
    w, x, y, z = (v := rng.normal(size=4)) / np.linalg.norm(v)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def make_shape(category: str, rng: np.random.RandomState) -> Shape:
    """Draw one shape of ``category`` (one of :data:`CATEGORIES`).

    The shape is turned at random, scaled so its largest half-extent is
    0.55–0.95 and shifted at random while staying inside ``[-MARGIN, MARGIN]³``.
    """
    parts = _parts(category, rng)
    rotation = _random_rotation(rng, upright=category in ("chair", "table"))
    # Axis-aligned bounds of the turned shape (exact for spheres and boxes).
    centers = np.array([p.center for p in parts]) @ rotation.T
    extents = np.array([_half_extent(p, rotation) for p in parts])
    lo, hi = (centers - extents).min(0), (centers + extents).max(0)
    half = (hi - lo) / 2
    scale = rng.uniform(0.55, MARGIN) / half.max()
    room = MARGIN - scale * half
    offset = rng.uniform(-room, room) - scale * (lo + hi) / 2
    return Shape(category, tuple(parts), rotation, scale, offset)


def _half_extent(p: Part, rotation: np.ndarray) -> np.ndarray:
    """Half-extents of the part's axis-aligned bounds once turned by ``rotation``."""
    s = p.size
    if p.kind == "sphere":
        return np.full(3, s[0])
    if p.kind == "box":
        local = np.asarray(s)
    elif p.kind == "torus":
        local = np.array([s[0] + s[1], s[0] + s[1], s[1]])
    else:
        local = np.array([s[0], s[0], s[1]])
    return np.abs(rotation) @ local


def make_shapes(n: int, seed: int = 0, categories: tuple[str, ...] = CATEGORIES) -> list[Shape]:
    """``n`` shapes cycling through ``categories``, reproducible from ``seed``."""
    rng = np.random.RandomState(seed)
    return [make_shape(categories[i % len(categories)], rng) for i in range(n)]


# --- voxels and points ------------------------------------------------------


def voxelize(shape: Shape, size: int) -> np.ndarray:
    """Occupancy of ``shape`` on a ``size``³ grid (bool, ``(x, y, z)`` order).

    Below 32³ a cell is full when at least 2 of 8 sub-samples fall inside:
    unlike a single centre test this keeps a thin chair leg that straddles
    two cells. Each part is only tested in the cells of its bounding box.
    """
    h = 2.0 / size
    if size < 32:
        offsets = np.array([[a, b, c] for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)]) * h / 4
        need = 2
    else:
        offsets, need = np.zeros((1, 3)), 1
    hits = np.zeros((size, size, size, len(offsets)), dtype=bool)
    axis = (-1.0 + (np.arange(size) + 0.5) * h).astype(np.float32)
    offsets = offsets.astype(np.float32)
    for part in shape.parts:
        center = shape.to_world(np.asarray(part.center)[None])[0]
        extent = shape.scale * _half_extent(part, shape.rotation) + h
        lo = np.clip(np.floor((center - extent + 1.0) / h).astype(int), 0, size)
        hi = np.clip(np.ceil((center + extent + 1.0) / h).astype(int), 0, size)
        if np.any(hi <= lo):
            continue
        box = np.stack(np.meshgrid(*(axis[a:b] for a, b in zip(lo, hi)), indexing="ij"), axis=-1)
        samples = (box[..., None, :] + offsets).reshape(-1, 3)
        inside = part.inside(shape.to_object(samples)).reshape(*box.shape[:3], len(offsets))
        hits[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] |= inside
    return hits.sum(-1) >= need


def sample_points(shape: Shape, n: int, rng: np.random.RandomState) -> np.ndarray:
    """``n`` points uniform on the outer surface of ``shape`` (world frame)."""
    parts = shape.parts
    areas = np.array([p.area() for p in parts])
    kept: list[np.ndarray] = []
    total = 0
    while total < n:
        # Surface inside or touching another part (a leg's top under the seat,
        # the seat's bottom over it) is interior to the union: dropped.
        counts = rng.multinomial(2 * n, areas / areas.sum())
        for i, (part, k) in enumerate(zip(parts, counts)):
            if k == 0:
                continue
            pts = part.sample_surface(int(k), rng)
            hidden = np.zeros(len(pts), dtype=bool)
            for j, other in enumerate(parts):
                if j != i:
                    hidden |= other.inside(pts, shrink=-1e-6)
            kept.append(pts[~hidden])
            total += int((~hidden).sum())
    pts = np.concatenate(kept)
    pts = pts[rng.permutation(len(pts))[:n]]
    return shape.to_world(pts)


# --- demos ------------------------------------------------------------------


def _options(cfg: DataConfig) -> tuple[int, int, tuple[str, ...]]:
    opts: dict[str, Any] = cfg.options
    items = int_option(opts, "items", 200, 1, 100_000)
    seed = int_option(opts, "seed", 0, 0, 2**32 - 2)
    cats = opts.get("categories", list(CATEGORIES))
    if isinstance(cats, str):
        cats = [cats]
    bad = [c for c in cats if c not in CATEGORIES] if isinstance(cats, list) else [cats]
    if bad or not cats:
        raise DataError(
            f"data.options.categories must be a list of {list(CATEGORIES)}, got {cats!r}"
        )
    return items, seed, tuple(cats)


def _meta(shapes: list[Shape], cats: tuple[str, ...], **extra: Any) -> dict[str, Any]:
    labels = np.array([cats.index(s.category) for s in shapes], dtype=np.int64)
    return {"labels": labels, "class_names": list(cats), **extra}


@demo(
    "shapes-voxels",
    "voxel",
    "Procedural spheres, boxes, tori, cylinders, chairs and tables (16³ voxels)",
    expected_minutes=10,
    options=("items", "seed", "categories"),
)
def load_shapes_voxels(cfg: DataConfig) -> Dataset:
    """Voxel demo: ``(N, 1, S, S, S)`` occupancy in ``{-1, +1}``, ``S = data.image_size or 16``."""
    items, seed, cats = _options(cfg)
    size = cfg.image_size or 16
    if not 4 <= size <= 128:
        raise DataError(f"data.image_size must be 4..128 for voxel demos, got {size}")
    shapes = make_shapes(items, seed, cats)
    grids = np.stack([voxelize(s, size) for s in shapes])
    x = torch.from_numpy(grids[:, None].astype(np.float32) * 2.0 - 1.0)
    meta = _meta(shapes, cats, grid=size)
    return Dataset("shapes-voxels", "voxel", x, (-1.0, 1.0), meta)


@demo(
    "shapes-points",
    "pointcloud",
    "Procedural spheres, boxes, tori, cylinders, chairs and tables (512-point clouds)",
    expected_minutes=20,
    options=("items", "seed", "categories", "points"),
)
def load_shapes_points(cfg: DataConfig) -> Dataset:
    """Point-cloud demo: ``(N, P, 3)`` in ``[-1, 1]``, ``P = data.options["points"]`` (512)."""
    items, seed, cats = _options(cfg)
    n_points = int_option(cfg.options, "points", 512, 1, 100_000)
    shapes = make_shapes(items, seed, cats)
    # A separate stream for the surface samples keeps shapes identical to shapes-voxels.
    rng = np.random.RandomState(seed + 1)
    clouds = np.stack([sample_points(s, n_points, rng) for s in shapes]).astype(np.float32)
    x = torch.from_numpy(np.clip(clouds, -1.0, 1.0))
    return Dataset(
        "shapes-points", "pointcloud", x, (-1.0, 1.0), _meta(shapes, cats, points=n_points)
    )
