"""Class-conditional samples in the app: one class per row, led by its glyph, as the PNG
export draws them; image extras one above another where that draws them larger."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.app


def _sampled(n: int = 20, classes=None):
    from ebm_engine.learning.events import SamplesReady

    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (n, 1, 8, 8)).astype(np.float32)
    classes = np.arange(n) * 10 // n if classes is None else np.asarray(classes)
    return SamplesReady(5, "image", (-1.0, 1.0), x, np.zeros(n, np.float32),
                        extras={"sample_class": classes}, origin="sample")


def test_sampled_classes_lay_the_grid_out_one_class_per_row_as_the_export(qtbot, tmp_path):
    """symbol_vector's sampled grid mixed classes in 8 columns with an extras column that
    said only "shape 64"; the export had one class per row."""
    from PIL import Image

    from app.views.image_grid import prepare_class_rows
    from app.widgets.samples_area import SamplesArea
    from ebm_engine.data.dataset import to_display
    from ebm_engine.export.by_class import class_glyphs
    from ebm_engine.export.samples import export_samples

    area = SamplesArea()
    qtbot.addWidget(area)
    area.resize(700, 500)
    area.show()
    snap = _sampled()
    area.show_snapshot(snap)
    # the classes set the rows: no panel beside the grid for them
    assert area.extras.isHidden() and "sample_class" not in area.extras.widgets
    assert area.view_label.isVisible()
    assert "one class per row" in area.view_label.text() and "0–9" in area.view_label.text()
    grid = area.view.grid
    pixels = grid.last_grid
    # 10 rows of a glyph and 2 samples: the export's picture, tile for tile
    out = export_samples(snap.samples, "image", (-1.0, 1.0), tmp_path / "rows.png", scale=1,
                         extras={"sample_class": snap.extras["sample_class"]})
    exported = np.asarray(Image.open(out).convert("L"))
    assert pixels.shape[:2] == exported.shape == (10 * 10 + 2, 3 * 10 + 2)
    # row 3 starts with the glyph of class 3, then samples 6 and 7
    top, left = 2 + 3 * 10, 2
    glyph = (class_glyphs(np.array([3]), (1, 8, 8))[0, 0] * 255 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(pixels[top:top + 8, left:left + 8, 0], glyph)
    np.testing.assert_array_equal(exported[top:top + 8, left:left + 8], glyph)
    shown = (to_display(snap.samples[6, 0], "image", (-1.0, 1.0)) * 255 + 0.5).astype(np.uint8)
    np.testing.assert_allclose(pixels[top:top + 8, left + 10:left + 18, 0], shown, atol=1)
    # a click on a tile picks that sample's chain; on the glyph, none
    laid = prepare_class_rows(snap.samples, snap.extras["sample_class"], "image", (-1.0, 1.0))
    assert laid.sample_at(left + 10 + 3, top + 3) == 6
    assert laid.sample_at(left + 3, top + 3) is None


def test_one_class_and_gaps_are_said(qtbot):
    from app.views.image_grid import class_rows_caption

    assert class_rows_caption(np.full(5, 4)) == "all of class 4 (each row led by its glyph)"
    assert "classes 0, 2, 5" in class_rows_caption(np.array([0, 2, 2, 5]))


def test_training_snapshots_without_classes_keep_the_plain_grid(qtbot):
    from app.widgets.samples_area import SamplesArea
    from ebm_engine.learning.events import SamplesReady

    area = SamplesArea()
    qtbot.addWidget(area)
    area.show()
    snap = SamplesReady(1, "image", (-1.0, 1.0), np.zeros((16, 1, 8, 8), np.float32),
                        np.zeros(16, np.float32))
    area.show_snapshot(snap)
    assert not area.view_label.isVisible()
    assert area.view.grid.last_grid.shape[:2] == (4 * 10 + 2, 4 * 10 + 2)


def test_image_extras_stack_where_that_draws_them_larger(qtbot):
    """symbol_vector's samples by class and reconstructions were squeezed side by side
    into 120-px columns of a tall panel: digits 11 px tall."""
    from PySide6.QtWidgets import QBoxLayout

    from app.views.extras import ExtrasPanel, stacked_is_larger

    square = [(170, 190), (140, 70)]
    assert stacked_is_larger(square, 255, 460)  # tall, narrow: one above another
    assert not stacked_is_larger(square, 900, 200)  # wide, low: side by side
    assert not stacked_is_larger(square[:1], 100, 900)  # one grid: nothing to stack

    panel = ExtrasPanel()
    qtbot.addWidget(panel)
    extras = {"samples by class": np.zeros((1, 1, 169, 186), np.float32),
              "original | reconstruction": np.zeros((16, 1, 16, 33), np.float32)}
    panel.set_extras(extras, "image", (-1.0, 1.0))
    panel.resize(255, 460)
    panel.show()
    qtbot.waitUntil(lambda: panel.stacked, timeout=2000)
    panel.resize(900, 200)
    qtbot.waitUntil(lambda: not panel.stacked, timeout=2000)
    assert panel._layout.direction() == QBoxLayout.Direction.LeftToRight


def test_a_class_with_many_samples_wraps_onto_rows_each_led_by_its_glyph():
    """sample_class=4 for all 64 samples made one row of 65 tiles, each a few pixels."""
    from ebm_engine.export.by_class import class_glyphs, class_rows

    images = np.random.default_rng(1).uniform(0, 1, (64, 1, 8, 8)).astype(np.float32)
    tiles, per_row, index, row_classes = class_rows(images, np.full(64, 4))
    assert per_row == 9 and len(tiles) == 8 * 9 and list(row_classes) == [4] * 8
    glyph = class_glyphs(np.array([4]), (1, 8, 8))[0]
    assert all(np.array_equal(tiles[r * per_row], glyph) for r in range(8))
    assert sorted(index[index >= 0]) == list(range(64))  # every sample once, in order
    # two classes of 30 and 3: the larger wraps, the smaller keeps one row
    classes = np.r_[np.zeros(30, int), np.ones(3, int)]
    _, per_row, index, row_classes = class_rows(images[:33], classes)
    assert per_row == 9 and list(row_classes) == [0, 0, 0, 0, 1]
    assert list(index[-per_row:]) == [-1, 30, 31, 32, -1, -1, -1, -1, -1]
