"""Help → Learn: the five concepts open from the real menu, and every live demo runs and stops."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from app.testing import WAIT_MS, make_window

pytestmark = pytest.mark.app


def _learn_action(window):
    return next(a for a in window.help_menu.actions() if a.text().replace("&", "") == "Learn…")


def test_learn_opens_from_the_help_menu_and_every_demo_runs_and_stops(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path, knobs=())
    _learn_action(window).trigger()
    dialog = window._learn
    assert dialog is not None and dialog.isVisible()
    titles = [dialog.list.item(i).text() for i in range(dialog.list.count())]
    assert len(titles) == 5 and "Short-run vs persistent MCMC" in titles
    for row in range(dialog.list.count()):
        dialog.list.setCurrentRow(row)
        assert dialog.text.toPlainText().strip(), titles[row]  # the page is shown
        with qtbot.waitSignal(dialog.runner.sigFrame, timeout=WAIT_MS):
            qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: dialog.canvas.frames_drawn >= 1, timeout=WAIT_MS)
        assert dialog.stop_button.isEnabled() or dialog.runner.state == "finished"
        frame = dialog.canvas.frame
        assert frame.iteration >= 1 and frame.caption in dialog.caption.text()
        plane = next(p for p in frame.plots if p.plane)  # the drawn plane: a heat map or points
        roles = [getattr(layer, "role", "heat") for layer in plane.layers]
        assert all(dialog.canvas.layer_data(plane.title, r).size for r in roles), roles
        if dialog.concept.name == "short-run-vs-persistent":  # two sample sets, side by side
            short = dialog.canvas.layer_data(frame.plots[0].title, "short-run")
            persistent = dialog.canvas.layer_data(frame.plots[1].title, "persistent")
            assert len(short) > 0 and len(persistent) > 0
        with qtbot.waitSignal(dialog.runner.sigStateChanged, timeout=WAIT_MS):
            qtbot.mouseClick(dialog.stop_button, Qt.MouseButton.LeftButton)
        assert dialog.runner.state == "stopped" and not dialog.runner.busy
        assert dialog.run_button.isEnabled() and not dialog.stop_button.isEnabled()
    # its Close button closes it and stops a running demo
    dialog.list.setCurrentRow(0)
    with qtbot.waitSignal(dialog.runner.sigFrame, timeout=WAIT_MS):
        dialog.run_demo()
    close = dialog.findChild(QDialogButtonBox, "learn_buttons").button(
        QDialogButtonBox.StandardButton.Close)
    qtbot.mouseClick(close, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible() and not dialog.runner.busy
    _learn_action(window).trigger()
    assert dialog.isVisible()
    # closing the main window stops a running demo too
    with qtbot.waitSignal(dialog.runner.sigFrame, timeout=WAIT_MS):
        dialog.run_demo()
    window.close()
    assert not dialog.runner.busy and window.errors == []


def test_curve_keys_sit_in_the_titles_not_over_the_newest_points(qtbot):
    """A legend box in the plot's top corner hid the last iterations of the curves under
    it; the key is a line under the title, in the curves' colours, and nothing lies over
    the plotted area."""
    import numpy as np
    import pyqtgraph as pg

    from app.views.curves import CurvesView
    from app.widgets.learn_plots import LABELS, ROLE_COLOURS, LearnCanvas
    from ebm_engine.learn.frames import Curve, LearnFrame, Plot

    canvas = LearnCanvas()
    qtbot.addWidget(canvas)
    x = np.linspace(0.0, 1.0, 200)
    pair = (Curve("energy_data", x, 0 * x), Curve("energy_sample", x, 1 + 0 * x))
    canvas.show_frame(LearnFrame(1, 1, (Plot("energies", pair, plane=False),
                                        Plot("one", pair[:1], 0, 1, plane=False))))
    two, one = canvas._plots[(0, 0)], canvas._plots[(0, 1)]
    for plot in (two, one):
        assert plot.legend is None
        assert not [i for i in plot.vb.childGroup.childItems() + plot.vb.childItems()
                    if isinstance(i, pg.LegendItem)]
    title = two.titleLabel.text
    for role in ("energy_data", "energy_sample"):
        r, g, b = ROLE_COLOURS[role][:3]
        assert f"rgb({r}, {g}, {b})\">━ {LABELS[role]}" in title
    assert "━" not in one.titleLabel.text  # one curve: the title says what it is
    curves = CurvesView()
    qtbot.addWidget(curves)
    energy = curves.items["energy"]
    assert energy.legend is None and "━ energy_data" in energy.titleLabel.text


def test_the_curves_fit_a_narrow_panel(qtbot):
    """At 1280 × 720 the curves' panel is about 400 px wide: the titles' text widths made
    the plots' grid wider than that, and the right-hand plots were cut off."""
    from app.views.curves import CurvesView

    curves = CurvesView()
    qtbot.addWidget(curves)
    curves.resize(300, 400)
    curves.show()
    qtbot.waitExposed(curves)
    qtbot.waitUntil(lambda: curves.plots.viewport().width() <= 300)
    width = curves.plots.viewport().width()
    for name, plot in curves.items.items():
        box = plot.mapRectToScene(plot.boundingRect())
        assert box.right() <= width + 1, f"{name} plot cut off: {box.right():.0f} > {width}"


