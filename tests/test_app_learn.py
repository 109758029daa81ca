"""Help → Learn: the five concepts open from the real menu, and every live demo runs and stops."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from app.testing import WAIT_MS, make_window

pytestmark = pytest.mark.app


def _learn_action(window):
    return next(a for a in window.help_menu.actions() if a.text() == "Learn…")


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


def test_curve_legend_hides_the_curves_under_it(qtbot):
    """Curves passing under the legend must not show through its box (it was translucent)."""
    import numpy as np

    from app.widgets.learn_plots import LearnCanvas
    from ebm_engine.learn.frames import Curve, LearnFrame, Plot

    canvas = LearnCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(400, 300)
    x = np.linspace(0.0, 1.0, 200)
    # light grey curves packed at the top, where the legend sits
    curves = tuple(Curve(f"c{k}", x, np.full_like(x, 0.8 + k / 25)) for k in range(6))
    canvas.show_frame(LearnFrame(1, 1, (Plot("t", (Curve("kl", x, 0 * x),) + curves,
                                             plane=False),)))
    canvas.show()
    qtbot.waitExposed(canvas)
    legend = canvas._plots[(0, 0)].legend
    box = legend.mapRectToScene(legend.boundingRect()).toAlignedRect()
    image = canvas.grab().toImage()
    # rows where a curve runs just left of the box; inside the box, left of the swatches,
    # those rows must keep the box colour (32, 33, 36), not the curves' light grey
    rows = [py for py in range(box.top() + 3, box.bottom() - 2)
            if image.pixelColor(box.left() - 3, py).red() > 150]
    seen = [image.pixelColor(px, py).red() for py in rows
            for px in range(box.left() + 2, box.left() + 6)]
    assert len(rows) >= 4 and seen
    # (a faint grid line crossing the box reaches 50; a curve seen through the old box 74)
    assert max(seen) < 62, f"curves show through the legend (red up to {max(seen)})"
