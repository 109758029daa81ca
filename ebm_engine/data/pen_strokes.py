"""Pen strokes of six shapes in two drawing styles: the unpaired sequence-translation demo.

``sequence-translation`` (cycle-consistent cooperative networks on
sequences, :mod:`ebm_engine.methods.cycle_coop`): every item is a
``trajectory`` ``(T, 2)``, a pen tip's positions along one stroke of a
shape (circle, triangle, square, figure eight, zigzag, spiral), resampled
to equal arc length. The two domains share the shapes and differ in style:

- domain 0, *smooth*: upright, clean, uniform speed;
- domain 1, *jittery*: slanted (shear), a fast wobble across the stroke,
  hand tremor noise, and a pen that speeds up and slows down.

Size, rotation and position vary in both. The domains are drawn
independently, so no item of one is the translation of an item of the
other; the shape (``meta["labels"]``) is kept for the metrics only.
"""

from __future__ import annotations

import numpy as np
import torch

from ebm_engine.config import DataConfig
from ebm_engine.data._collect import int_option
from ebm_engine.data.catalogue import demo
from ebm_engine.data.dataset import Dataset
from ebm_engine.errors import DataError

SHAPES = ("circle", "triangle", "square", "eight", "zigzag", "spiral")
STYLES = ("smooth", "jittery")
LENGTH = 32
EXTENT = (-1.8, 1.8, -1.8, 1.8)


def _outline(shape: str, m: int = 400) -> np.ndarray:
    """A dense ``(m, 2)`` polyline of ``shape`` in about ``[-1, 1]²``."""
    t = np.linspace(0.0, 1.0, m)
    if shape == "circle":
        return np.stack([np.cos(2 * np.pi * t + np.pi / 2), np.sin(2 * np.pi * t + np.pi / 2)], 1)
    if shape == "eight":
        u = 2 * np.pi * t
        return np.stack([np.sin(u), np.sin(u) * np.cos(u) * 1.6], 1)[:, ::-1]
    if shape == "spiral":
        r, u = 0.15 + 0.85 * t, 4 * np.pi * t
        return np.stack([r * np.cos(u), r * np.sin(u)], 1)
    corners = {
        "triangle": [(0, 1), (-0.95, -0.7), (0.95, -0.7), (0, 1)],
        "square": [(-0.8, 0.8), (-0.8, -0.8), (0.8, -0.8), (0.8, 0.8), (-0.8, 0.8)],
        "zigzag": [(-1, 0.8), (-0.5, -0.8), (0, 0.8), (0.5, -0.8), (1, 0.8)],
    }[shape]
    return np.asarray(corners, dtype=np.float64)


def resample(path: np.ndarray, n: int, speed: np.ndarray | None = None) -> np.ndarray:
    """``n`` points along ``path`` at equal arc length (or at arc fractions ``speed``)."""
    seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)]) / max(seg.sum(), 1e-12)
    where = np.linspace(0.0, 1.0, n) if speed is None else speed
    return np.stack([np.interp(where, arc, path[:, k]) for k in range(2)], 1)


def draw_stroke(shape: str, style: str, rng: np.random.Generator) -> np.ndarray:
    """One ``(LENGTH, 2)`` stroke of ``shape`` in ``style`` (random size, turn, place)."""
    base = _outline(shape)
    t = np.linspace(0.0, 1.0, LENGTH)
    if style == "jittery":  # the pen accelerates and slows down
        speed = np.clip(t + 0.06 * np.sin(2 * np.pi * t + rng.uniform(0, 2 * np.pi)) * np.sin(
            np.pi * t), 0.0, 1.0)
        pts = resample(base, LENGTH, np.maximum.accumulate(speed))
    else:
        pts = resample(base, LENGTH)
    angle = np.deg2rad(rng.uniform(-12, 12))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    pts = pts @ rot.T * rng.uniform(0.75, 1.0)
    if style == "jittery":
        pts[:, 0] += 0.45 * pts[:, 1]                       # slant
        tangent = np.gradient(pts, axis=0)
        normal = np.stack([-tangent[:, 1], tangent[:, 0]], 1)
        normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-9
        wobble = 0.05 * np.sin(2 * np.pi * 6 * t + rng.uniform(0, 2 * np.pi))
        pts += normal * wobble[:, None] + rng.normal(0.0, 0.01, pts.shape)
    pts += rng.uniform(-0.15, 0.15, size=2)
    return pts.astype(np.float32)


def pen_strokes(n_per_shape: int, style: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(6·n_per_shape, LENGTH, 2)`` strokes in ``style`` and their shape labels."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(SHAPES)), n_per_shape)
    strokes = np.stack([draw_stroke(SHAPES[k], style, rng) for k in labels])
    return strokes, labels.astype(np.int64)


@demo("sequence-translation", "trajectory",
      "Pen strokes, smooth ↔ jittery style: unpaired sequence translation (cycle-consistent CoopNets)",
      expected_minutes=6, options=("per_shape",))
def load_sequence_translation(cfg: DataConfig) -> Dataset:
    """Smooth strokes (domain 0) and jittery slanted strokes (domain 1), unpaired.

    ``data.options.per_shape`` sets the strokes per shape and domain (default 100).
    """
    per_shape = int_option(cfg.options, "per_shape", 100, 2, 10_000)
    if per_shape < 2:
        raise DataError(f"data.options.per_shape must be >= 2, got {per_shape}")
    smooth, labels_a = pen_strokes(per_shape, "smooth", seed=1)
    jittery, labels_b = pen_strokes(per_shape, "jittery", seed=2)
    items = torch.from_numpy(np.concatenate([smooth, jittery]))
    domain = np.repeat([0, 1], [len(smooth), len(jittery)]).astype(np.int64)
    return Dataset("sequence-translation", "trajectory", items, None,
                   {"labels": np.concatenate([labels_a, labels_b]), "domain": domain,
                    "domains": list(STYLES), "classes": list(SHAPES), "extent": list(EXTENT),
                    "thumbnail_items": np.stack([smooth[0], smooth[-1], jittery[0], jittery[-1]])})
