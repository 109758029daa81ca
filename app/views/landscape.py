"""2D data: energy landscape heatmap, data points, moving chain particles, score arrows.

Like GAN Lab's layers, each is a toggle. Lower energy (more probable) is
drawn darker/cooler; arrows show the score ``−∇E`` (the Langevin drift).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QVBoxLayout, QWidget

from app.views.registry import register_view

LAYERS = ("landscape", "data", "samples", "chains", "arrows")


@register_view("points")
class LandscapeView(QWidget):
    """Points samples over the model's energy landscape."""

    sigSampleClicked = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot = pg.PlotWidget(background="#202124")
        self.plot.setAspectLocked(True)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.heat = pg.ImageItem()
        self.heat.setColorMap(pg.colormap.get("viridis"))
        self.heat.setToolTip("Energy E(x) = −f(x) + |x|²/2σ² (darker = lower = more probable)")
        self.data = pg.ScatterPlotItem(size=3, pen=None, brush=pg.mkBrush(255, 255, 255, 70))
        self.samples = pg.ScatterPlotItem(size=6, pen=pg.mkPen("#300000"),
                                          brush=pg.mkBrush(255, 80, 60, 220))
        self.samples.sigClicked.connect(self._clicked)
        self.chains = pg.PlotDataItem(pen=pg.mkPen(255, 200, 0, 180, width=1.5), connect="finite")
        self.arrows = pg.PlotDataItem(pen=pg.mkPen(230, 230, 230, 150, width=1), connect="pairs")
        for item in (self.heat, self.data, self.chains, self.arrows, self.samples):
            self.plot.addItem(item)
        self.heat.setZValue(-10)
        self.toggles: dict[str, QCheckBox] = {}
        bar = QHBoxLayout()
        for name in LAYERS:
            box = QCheckBox(name)
            box.setChecked(name != "arrows")
            box.toggled.connect(self._apply_visibility)
            self.toggles[name] = box
            bar.addWidget(box)
        bar.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.plot)
        self.snapshot = None
        self.update_count = 0
        self._frame = -1
        self._ranged = False
        self._apply_visibility()

    def _item(self, name: str):
        return {"landscape": self.heat, "data": self.data, "samples": self.samples,
                "chains": self.chains, "arrows": self.arrows}[name]

    def _apply_visibility(self) -> None:
        for name, box in self.toggles.items():
            self._item(name).setVisible(box.isChecked())

    def set_snapshot(self, snapshot) -> None:
        self.snapshot = snapshot
        ls = snapshot.landscape
        if ls is not None:
            e = np.asarray(ls.energy, dtype=np.float32)
            finite = e[np.isfinite(e)]
            lo, hi = (np.percentile(finite, [1, 99]) if finite.size else (0.0, 1.0))
            self.heat.setImage(np.nan_to_num(e, nan=hi), autoLevels=False,
                               levels=(float(lo), float(max(hi, lo + 1e-6))))
            xmin, xmax, ymin, ymax = ls.bounds
            self.heat.setRect(QRectF(xmin, ymin, xmax - xmin, ymax - ymin))
            if len(ls.arrow_xy):
                scale = 0.5 * (xmax - xmin) / max(int(np.sqrt(len(ls.arrow_xy))), 1)
                uv = ls.arrow_uv / (np.abs(ls.arrow_uv).max() + 1e-12) * scale
                seg = np.empty((2 * len(uv), 2), np.float32)
                seg[0::2], seg[1::2] = ls.arrow_xy, ls.arrow_xy + uv
                self.arrows.setData(seg[:, 0], seg[:, 1])
            if not self._ranged:
                self.plot.setRange(xRange=(xmin, xmax), yRange=(ymin, ymax), padding=0)
                self._ranged = True
        if snapshot.data_points is not None:
            pts = snapshot.data_points
            self.data.setData(pts[:, 0], pts[:, 1])
        self.show_frame(self._frame)
        self.update_count += 1

    def show_frame(self, index: int) -> None:
        """Particles at recorded Langevin step ``index`` (``-1`` = final samples), with trails."""
        self._frame = index
        s = self.snapshot
        if s is None:
            return
        frames = s.frames
        if 0 <= index < len(frames):
            pts = frames[index].x
            upto = frames[: index + 1]
        else:
            pts = s.samples
            upto = frames
        pts = np.asarray(pts)[:, :2]
        self.samples.setData(pts[:, 0], pts[:, 1], data=np.arange(len(pts)))
        if upto:
            n = min(f.x.shape[0] for f in upto)
            path = np.stack([f.x[:n, :2] for f in upto], axis=1)  # (chains, steps, 2)
            gap = np.full((n, 1, 2), np.nan, np.float32)
            path = np.concatenate([path, gap], axis=1).reshape(-1, 2)
            self.chains.setData(path[:, 0], path[:, 1])
        else:
            self.chains.setData([], [])

    def _clicked(self, _item, points, *_args) -> None:
        if len(points):
            self.sigSampleClicked.emit(int(points[0].data()))
