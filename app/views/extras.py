"""Method-specific arrays of a snapshot (``SamplesReady.extras``) as labelled grids.

Image-like extras are made into uint8 grids on the controller's worker
(:func:`prepare_extras`, see :mod:`app.display`). An extra named ``… curves``
of shape ``(K, 1 + L, P)`` (``StepResult.curves``: FRAME's potentials and
response histograms) is K small plots, row 0 the x values and rows 1… the
lines (the first line solid white, the second dashed orange).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QBoxLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.views import unindexed
from app.views.image_grid import GridImage, ImageGridWidget, prepare_grid
from app.views.spaced_axis import SpacedAxis

CURVE_PENS = (pg.mkPen("#e8eaed", width=1.5), pg.mkPen("#f9ab00", width=1.5, style=Qt.DashLine))
CURVE_COLUMNS = 5
#: Least width of one extra's column (grids scale down to it; narrower, the panel scrolls).
MIN_COLUMN = 120
#: Height of an extra's title line, left out of the room its grid has.
TITLE_HEIGHT = 20


def is_curves(name: str, arr: np.ndarray) -> bool:
    """Whether an extra is a set of small plots (see the module docstring)."""
    return name.endswith("curves") and arr.ndim == 3 and arr.shape[1] >= 2


def stacked_is_larger(grids: list[tuple[int, int]], width: int, height: int) -> bool:
    """Whether grids of ``(height, width)`` pixels show larger one above another than
    side by side in a ``width`` × ``height`` panel (the smallest scale of any grid
    decides): two tall-ish grids in a tall narrow panel were squeezed into columns
    a third of their room (symbol-vector's digits drawn 11 px tall)."""
    k = len(grids)
    if k < 2:
        return False

    def scale(w: float, h: float) -> float:
        h -= TITLE_HEIGHT
        return min(min(w / gw, h / gh) for gh, gw in grids) if w > 0 and h > 0 else 0.0

    return scale(width, height / k) > scale(width / k, height)


def _grid_kind(kind: str) -> str:
    return "image" if kind in ("image", "video") else kind


def prepare_extras(extras: dict[str, np.ndarray], kind: str, value_range) -> dict[str, GridImage]:
    """The grids of the image-like (4- or 5-D) extras; pure numpy, safe on any thread."""
    out = {}
    for name, arr in extras.items():
        arr = np.asarray(arr)
        if arr.ndim in (4, 5):
            out[name] = prepare_grid(arr, _grid_kind(kind), value_range)
    return out


class ExtrasPanel(QWidget):
    """One labelled grid per extra array (images), scatter (2D points) or a shape line."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        outer = QHBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        # Squeezed below its columns' least widths, the panel scrolls: it cut FRAME's
        # plots off at the right edge without a sign that more was there
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.NoFrame)
        inner = QWidget()
        self._layout = QHBoxLayout(inner)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.scroll.setWidget(inner)
        outer.addWidget(self.scroll)
        self.widgets: dict[str, QWidget] = {}
        # A minimum of its own, so the splitter beside the samples does not take the
        # plots' (FRAME's: 800 px) as the least it may give them
        self.setMinimumWidth(1)
        self.setVisible(False)

    def set_extras(self, extras: dict[str, np.ndarray], kind: str, value_range,
                   prepared: dict[str, GridImage] | None = None) -> None:
        """Show ``extras`` (``prepared``: their grids, made on the worker)."""
        prepared = prepared or {}
        for name in list(self.widgets):
            if name not in extras:
                self.widgets.pop(name).deleteLater()
        for name, arr in extras.items():
            arr = np.asarray(arr)
            widget = self.widgets.get(name)
            if widget is None:
                widget = self._make(name, arr, kind)
                self.widgets[name] = widget
                self._layout.addWidget(widget)
            self._fill(widget, arr, kind, value_range, prepared.get(name))
        self.setVisible(bool(extras))
        self._arrange()

    @property
    def stacked(self) -> bool:
        """Whether the extras are one above another (else side by side)."""
        return self._layout.direction() == QBoxLayout.Direction.TopToBottom

    def _arrange(self) -> None:
        """Image grids one above another where that draws them larger, else side by side
        (other extras, plots and scatters, keep their columns)."""
        grids = []
        for box in self.widgets.values():
            pixels = getattr(box.inner, "last_grid", None)
            if not isinstance(box.inner, ImageGridWidget) or pixels is None:
                grids = []
                break
            grids.append(pixels.shape[:2])
        # the panel's size, not the viewport's: a scroll bar coming or going with the
        # direction must not flip it back
        stack = stacked_is_larger(grids, self.width(), self.height())
        self._layout.setDirection(QBoxLayout.Direction.TopToBottom if stack
                                  else QBoxLayout.Direction.LeftToRight)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().resizeEvent(event)
        self._arrange()

    def wanted_width(self) -> int:
        """Width that shows every column whole (beyond it, the panel scrolls)."""
        inner = self.scroll.widget()
        return max(inner.sizeHint().width(), inner.minimumSizeHint().width())

    def paint_now(self) -> None:
        """Paint pending changes now (so their cost is measured with the draw)."""
        for box in self.widgets.values():
            if isinstance(box.inner, ImageGridWidget):
                box.inner.paint_now()
            elif isinstance(box.inner, pg.PlotWidget) and box.inner.isVisible():
                box.inner.viewport().repaint()

    def _make(self, name: str, arr: np.ndarray, kind: str) -> QWidget:
        box = QWidget()
        v = QVBoxLayout(box)
        v.setContentsMargins(2, 2, 2, 2)
        v.addWidget(QLabel(name.replace("_", " ")))
        if is_curves(name, arr):
            inner = unindexed(pg.GraphicsLayoutWidget())
            inner.setBackground("#202124")
            inner.plots = []
            box.setMinimumWidth(320)
        elif arr.ndim in (4, 5):
            inner = ImageGridWidget()
        elif arr.ndim == 2 and arr.shape[1] == 2:
            inner = unindexed(pg.PlotWidget(background="#202124",
                                            axisItems={"bottom": SpacedAxis()}))
            inner.setAspectLocked(True)
            inner.scatter = pg.ScatterPlotItem(size=5, brush=pg.mkBrush(120, 200, 255, 200))
            inner.addItem(inner.scatter)
        else:
            inner = QLabel()
        v.addWidget(inner, 1)
        box.inner = inner
        box.setMinimumWidth(max(box.minimumWidth(), MIN_COLUMN))
        return box

    @staticmethod
    def _fill_curves(inner: pg.GraphicsLayoutWidget, arr: np.ndarray) -> None:
        """One small plot per row of ``arr`` (made once, then only the data changes)."""
        if len(inner.plots) != arr.shape[0]:
            inner.clear()
            inner.plots = []
            for k in range(arr.shape[0]):
                plot = inner.addPlot(row=k // CURVE_COLUMNS, col=k % CURVE_COLUMNS)
                plot.hideAxis("left")
                plot.hideAxis("bottom")
                plot.setMouseEnabled(False, False)
                plot.items_ = [plot.plot(pen=CURVE_PENS[min(j, 1)]) for j in range(arr.shape[1] - 1)]
                inner.plots.append(plot)
        for plot, rows in zip(inner.plots, arr):
            for item, line in zip(plot.items_, rows[1:]):
                item.setData(rows[0], line)

    def _fill(self, box: QWidget, arr: np.ndarray, kind: str, value_range,
              grid: GridImage | None = None) -> None:
        inner = box.inner
        if isinstance(inner, ImageGridWidget):  # first: it is a GraphicsLayoutWidget too
            inner.set_grid(grid if grid is not None else prepare_grid(arr, _grid_kind(kind),
                                                                      value_range))
        elif isinstance(inner, pg.GraphicsLayoutWidget):
            self._fill_curves(inner, arr)
        elif isinstance(inner, pg.PlotWidget):
            inner.scatter.setData(arr[:, 0], arr[:, 1])
        else:
            inner.setText(f"shape {'×'.join(map(str, arr.shape))}")
