"""FRAME's extras in the app: the filter bank as a picture, potentials and histograms as small plots."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.app


def test_extras_panel_draws_whole_curve_sets_next_to_the_filter_bank(qtbot):
    import pyqtgraph as pg

    from app.views.extras import ExtrasPanel, is_curves

    panel = ExtrasPanel()
    qtbot.addWidget(panel)
    knots = np.linspace(-1, 1, 16, dtype=np.float32)
    potentials = np.stack([np.stack([knots, np.sin(k * knots)]) for k in range(7)])
    hist = np.stack([np.stack([knots, np.full(16, 1 / 16), np.full(16, 1 / 16)]) for _ in range(7)])
    bank = np.random.default_rng(0).standard_normal((1, 1, 28, 113)).astype(np.float32)
    extras = {"filter bank": bank, "potential curves": potentials,
              "response histogram curves": hist.astype(np.float32)}
    assert is_curves("potential curves", potentials) and not is_curves("filter bank", bank)
    panel.set_extras(extras, "image", (-1.0, 1.0))
    plots = panel.widgets["potential curves"].inner
    assert isinstance(plots, pg.GraphicsLayoutWidget) and len(plots.plots) == 7
    x, y = plots.plots[3].items_[0].getData()
    np.testing.assert_allclose(y, np.sin(3 * knots), rtol=1e-6)
    assert len(panel.widgets["response histogram curves"].inner.plots[0].items_) == 2  # data, samples
    # the next snapshot updates the same plots
    panel.set_extras({**extras, "potential curves": potentials * 2}, "image", (-1.0, 1.0))
    assert panel.widgets["potential curves"].inner is plots
    np.testing.assert_allclose(plots.plots[3].items_[0].getData()[1], 2 * np.sin(3 * knots), rtol=1e-6)


def test_the_samples_keep_half_the_width_when_extras_appear(qtbot):
    """FRAME's three extras took all but a 64-px column of the samples area by their
    size hints: the samples start with half of it."""
    from app.widgets.samples_area import SamplesArea
    from ebm_engine.learning.events import SamplesReady

    area = SamplesArea()
    qtbot.addWidget(area)
    area.resize(900, 600)
    area.show()
    knots = np.linspace(-1, 1, 16, dtype=np.float32)
    curves = np.stack([np.stack([knots, np.sin(k * knots)]) for k in range(9)]).astype(np.float32)
    extras = {"filter bank": np.zeros((1, 1, 28, 113), np.float32),
              "potential curves": curves, "response histogram curves": curves}
    snap = SamplesReady(1, "image", (-1.0, 1.0), np.zeros((4, 1, 64, 64), np.float32),
                        np.zeros(4, np.float32), extras=extras)
    area.show_snapshot(snap)

    def halved() -> bool:  # the extras in, beside a grid of at least half the width
        samples, beside = area.split.sizes()
        return beside > 0 and samples >= 0.45 * (samples + beside)

    qtbot.waitUntil(halved, timeout=2000)
    # and the extras have the other half (with a scroll area they were left a sliver)
    samples, beside = area.split.sizes()
    assert beside >= 0.45 * (samples + beside)


def test_squeezed_extras_scroll_instead_of_cutting_plots_off(qtbot):
    """FRAME's plots were cut off at the panel's right edge with no sign of more."""
    from app.views.extras import ExtrasPanel

    panel = ExtrasPanel()
    qtbot.addWidget(panel)
    knots = np.linspace(-1, 1, 16, dtype=np.float32)
    curves = np.stack([np.stack([knots, np.sin(k * knots)]) for k in range(9)]).astype(np.float32)
    panel.set_extras({"filter bank": np.zeros((1, 1, 28, 113), np.float32),
                      "potential curves": curves, "response histogram curves": curves},
                     "image", (-1.0, 1.0))
    panel.resize(250, 400)
    panel.show()
    bar = panel.scroll.horizontalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0, timeout=2000)
    assert panel.wanted_width() > 250
    panel.resize(panel.wanted_width() + 40, 400)
    qtbot.waitUntil(lambda: bar.maximum() == 0, timeout=2000)  # room for all: no bar


def test_a_pretrained_frame_models_samples_bring_what_it_learned(qtbot, tmp_path):
    """About promises the filter bank and the potentials beside the samples; after Load
    pretrained or Sample only there were none (training snapshots alone carried them)."""
    from app.testing import WAIT_MS, make_window, shutdown
    from ebm_engine.runs import zoo

    window = make_window(qtbot, tmp_path, demo="frame-texture", knobs=())
    try:
        with qtbot.waitSignal(window.controller.sigSnapshot, timeout=WAIT_MS * 3,
                              check_params_cb=lambda s: s.origin == "sample") as got:
            window.load_pretrained(zoo.resolve("zoo:frame-texture-frame"))
        assert {"filter bank", "potential curves"} <= set(got.args[0].extras)
        qtbot.waitUntil(lambda: "potential curves" in window.extras.widgets, timeout=WAIT_MS)
        assert window.errors == []
    finally:
        shutdown(window)
