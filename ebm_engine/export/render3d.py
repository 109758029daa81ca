"""3D samples as pictures: depth-shaded dots seen from one fixed corner.

An exported grid of point clouds or voxel grids (``ebm sample … --out
grid.png``) needs no OpenGL: each sample is turned to a three-quarter view
(:data:`AZIMUTH`, :data:`ELEVATION`), projected orthographically and drawn far
to near as dots, nearer ones darker, on white. A voxel grid is drawn as the
centres of its occupied cells (above the surface level 0, as the mesh export),
each a dot about a cell wide. Pure numpy.
"""

from __future__ import annotations

import numpy as np

CELL = 160
"""Side of one sample's picture, pixels."""

AZIMUTH = np.deg2rad(35.0)
ELEVATION = np.deg2rad(25.0)
FAR, NEAR = 0.85, 0.05  # grey levels of the farthest and nearest dots


def _view(points: np.ndarray) -> np.ndarray:
    """``(P, 3)`` x, y, z (up, as :mod:`ebm_engine.data.shapes`) → screen x, screen y
    (up) and depth (larger: nearer)."""
    ca, sa, ce, se = np.cos(AZIMUTH), np.sin(AZIMUTH), np.cos(ELEVATION), np.sin(ELEVATION)
    x, y, z = points[:, 0], points[:, 2], -points[:, 1]  # y up, z towards the viewer
    x1, z1 = ca * x + sa * z, -sa * x + ca * z       # turn about the vertical axis
    y2, z2 = ce * y - se * z1, se * y + ce * z1      # tilt towards the viewer
    return np.stack([x1, y2, z2], 1)


def dots_picture(points: np.ndarray, radius: int, size: int = CELL,
                 half: float | None = None) -> np.ndarray:
    """Draw points as depth-shaded dots seen from the fixed corner.

    Parameters
    ----------
    points : np.ndarray
        ``(P, 3)`` x, y, z (z up); non-finite points are left out.
    radius : int
        Dot radius, pixels.
    size : int
        Side of the picture, pixels.
    half : float, optional
        Half-width of the cube drawn (default: the points' own extent).

    Returns
    -------
    np.ndarray
        ``(size, size)`` grey levels in [0, 1], white where nothing is.
    """
    pts = np.asarray(points, np.float64).reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(1)]
    img = np.ones((size, size), np.float32)
    if not len(pts):
        return img
    half = half or max(float(np.abs(pts).max()), 1e-6)
    v = _view(pts / half)  # within the unit cube's view: |v| <= sqrt(3)
    span = np.sqrt(3.0)
    cols = np.round((v[:, 0] / span + 1) / 2 * (size - 1)).astype(int)
    rows = np.round((1 - (v[:, 1] / span + 1) / 2) * (size - 1)).astype(int)
    near, far = float(v[:, 2].max()), float(v[:, 2].min())
    depth = (v[:, 2] - far) / max(near - far, 1e-9)  # 0 far … 1 near, over this shape
    # A depth buffer: each pixel keeps its nearest dot (every dot at once, per disc offset).
    nearest = np.full((size, size), -1.0)
    dy, dx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    disc = dx ** 2 + dy ** 2 <= radius * radius + radius
    for oy, ox in zip(dy[disc], dx[disc], strict=True):
        np.maximum.at(nearest, (np.clip(rows + oy, 0, size - 1), np.clip(cols + ox, 0, size - 1)),
                      depth)
    drawn = nearest >= 0
    img[drawn] = (FAR + (NEAR - FAR) * nearest[drawn]).astype(np.float32)
    return img


def cloud_pictures(clouds: np.ndarray, size: int = CELL) -> np.ndarray:
    """Pictures of point clouds (:func:`dots_picture`).

    Parameters
    ----------
    clouds : np.ndarray
        ``(N, P, 3)`` in ``[-1, 1]³``, z up.
    size : int
        Side of each picture, pixels.

    Returns
    -------
    np.ndarray
        ``(N, 1, size, size)`` grey levels in [0, 1].
    """
    clouds = np.asarray(clouds)
    radius = 2 if clouds.shape[1] <= 1024 else 1
    return np.stack([dots_picture(c, radius, size, half=1.0) for c in clouds])[:, None]


def voxel_pictures(grids: np.ndarray, size: int = CELL, level: float = 0.0) -> np.ndarray:
    """Pictures of voxel grids: the centres of their full cells as dots about a cell wide.

    Parameters
    ----------
    grids : np.ndarray
        ``(N, [1,] D, H, W)`` in model space, indexed ``(x, y, z)`` with z up.
    size : int
        Side of each picture, pixels.
    level : float
        A cell is full above it (as the mesh export's surface).

    Returns
    -------
    np.ndarray
        ``(N, 1, size, size)`` grey levels in [0, 1].
    """
    grids = np.asarray(grids)
    if grids.ndim == 5:
        grids = grids[:, 0]
    d = max(grids.shape[1:])
    radius = max(1, int(round(size / d / 2.4)))
    out = []
    for g in grids:
        cells = np.stack(np.nonzero(g > level), 1)
        centres = (cells + 0.5) / np.array(g.shape) * 2 - 1
        out.append(dots_picture(centres, radius, size, half=1.0))
    return np.stack(out)[:, None]
