"""Class-conditional samples as a grid with one row per class, its class's glyph first.

Used when the samples come with their class (``extras["sample_class"]``, one
label per sample, e.g. ``ebm sample`` of a symbol-vector run): row ``k``
holds the samples of the ``k``-th class present, in order, after a tile with
that class's glyph (the label tiles of the class-conditional models,
:func:`~ebm_engine.data.conditional_demos.glyph_bank`); shorter rows end in
blank tiles. A class with more samples than a square grid's width wraps onto
more rows, each led by its glyph (one class of 64 samples drawn as one row of
65 tiles was a thin strip). The app draws the same layout
(:mod:`app.views.image_grid`), and the symbol-vector method's snapshot mosaic
(:mod:`ebm_engine.methods.symbol_vector`) in model space, one row per class.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ebm_engine.errors import ExportError

#: Display space: where exported and drawn tiles live (model space is the data's range).
DISPLAY_RANGE = (0.0, 1.0)


def class_glyphs(classes: np.ndarray, shape: tuple[int, ...], dtype=np.float32,
                 value_range: tuple[float, float] = DISPLAY_RANGE) -> np.ndarray:
    """Glyph tiles of ``classes``, each of ``shape`` ``(C, H, W)``.

    Parameters
    ----------
    classes : numpy.ndarray
        The class of each tile.
    shape : tuple of int
        ``(C, H, W)`` of a tile (the glyph is repeated over the channels).
    dtype : numpy dtype
        ``uint8`` gives 0–255 display values; a float type, values in ``value_range``.
    value_range : (float, float)
        Where the glyph's background and ink go: display space ``(0, 1)`` by
        default, a model's ``(-1, 1)`` for a snapshot in model space.

    Returns
    -------
    numpy.ndarray
        ``(len(classes), C, H, W)``.
    """
    from ebm_engine.data.conditional_demos import glyph_bank

    classes = np.asarray(classes, dtype=np.int64).reshape(-1)
    c, h, w = shape
    bank = glyph_bank(int(classes.max(initial=0)) + 1, h, w).numpy()  # model space, [-1, 1]
    tiles = np.repeat((bank[classes] + 1) / 2, c, axis=1)  # 0 background, 1 ink
    if dtype == np.uint8:
        return (tiles * 255 + 0.5).astype(np.uint8)
    lo, hi = value_range
    return (lo + tiles * (hi - lo)).astype(dtype)  # glyphs are ±1 only: exact at the ends


def class_rows(images: np.ndarray, classes: np.ndarray, *, columns: int | None = None,
               value_range: tuple[float, float] = DISPLAY_RANGE,
               ) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    """One class per row, its glyph first.

    Parameters
    ----------
    images : numpy.ndarray
        ``(N, C, H, W)`` images in ``value_range``.
    classes : numpy.ndarray
        The class of each image, ``(N,)``.
    columns : int, optional
        Images per row after the glyph (a class with more wraps onto more rows).
        Default: the most images of one class, at most as many as a square grid of
        all the images has columns (at least 8).
    value_range : (float, float)
        The images' range: glyphs and blanks are drawn in it (blanks at its low end,
        the glyphs' background). Display space ``(0, 1)`` by default.

    Returns
    -------
    tiles : numpy.ndarray
        ``(rows · per_row, C, H, W)``: each row a glyph, then the class's images, then blanks.
    per_row : int
        Tiles per row: the glyph, then ``columns``.
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
    if columns is None:
        wide = max(8, int(np.ceil(np.sqrt(len(classes)))))  # a square grid's columns
        columns = min(max(len(m) for m in members), wide)
    per_row = 1 + max(int(columns), 1)
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
    tiles = np.full((len(index), *images.shape[1:]), value_range[0], dtype=images.dtype)
    tiles[index >= 0] = images[index[index >= 0]]
    tiles[::per_row] = class_glyphs(row_classes, images.shape[1:], images.dtype, value_range)
    return tiles, per_row, index, row_classes


def save_by_class_png(images: np.ndarray, classes: np.ndarray, path: str | Path,
                      upscale: int = 1) -> Path:
    """Write ``images`` (``(N, C, H, W)`` in ``[0, 1]``) as a PNG, one row per class."""
    from ebm_engine.export import save_grid_png

    tiles, per_row, _, _ = class_rows(np.asarray(images), classes)
    return save_grid_png(tiles, path, nrow=per_row, upscale=upscale)
