"""Draws a Learn demo's frames: a grid of pyqtgraph plots built from the frame's own layout.

A :class:`~ebm_engine.learn.frames.LearnFrame` says what each plot holds
(heat maps, point sets, curves, by role); this canvas builds the plots when
the layout changes and afterwards only updates their items' data. GUI thread
only; it never calls the engine.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt

from app.views import unindexed
from app.views.curves import key_html, shrinkable_title
from ebm_engine.learn.frames import Curve, Heat, LearnFrame, Plot, Points

BACKGROUND = "#202124"
# Energies as everywhere in the app: darker = lower = more probable.
ENERGY_MAP = "viridis"
ROLE_COLOURS = {
    "data": (255, 255, 255, 150), "samples": (255, 80, 60, 230), "short-run": (242, 142, 43, 230),
    "persistent": (78, 160, 230, 230), "chains": (255, 120, 220, 200),
    "energy_data": (89, 161, 79, 255), "energy_sample": (225, 87, 89, 255),
    "kl": (78, 121, 167, 255), "margin": (242, 142, 43, 255), "accuracy": (118, 183, 178, 255),
    "floor": (170, 170, 170, 220),
}
# Reference lines (what a perfect model would score), drawn dashed.
DASHED = {"floor"}
CLASS_COLOURS = np.array([(78, 121, 167), (242, 142, 43), (225, 87, 89), (118, 183, 178),
                          (89, 161, 79), (237, 201, 72), (176, 122, 161), (255, 157, 167)], np.uint8)
LABELS = {"energy_data": "E(data)", "energy_sample": "E(samples)", "kl": "KL",
          "margin": "E(samples) − E(data)", "accuracy": "accuracy", "floor": "real data"}


def class_image(heat: Heat) -> np.ndarray:
    """RGBA image of a ``classes`` heat map: each class its colour, faded where unsure."""
    k = len(CLASS_COLOURS)
    rgb = CLASS_COLOURS[np.asarray(heat.values, np.int64) % k]
    conf = np.ones(heat.values.shape) if heat.confidence is None else heat.confidence
    alpha = (40 + 180 * np.clip(conf, 0, 1) ** 2).astype(np.uint8)
    return np.concatenate([rgb, alpha[..., None]], axis=-1)


def curve_key(p: Plot) -> str:
    """The key line under a plot's title when it draws more than one curve (else "")."""
    curves = [layer for layer in p.layers if isinstance(layer, Curve)]
    if len(curves) < 2:
        return ""
    return "<br>" + key_html([(LABELS.get(c.role, c.role), ROLE_COLOURS.get(c.role, (220, 220, 220)))
                              for c in curves])