def test_the_learn_window_fits_a_small_screen(qtbot, monkeypatch):
    """At 1280×720 its Close button was below the screen (it opened at 1100×760)."""
    from PySide6.QtCore import QRect
    from PySide6.QtGui import QScreen

    from app.widgets.learn_dialog import LearnDialog

    monkeypatch.setattr(QScreen, "availableGeometry", lambda self: QRect(0, 0, 1280, 720))
    dialog = LearnDialog()
    qtbot.addWidget(dialog)
    assert dialog.width() <= 1280 * 0.95 and dialog.height() <= 720 * 0.9


def _plane_size(canvas, plot):
    rect = canvas._plots[(plot.row, plot.col)].vb.sceneBoundingRect()
    return min(rect.width(), rect.height())


def test_a_plot_gets_the_cells_its_span_says(qtbot):
    """A plane spanning three of eight columns came out narrower than a one-column plot
    beside it (the grid sized columns by its items' hints), and columns a growing strip
    had not filled yet shrank it further."""
    import numpy as np

    from app.widgets.learn_plots import LearnCanvas
    from ebm_engine.learn.frames import Curve, LearnFrame, Plot, Points

    canvas = LearnCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(800, 340)
    canvas.show()
    qtbot.waitExposed(canvas)
    bounds = (-4.5, 4.5, -4.5, 4.5)
    xy = np.zeros((4, 2), np.float32)
    big = Plot("big", (Points("samples", xy),), 0, 0, (2, 3), bounds=bounds)
    frame = LearnFrame(1, 1, (big, Plot("curve", (Curve("kl", np.arange(3.0), np.ones(3)),), 0, 3,
                                        (1, 5), plane=False),
                              Plot("small", (Points("samples", xy),), 1, 3, bounds=bounds)))
    canvas.show_frame(frame)

    def laid_out() -> None:  # the grid lays out on posted events: wait for it
        assert _plane_size(canvas, big) >= 0.3 * 800  # three eighths of the width, less margins
        assert _plane_size(canvas, big) > 2.5 * _plane_size(canvas, frame.plots[2])

    qtbot.waitUntil(laid_out, timeout=3000)


@pytest.mark.parametrize("name", ["kl-divergence", "analysis-by-synthesis", "self-critic",
                                  "short-run-vs-persistent", "classifier"])
def test_every_demo_draws_its_maps_large_at_1280x800(qtbot, name):
    """At 1280 × 800 the demo area is about 818 × 340 px. Three demos drew their energy and
    class maps in about 120 px squares (a row of small plots under them, or a wide cell
    that a square plane cannot fill): every map is now at least 240 px."""
    from app.widgets.learn_plots import LearnCanvas
    from ebm_engine.learn import concept
    from ebm_engine.learn.frames import Heat

    canvas = LearnCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(818, 340)
    canvas.show()
    qtbot.waitExposed(canvas)
    frame = next(concept(name).demo(iterations=1))
    canvas.show_frame(frame)
    maps = [p for p in frame.plots if any(isinstance(layer, Heat) for layer in p.layers)]
    assert maps

    def laid_out() -> None:  # the grid lays out on posted events: wait for it
        for p in maps:
            assert _plane_size(canvas, p) >= 240, (p.title, _plane_size(canvas, p))

    qtbot.waitUntil(laid_out, timeout=3000)
