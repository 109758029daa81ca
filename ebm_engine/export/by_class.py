"""Class-conditional samples as a PNG grid with one row per class.

Used when the samples come with their class (``extras["sample_class"]``, one
label per sample, e.g. ``ebm sample`` of a symbol-vector run): row ``k``
holds the samples of the ``k``-th class present, in order; shorter rows end
in blank tiles.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ebm_engine.errors import ExportError


def rows_by_class(images: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, int]:
    """``(tiles, per_row)``: ``images`` (display space) regrouped one class per row."""
    classes = np.asarray(classes).reshape(-1)
    if len(classes) != len(images):
        raise ExportError(f"{len(classes)} sample classes for {len(images)} samples")
    groups = [images[classes == k] for k in np.unique(classes)]
    per_row = max(len(g) for g in groups)
    blank = np.zeros((1, *images.shape[1:]), dtype=images.dtype)
    tiles = [np.concatenate([g, np.repeat(blank, per_row - len(g), 0)]) for g in groups]
    return np.concatenate(tiles), per_row


def save_by_class_png(images: np.ndarray, classes: np.ndarray, path: str | Path,
                      upscale: int = 1) -> Path:
    """Write ``images`` (``(N, C, H, W)`` in ``[0, 1]``) as a PNG, one row per class."""
    from ebm_engine.export import save_grid_png

    tiles, per_row = rows_by_class(np.asarray(images), classes)
    return save_grid_png(tiles, path, nrow=per_row, upscale=upscale)