class LearnCanvas(pg.GraphicsLayoutWidget):
    """The demo's plots. ``frames_drawn`` and :meth:`layer_data` are what tests read."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground(BACKGROUND)
        unindexed(self)
        self.frame: LearnFrame | None = None
        self.frames_drawn = 0
        self._layout_key: tuple | None = None
        self._plots: dict[tuple[int, int], pg.PlotItem] = {}
        self._items: dict[tuple[tuple[int, int], str], pg.GraphicsObject] = {}

    def clear_frames(self) -> None:
        """Forget the plots (another demo comes)."""
        self.clear()
        self.frame, self._layout_key, self.frames_drawn = None, None, 0
        self._plots.clear()
        self._items.clear()

    def show_frame(self, frame: LearnFrame) -> None:
        """Draw ``frame``: build the plots if its layout is new, then set every layer's data."""
        key = tuple((p.row, p.col, p.span, p.plane) for p in frame.plots)
        if key != self._layout_key:
            self.clear_frames()
            self._layout_key = key
            for p in frame.plots:
                self._plots[(p.row, p.col)] = self._make_plot(p)
            self._equal_cells(frame)
        for p in frame.plots:
            plot = self._plots[(p.row, p.col)]
            plot.setTitle(p.title if p.plane else p.title + curve_key(p), size="9pt")
            for layer in p.layers:
                self._set_layer(plot, (p.row, p.col), layer, p.plane)
        self.frame = frame
        self.frames_drawn += 1

    def layer_data(self, title: str, role: str) -> np.ndarray:
        """The data the item of layer ``role`` in plot ``title`` shows now, as ``(n, 2)``."""
        p = self.frame.plot(title)
        item = self._items[((p.row, p.col), role)]
        if isinstance(item, pg.ImageItem):
            return np.asarray(item.image)
        x, y = item.getData()
        return np.stack([np.asarray(x), np.asarray(y)], 1) if x is not None else np.empty((0, 2))

    # --- building ----------------------------------------------------------------
    def _equal_cells(self, frame: LearnFrame) -> None:
        """Give every row and column of the frame's grid the same share of the canvas.

        Without this the grid sized a column by its items' hints: a plane spanning
        three columns got less width than one small plot beside it, and columns not
        yet filled (a strip that grows) shrank the plots above them, so a frame's
        ``span`` did not say how big a plot is. Empty cells get a blank item.
        """
        grid = self.ci.layout
        rows = max(p.row + p.span[0] for p in frame.plots)
        cols = max(p.col + p.span[1] for p in frame.plots)
        taken = {(r, c) for p in frame.plots for r in range(p.row, p.row + p.span[0])
                 for c in range(p.col, p.col + p.span[1])}
        for r in range(rows):
            grid.setRowStretchFactor(r, 1)
            for c in range(cols):
                if (r, c) not in taken:
                    self.ci.addItem(pg.GraphicsWidget(), row=r, col=c)
        for c in range(cols):
            grid.setColumnStretchFactor(c, 1)

    def _make_plot(self, p: Plot) -> pg.PlotItem:
        plot = self.addPlot(row=p.row, col=p.col, rowspan=p.span[0], colspan=p.span[1])
        plot.hideButtons()
        plot.setMenuEnabled(False)
        shrinkable_title(plot)
        if p.plane:
            plot.setAspectLocked(True)
            plot.disableAutoRange()  # samples that stray must not zoom the plane out
            plot.hideAxis("left")
            plot.hideAxis("bottom")
            if p.bounds is not None:
                xmin, xmax, ymin, ymax = p.bounds
                plot.setRange(xRange=(xmin, xmax), yRange=(ymin, ymax), padding=0)
        else:  # which curve is which: a key in the title (curve_key), not a box over them
            plot.showGrid(x=True, y=True, alpha=0.15)
            plot.setLabel("bottom", p.x_label)
            if p.y_label:
                plot.setLabel("left", p.y_label)
        return plot

    def _item_for(self, plot: pg.PlotItem, key: tuple, layer, plane: bool) -> pg.GraphicsObject:
        item = self._items.get((key, layer.role if not isinstance(layer, Heat) else "heat"))
        if item is not None:
            return item
        colour = ROLE_COLOURS.get(getattr(layer, "role", ""), (220, 220, 220, 220))
        if isinstance(layer, Heat):
            item = pg.ImageItem()
            item.setZValue(-10)
            if layer.kind == "energy":
                item.setColorMap(pg.colormap.get(ENERGY_MAP))
                item.setToolTip("Energy E(x) (darker = lower = more probable)")
            name = "heat"
        elif isinstance(layer, Points):
            data = layer.role == "data"
            item = pg.ScatterPlotItem(size=4 if data else 5, pen=None, brush=pg.mkBrush(*colour))
            name = layer.role
        else:
            style = Qt.PenStyle.DashLine if layer.role in DASHED else Qt.PenStyle.SolidLine
            item = pg.PlotDataItem(pen=pg.mkPen(*colour, width=1.5 if plane else 2, style=style),
                                   connect="finite", name=LABELS.get(layer.role, layer.role))
            name = layer.role
        plot.addItem(item)
        self._items[(key, name)] = item
        return item

    def _set_layer(self, plot: pg.PlotItem, key: tuple, layer, plane: bool) -> None:
        item = self._item_for(plot, key, layer, plane)
        if isinstance(layer, Heat):
            xmin, xmax, ymin, ymax = layer.bounds
            if layer.kind == "classes":
                item.setImage(class_image(layer), autoLevels=False)
            else:
                e = np.asarray(layer.values, np.float32)
                finite = e[np.isfinite(e)]
                lo, hi = np.percentile(finite, [1, 99]) if finite.size else (0.0, 1.0)
                item.setImage(np.nan_to_num(e, nan=hi, posinf=hi, neginf=lo), autoLevels=False,
                              levels=(float(lo), float(max(hi, lo + 1e-6))))
            item.setRect(QRectF(xmin, ymin, xmax - xmin, ymax - ymin))
        elif isinstance(layer, Points):
            xy = np.asarray(layer.xy)
            if layer.labels is not None:
                rgb = CLASS_COLOURS[np.asarray(layer.labels) % len(CLASS_COLOURS)]
                brushes = [pg.mkBrush(int(r), int(g), int(b), 230) for r, g, b in rgb]
                item.setData(xy[:, 0], xy[:, 1], brush=brushes, pen=pg.mkPen(20, 20, 20, 200),
                             size=5)
            else:
                item.setData(xy[:, 0], xy[:, 1])
        elif isinstance(layer, Curve):
            item.setData(np.asarray(layer.x), np.asarray(layer.y))
