"""Image grids: a batch of display-space images tiled into one PNG."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

from ebm_engine.atomic import write_with
from ebm_engine.errors import ExportError


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Display values (float in ``[0, 1]`` or ``uint8``) as ``uint8``.

    Out-of-range values are clipped and NaN becomes black, so a diverging
    sampler still exports a picture instead of garbage or an exception.
    """
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return x
    x = np.nan_to_num(x.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def grid_columns(n: int, aspect: float = 1.0) -> int:
    """Columns of a grid of ``n`` tiles, each ``aspect`` times as wide as tall.

    The full rectangle (no short last row) whose overall shape is closest to
    square, at most 2.5 times as long one way as the other, the wider on a tie:
    32 square tiles → 8 × 4 (not 6 columns with a last row of 2); 64 saliency
    triptychs (3:1) → 4 × 16, not 8 × 8 (a strip three times as wide as tall).
    Without one, the squarest grid around ``sqrt(n / aspect)`` columns (7 → 3 × 3).

    Parameters
    ----------
    n : int
        Tiles.
    aspect : float
        Tile width over tile height.

    Returns
    -------
    int
        Columns, between 1 and ``n`` (1 for ``n <= 0``).
    """
    if n <= 0:
        return 1

    def squareness(cols: int) -> tuple[float, int]:
        rows = -(-n // cols)
        return round(abs(math.log(cols * aspect / rows)), 9), -cols  # rounded: a tie is a tie

    full = [cols for small in range(1, math.isqrt(n) + 1) if n % small == 0
            for cols in (small, n // small) if 1 / 2.5 <= cols * aspect / (n // cols) <= 2.5]
    if full:
        return min(full, key=squareness)
    around = math.sqrt(n / aspect)  # beyond 1 … n for very tall or very wide tiles
    low = min(n, max(1, math.floor(around)))
    return min(range(low, min(n, max(low, math.ceil(around) + 1)) + 1), key=squareness)


def make_grid(
    x: np.ndarray, nrow: int | None = None, pad: int = 2, pad_value: int = 0
) -> np.ndarray:
    """Tile display-space images into one RGB picture.

    Parameters
    ----------
    x : numpy.ndarray
        ``(N, C, H, W)`` images in ``[0, 1]`` (or ``uint8``); ``C`` is 1
        (grey) or 3 (RGB); a 4th (alpha) channel is dropped. ``(N, H, W)``
        is read as grey.
    nrow : int, optional
        Images per row; default :func:`grid_columns` (square-ish overall for the
        tiles' shape, full rows).
    pad : int
        Pixels between tiles and around the border.
    pad_value : int
        Grey level (0..255) of the padding.

    Returns
    -------
    numpy.ndarray
        ``(rows·(H+pad)+pad, nrow·(W+pad)+pad, 3)`` uint8. Tile ``i`` sits
        at row ``i // nrow``, column ``i % nrow``.

    Raises
    ------
    ValueError
        Wrong rank, no images, or a bad ``nrow``/``pad``.
    """
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[0] == 0:
        raise ValueError(f"make_grid needs (N, C, H, W) images with N >= 1, got shape {x.shape}")
    if pad < 0:
        raise ValueError(f"pad must be >= 0, got {pad}")
    n, c, h, w = x.shape
    if nrow is None:
        nrow = grid_columns(n, w / h)
    if nrow < 1:
        raise ValueError(f"nrow must be >= 1, got {nrow}")
    nrow = min(nrow, n)
    rows = math.ceil(n / nrow)
    tiles = to_uint8(x)
    tiles = np.repeat(tiles[:, :1], 3, axis=1) if c < 3 else tiles[:, :3]
    tiles = tiles.transpose(0, 2, 3, 1)  # (N, H, W, 3)
    grid = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad, 3), pad_value, dtype=np.uint8)
    for i in range(n):
        top = pad + (i // nrow) * (h + pad)
        left = pad + (i % nrow) * (w + pad)
        grid[top : top + h, left : left + w] = tiles[i]
    return grid


def upscale_nearest(img: np.ndarray, factor: int) -> np.ndarray:
    """Enlarge an ``(H, W, …)`` picture by an integer factor, keeping pixels crisp."""
    if factor <= 1:
        return img
    return np.repeat(np.repeat(img, factor, axis=0), factor, axis=1)


def save_grid_png(
    x: np.ndarray, path: str | Path, nrow: int | None = None, upscale: int = 1
) -> Path:
    """Write a grid of display-space images to a PNG file, atomically.

    Parameters
    ----------
    x : numpy.ndarray
        ``(N, C, H, W)`` images in ``[0, 1]``, as for :func:`make_grid`.
    path : str or Path
        Target ``.png`` file; its folder must exist.
    nrow : int, optional
        Images per row (default square-ish).
    upscale : int
        Integer nearest-neighbour enlargement (tiny samples stay crisp).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ExportError
        Not a ``.png`` path, missing or read-only folder, or bad images.
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ExportError(f"{path}: unsupported image format {path.suffix or '(none)'!r}; use .png")
    if upscale < 1:
        raise ExportError(f"{path}: upscale must be >= 1, got {upscale}")
    try:
        grid = upscale_nearest(make_grid(x, nrow=nrow), upscale)
    except ValueError as exc:
        raise ExportError(f"{path}: {exc}") from None
    try:
        write_with(path, lambda tmp: Image.fromarray(grid).save(tmp, format="PNG"))
    except OSError as exc:
        raise ExportError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return path
