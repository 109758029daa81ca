"""Translation figures: ``source | translated | reconstructed`` rows, one column per item.

What ``ebm sample --out x.png`` writes for a translation model
(:mod:`ebm_engine.methods.cycle_coop`, its ``sample_panels``): images as
tiles, trajectories drawn as strokes (the source dashed under the
translation and the reconstruction).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ebm_engine import atomic
from ebm_engine.data.dataset import to_display
from ebm_engine.errors import ExportError
from ebm_engine.export.images import make_grid

#: Panel names in row order.
ROWS = ("source", "translated", "reconstructed")
CELL = 96
#: Columns per band: more items wrap into further bands of the same rows, so a
#: 64-item figure is a page, not a 4000-pixel strip.
WRAP = 16
BAND_GAP = 8


def pairs_image(panels: dict[str, np.ndarray], kind: str, value_range,
                extent=None, scale: int = 4) -> np.ndarray:
    """The ``(H, W, 3)`` uint8 figure of ``panels`` (rows :data:`ROWS` that are present),
    in bands of at most :data:`WRAP` columns."""
    rows = [np.asarray(panels[k]) for k in ROWS if k in panels]
    if not rows or any(len(r) != len(rows[0]) for r in rows):
        raise ExportError("a translation figure needs source/translated rows of equal length")
    if kind == "trajectory" and extent is None:  # one box for every band
        extent = _extent(np.concatenate(rows))
    n = len(rows[0])
    bands = [_band([r[i:i + WRAP] for r in rows], kind, value_range, extent, scale)
             for i in range(0, n, WRAP)]
    width = max(b.shape[1] for b in bands)
    page = []
    for k, band in enumerate(bands):
        if k:
            page.append(np.full((BAND_GAP, width, 3), 255, np.uint8))
        page.append(np.pad(band, ((0, 0), (0, width - band.shape[1]), (0, 0)),
                           constant_values=255))
    return np.concatenate(page)


def _band(rows: list[np.ndarray], kind: str, value_range, extent, scale: int) -> np.ndarray:
    n = len(rows[0])
    if kind == "trajectory":
        from ebm_engine.export.trajectory import render_scene

        src = rows[0]
        cells = [[render_scene(r[i], None, src[i] if k else None, extent, CELL)
                  for i in range(n)] for k, r in enumerate(rows)]
        grid = np.full((len(rows) * (CELL + 2), n * (CELL + 2), 3), 90, np.uint8)
        for k, line in enumerate(cells):
            for i, cell in enumerate(line):
                grid[k * (CELL + 2) + 1:k * (CELL + 2) + 1 + CELL,
                     i * (CELL + 2) + 1:i * (CELL + 2) + 1 + CELL] = cell
        return grid
    if kind != "image":
        raise ExportError(f"no translation figure for {kind} data")
    tiles = np.concatenate([to_display(r, kind, value_range) for r in rows])
    grid = make_grid(tiles, nrow=n, pad=1, pad_value=60)
    return np.kron(grid, np.ones((scale, scale, 1), dtype=grid.dtype))


def _extent(points: np.ndarray) -> tuple[float, float, float, float]:
    pts = points.reshape(-1, 2)
    pts = pts[np.isfinite(pts).all(1)]
    lo, hi = pts.min(0), pts.max(0)
    half = float(max((hi - lo).max() / 2 * 1.1, 0.5))
    mid = (lo + hi) / 2
    return mid[0] - half, mid[0] + half, mid[1] - half, mid[1] + half


def export_pairs(panels: dict[str, np.ndarray], kind: str, value_range, path: str | Path,
                 extent=None, scale: int | None = None) -> Path:
    """Write the translation figure of ``panels`` to the PNG ``path`` (atomically); image
    tiles repeat each pixel ``scale`` times (default 4)."""
    from PIL import Image

    path = Path(path)
    image = pairs_image(panels, kind, value_range, extent, 4 if scale is None else scale)
    try:
        atomic.write_with(path, lambda tmp: Image.fromarray(image).save(tmp, format="PNG"))
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
