"""Trajectory data: what rides along with each item, and the geometry of 2D scenes.

A ``trajectory`` item is ``(T, 2)`` float32 positions in scene coordinates
(unbounded, ``value_range`` ``None``). What conditions an item lives in
``dataset.meta`` as arrays aligned with the items (row ``i`` belongs to
item ``i``); ``meta["conditions"]`` names those keys, so generic code
(:func:`condition_rows`) takes the rows of a batch without knowing them:

==============  ================  ==============================================
meta key        shape             meaning
==============  ================  ==============================================
``scenes``      ``(N, 4 + 3M)``   start ``x y``, goal ``x y``, then ``M``
                                  circular obstacles ``cx cy r`` (``r = 0``:
                                  no obstacle); see :func:`split_scenes`
``observed``    ``(N, T_obs, 2)`` positions seen before the item (prediction
                                  tasks: the item continues ``observed[:, -1]``)
==============  ================  ==============================================

``meta["extent"]`` (``xmin, xmax, ymin, ymax``) is the region views show;
it travels in the checkpoint's :class:`~ebm_engine.methods.base.DataSpec`.

Snapshots of trajectory samples (``SamplesReady.extras``, and the last
chain frame's ``extras`` when sampling) carry per-sample arrays under the
same names (``scenes``, ``observed``), plus optionally ``reference``
``(n, T, 2)`` (the expert or ground-truth trajectory of each sample's
condition), ``cost_map`` ``(1, H, W)`` with ``cost_extent`` ``(1, 4)`` (a
learned per-position cost over the plane for the first sample's scene,
lower = cheaper) — what :mod:`app.views.trajectory_view` draws.
"""

from __future__ import annotations

import numpy as np

#: Per-sample snapshot arrays that describe trajectory samples (kept for followers).
DISPLAY_KEYS = ("scenes", "observed", "reference", "cost_map", "cost_extent")


def scene_size(max_obstacles: int) -> int:
    """Length of one ``scenes`` row with room for ``max_obstacles`` obstacles."""
    return 4 + 3 * max_obstacles


def split_scenes(scenes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(start (N,2), goal (N,2), centres (N,M,2), radii (N,M))`` of ``scenes`` rows.

    Works on numpy arrays and torch tensors alike (only slicing and reshape).
    """
    n = scenes.shape[0]
    obstacles = scenes[:, 4:].reshape(n, -1, 3)
    return scenes[:, 0:2], scenes[:, 2:4], obstacles[..., :2], obstacles[..., 2]


def make_scenes(start: np.ndarray, goal: np.ndarray, centres: np.ndarray,
                radii: np.ndarray) -> np.ndarray:
    """Rows of ``scenes`` from their parts (the inverse of :func:`split_scenes`)."""
    n = start.shape[0]
    obstacles = np.concatenate([centres, radii[..., None]], axis=-1).reshape(n, -1)
    return np.concatenate([start, goal, obstacles], axis=1).astype(np.float32)


def condition_rows(meta: dict, index) -> dict[str, np.ndarray]:
    """The per-item conditions (``meta["conditions"]`` keys) of rows ``index``."""
    return {k: np.asarray(meta[k])[np.asarray(index)] for k in meta.get("conditions", ())}


def segment_clearance(paths: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Smallest distance from each path's segments to an obstacle's rim, ``(N,)``.

    Negative where a segment enters an obstacle. ``paths`` is ``(N, T, 2)``;
    obstacles with radius 0 are ignored.
    """
    a, b = paths[:, :-1, None, :], paths[:, 1:, None, :]          # (N, T-1, 1, 2)
    c = centres[:, None, :, :]                                     # (N, 1, M, 2)
    ab = b - a
    t = np.clip(((c - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0.0, 1.0)
    nearest = a + t[..., None] * ab
    dist = np.linalg.norm(nearest - c, axis=-1) - radii[:, None, :]  # (N, T-1, M)
    dist = np.where(radii[:, None, :] > 0, dist, np.inf)
    return dist.min(axis=(1, 2)) if dist.shape[2] else np.full(paths.shape[0], np.inf)
