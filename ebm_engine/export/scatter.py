"""2D samples as a picture a person can read: dots over a light grid with axes.

A density raster of the plane (:func:`ebm_engine.export.samples.points_image`)
shows 64 samples as 64 single pixels on a white square; an exported grid or
chain animation of a 2D demo needs dots that can be seen and a scale to read
them against. Pure numpy; PIL writes the one line that says the scale.
"""

from __future__ import annotations

import numpy as np

SIZE = 512
"""Side of the picture, pixels."""

DOT = 0.12
CONTEXT = 0.78  # the training data beneath the samples: light, so the samples stand out
GRID = 0.90
AXIS = 0.65
LABEL = 0.35


def grid_step(limit: float) -> float:
    """A round grid spacing (1, 2 or 5 × 10^k) that gives 2–5 lines each side of 0."""
    raw = limit / 4.0
    power = 10.0 ** np.floor(np.log10(raw))
    for factor in (1.0, 2.0, 5.0, 10.0):
        if factor * power >= raw:
            return float(factor * power)
    return float(10.0 * power)


def dot_radius(n: int) -> int:
    """Pixels: large dots for a few samples, small ones where thousands overlap."""
    return 4 if n <= 200 else 3 if n <= 1000 else 2 if n <= 5000 else 1


def plane_of(points: np.ndarray) -> tuple[np.ndarray, str]:
    """Points of any dimension as the plane a scatter draws.

    2D points are themselves (``"x, y"``); other dimensions show their first
    two coordinates (1D: along x), said in the picture, rather than each
    sample cut into D/2 made-up points.

    Parameters
    ----------
    points : np.ndarray
        ``(N, D)`` (or ``(N, …)``, flattened per point).

    Returns
    -------
    plane : np.ndarray
        ``(N, 2)``.
    axes : str
        What the two axes are, for the caption.
    """
    pts = np.asarray(points, dtype=np.float64)
    pts = pts.reshape(len(pts), -1)
    d = pts.shape[1]
    if d == 2:
        return pts, "x, y"
    if d == 1:
        return np.concatenate([pts, np.zeros_like(pts)], 1), "x (1-D points)"
    return pts[:, :2], f"coordinates 1, 2 of {d}"


def scatter_image(points: np.ndarray, limit: float, size: int = SIZE,
                  axes: str = "x, y", under: np.ndarray | None = None) -> np.ndarray:
    """Draw ``(N, 2)`` points in the square ``[-limit, limit]²`` (y up);
    ``axes`` names them in the caption (:func:`plane_of`); ``under``, ``(M, 2)``
    context points (the training data), in light grey beneath them.

    Returns
    -------
    np.ndarray
        ``(1, size, size)`` grey levels in [0, 1]: white paper, a light grid at
        :func:`grid_step`, darker axes through 0, dark dots, and the scale written
        in the lower left corner.
    """
    img = np.ones((size, size), np.float32)

    def pixel(v: np.ndarray) -> np.ndarray:  # data → pixel column (x) or row from the bottom
        return np.round((v + limit) / (2 * limit) * (size - 1)).astype(int)

    step = grid_step(limit)
    ticks = np.arange(-np.floor(limit / step), np.floor(limit / step) + 1) * step
    for t in pixel(ticks):
        img[:, t] = np.minimum(img[:, t], GRID)
        img[size - 1 - t, :] = np.minimum(img[size - 1 - t, :], GRID)
    zero = int(pixel(np.zeros(1))[0])
    img[:, zero] = AXIS
    img[size - 1 - zero, :] = AXIS
    if under is not None:
        _dots(img, under, limit, pixel, CONTEXT, radius=1)
    _dots(img, points, limit, pixel, DOT)
    data = "; grey: training data" if under is not None else ""
    _write_scale(img, f"{axes} in [-{limit:.3g}, {limit:.3g}]; grid every {step:g}{data}")
    return img[None]


def _dots(img: np.ndarray, points: np.ndarray, limit: float, pixel, level: float,
          radius: int | None = None) -> None:
    """Round dots of grey ``level`` at the points inside the view (drawn over ``img``)."""
    size = img.shape[0]
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    pts = pts[np.isfinite(pts).all(1) & (np.abs(pts) <= limit).all(1)]
    cols, rows = pixel(pts[:, 0]), size - 1 - pixel(pts[:, 1])
    r = dot_radius(len(pts)) if radius is None else radius
    dy, dx = np.mgrid[-r:r + 1, -r:r + 1]
    disc = dx ** 2 + dy ** 2 <= r * r + r  # a round dot, not a square
    for oy, ox in zip(dy[disc], dx[disc], strict=True):
        y, x = np.clip(rows + oy, 0, size - 1), np.clip(cols + ox, 0, size - 1)
        img[y, x] = np.minimum(img[y, x], level)


def _write_scale(img: np.ndarray, text: str) -> None:
    from PIL import Image, ImageDraw

    canvas = Image.new("L", (img.shape[1], 14), 255)
    ImageDraw.Draw(canvas).text((4, 1), text, fill=0)
    ink = np.asarray(canvas, np.float32) < 128
    band = img[-16:-2]
    band[ink] = LABEL
