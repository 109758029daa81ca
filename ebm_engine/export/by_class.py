"""Class-conditional samples as a grid with one row per class, its class's glyph first.

Used when the samples come with their class (``extras["sample_class"]``, one
label per sample, e.g. ``ebm sample`` of a symbol-vector run): row ``k``
holds the samples of the ``k``-th class present, in order, after a tile with
that class's glyph (the label tiles of the class-conditional models,
:func:`~ebm_engine.data.conditional_demos.glyph_bank`); shorter rows end in
blank tiles. A class with more samples than a square grid's width wraps onto
more rows, each led by its glyph (one class of 64 samples drawn as one row of
65 tiles was a thin strip). The app draws the same layout
(:mod:`app.views.image_grid`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ebm_engine.errors import ExportError


def class_glyphs(classes: np.ndarray, shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
    """Display-space (``[0, 1]``) glyph tiles of ``classes``, each of ``shape`` ``(C, H, W)``."""
    from ebm_engine.data.conditional_demos import glyph_bank

    classes = np.asarray(classes, dtype=np.int64).reshape(-1)
    c, h, w = shape
    bank = glyph_bank(int(classes.max(initial=0)) + 1, h, w).numpy()  # model space, [-1, 1]
    tiles = np.repeat((bank[classes] + 1) / 2, c, axis=1)
    if dtype == np.uint8:
        return (tiles * 255 + 0.5).astype(np.uint8)
    return tiles.astype(dtype)


def class_rows(images: np.ndarray, classes: np.ndarray
               ) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    """One class per row, its glyph first.

    Parameters
    ----------
    images : numpy.ndarray
        ``(N, C, H, W)`` display-space images.
    classes : numpy.ndarray
        The class of each image, ``(N,)``.

    Returns
    -------
    tiles : numpy.ndarray
        ``(rows · per_row, C, H, W)``: each row a glyph, then the class's images, then blanks.
    per_row : int
        Tiles per row: the glyph, then the most samples of one class, at most as many as
        a square grid of all the samples has columns (at least 8).
    index : numpy.ndarray
        For each tile, the index of its image in ``images`` (−1: a glyph or a blank).
    row_classes : numpy.ndarray
        The class of each row, top to bottom (a wrapped class: once per row).

    Raises
    ------
    ExportError
        Not one class per image.
    """
    classes = np.asarray(classes).reshape(-1)
    if len(classes) != len(images):
        raise ExportError(f"{len(classes)} sample classes for {len(images)} samples")
    present = np.unique(classes)
    members = [np.flatnonzero(classes == k) for k in present]
    wide = max(8, int(np.ceil(np.sqrt(len(classes)))))  # a square grid's columns
    per_row = 1 + min(max(len(m) for m in members), wide)
    rows: list[np.ndarray] = []
    row_classes = []
    for k, m in zip(present, members, strict=True):
        for start in range(0, len(m), per_row - 1):
            row = np.full(per_row, -1, dtype=np.int64)
            part = m[start:start + per_row - 1]
            row[1:1 + len(part)] = part
            rows.append(row)
            row_classes.append(k)
    row_classes = np.asarray(row_classes)
    index = np.concatenate(rows)
    tiles = np.zeros((len(index), *images.shape[1:]), dtype=images.dtype)
    tiles[index >= 0] = images[index[index >= 0]]
    tiles[::per_row] = class_glyphs(row_classes, images.shape[1:], images.dtype)
    return tiles, per_row, index, row_classes


def save_by_class_png(images: np.ndarray, classes: np.ndarray, path: str | Path,
                      upscale: int = 1) -> Path:
    """Write ``images`` (``(N, C, H, W)`` in ``[0, 1]``) as a PNG, one row per class."""
    from ebm_engine.export import save_grid_png

    tiles, per_row, _, _ = class_rows(np.asarray(images), classes)
    return save_grid_png(tiles, path, nrow=per_row, upscale=upscale)
