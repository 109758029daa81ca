"""The curves' x axis labels never run together on a narrow plot ("160017001800")."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.app


def _labels(qtbot, width: int, low: float, high: float, axis_class):
    import pyqtgraph as pg
    from PySide6.QtGui import QImage, QPainter

    plots = pg.GraphicsLayoutWidget()
    qtbot.addWidget(plots)
    plots.resize(width, 160)
    axis = axis_class("bottom")
    plot = plots.addPlot(axisItems={"bottom": axis})
    plot.plot(np.linspace(low, high, 200), np.sin(np.arange(200) / 9))
    plots.show()
    qtbot.waitExposed(plots)
    image = QImage(8, 8, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        texts = axis.generateDrawSpecs(painter)[2]
    finally:
        painter.end()
    return sorted((rect.left(), rect.right(), text) for rect, _flags, text in texts)


@pytest.mark.parametrize(("low", "high"), [(1550, 1850), (1205, 1235), (0.001, 0.004),
                                           (0, 25000)])
def test_narrow_axes_have_labels_that_do_not_overlap(qtbot, low, high):
    from app.views.spaced_axis import SpacedAxis

    labels = _labels(qtbot, 150, low, high, SpacedAxis)
    assert labels, "no label at all"
    for (_l0, right, _t0), (left, _r1, _t1) in zip(labels, labels[1:], strict=False):
        assert right < left, labels


def test_pyqtgraphs_own_axis_crowds_them(qtbot):
    """What SpacedAxis is for: the stock axis runs these labels together."""
    import pyqtgraph as pg

    labels = _labels(qtbot, 150, 1550, 1850, pg.AxisItem)
    assert any(right >= left for (_a, right, _b), (left, _c, _d) in zip(labels, labels[1:],
                                                                          strict=False))


def test_nice_step():
    from app.views.spaced_axis import nice_step

    assert nice_step(300, 2) == 200 and nice_step(300, 10) == 50 and nice_step(0.003, 3) == 0.001
