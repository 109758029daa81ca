"""2D data: energy landscape heatmap, data points, moving chain particles, score arrows.

Like GAN Lab's layers, each is a toggle. Lower energy (more probable) is
drawn darker/cooler; arrows show the score ``−∇E`` (the Langevin drift).
The heatmap's levels, the arrow segments and the chain trails of the final
samples are computed by :func:`prepare_landscape` (on the controller's
worker for live snapshots, see :mod:`app.display`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app.display import prepared_frame
from app.views import unindexed
from app.views.registry import register_view

LAYERS = ("landscape", "data", "samples", "chains", "arrows")


@dataclass(frozen=True)
class LandscapeLayers:
    """What a :class:`LandscapeView` draws for one snapshot (``None``: layer absent).

    Attributes
    ----------
    heat : np.ndarray, optional
        Energy grid with non-finite values replaced (float32).
    levels : (float, float)
        Colour range of ``heat`` (1st–99th percentile of the finite energies).
    bounds : (xmin, xmax, ymin, ymax), optional
        Where ``heat`` lies.
    arrows : np.ndarray, optional
        ``(2·k, 2)`` segment end points of the score arrows.
    particles : np.ndarray
        ``(n, 2)`` chain positions.
    trails : np.ndarray
        ``(m, 2)`` chain paths, NaN-separated.
    """

    heat: np.ndarray | None
    levels: tuple[float, float]
    bounds: tuple[float, float, float, float] | None
    arrows: np.ndarray | None
    particles: np.ndarray
    trails: np.ndarray


def chain_trails(snapshot, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Particles at recorded step ``index`` (−1: final samples) and the trails up to it."""
    frames = snapshot.frames
    if 0 <= index < len(frames):
        pts, upto = frames[index].x, frames[: index + 1]
    else:
        pts, upto = snapshot.samples, frames
    pts = np.asarray(pts)[:, :2]
    if not upto:
        return pts, np.empty((0, 2), np.float32)
    n = min(f.x.shape[0] for f in upto)
    path = np.stack([f.x[:n, :2] for f in upto], axis=1)  # (chains, steps, 2)
    gap = np.full((n, 1, 2), np.nan, np.float32)
    return pts, np.concatenate([path, gap], axis=1).reshape(-1, 2)


def prepare_landscape(snapshot, frame: int = -1) -> LandscapeLayers:
    """The :class:`LandscapeLayers` of ``snapshot`` with the chains at ``frame``. Pure numpy."""
    heat, levels, bounds, arrows = None, (0.0, 1.0), None, None
    ls = snapshot.landscape
    if ls is not None:
        e = np.asarray(ls.energy, dtype=np.float32)
        finite = e[np.isfinite(e)]
        lo, hi = (np.percentile(finite, [1, 99]) if finite.size else (0.0, 1.0))
        heat, levels = np.nan_to_num(e, nan=hi), (float(lo), float(max(hi, lo + 1e-6)))
        bounds = tuple(float(b) for b in ls.bounds)
        if len(ls.arrow_xy):
            xmin, xmax = bounds[0], bounds[1]
            scale = 0.5 * (xmax - xmin) / max(int(np.sqrt(len(ls.arrow_xy))), 1)
            uv = ls.arrow_uv / (np.abs(ls.arrow_uv).max() + 1e-12) * scale
            arrows = np.empty((2 * len(uv), 2), np.float32)
            arrows[0::2], arrows[1::2] = ls.arrow_xy, ls.arrow_xy + uv
    particles, trails = chain_trails(snapshot, frame)
    return LandscapeLayers(heat, levels, bounds, arrows, particles, trails)


@register_view("points")
class LandscapeView(QWidget):
    """Points samples over the model's energy landscape."""

    sigSampleClicked = Signal(int)
    prepare = staticmethod(prepare_landscape)
    prepare_frames = False  # scrubbing computes a step's trails (cheap) when asked

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot = unindexed(pg.PlotWidget(background="#202124"))
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
        # what the heat map's colours mean, where it is read (the tooltip is a hover away)
        key = QLabel("dark = probable")
        key.setObjectName("landscape_key")
        key.setStyleSheet("color: #9aa0a6")
        bar.addWidget(key)
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
        layers = prepared_frame(snapshot, -1, prepare_landscape)
        if layers.heat is not None:
            self.heat.setImage(layers.heat, autoLevels=False, levels=layers.levels)
            xmin, xmax, ymin, ymax = layers.bounds
            self.heat.setRect(QRectF(xmin, ymin, xmax - xmin, ymax - ymin))
            if layers.arrows is not None:
                self.arrows.setData(layers.arrows[:, 0], layers.arrows[:, 1])
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
        if 0 <= index < len(s.frames):
            pts, trails = chain_trails(s, index)
        else:
            layers = prepared_frame(s, -1, prepare_landscape)
            pts, trails = layers.particles, layers.trails
        self._set_chains(pts, trails)

    def _set_chains(self, pts: np.ndarray, trails: np.ndarray) -> None:
        self.samples.setData(pts[:, 0], pts[:, 1], data=np.arange(len(pts)))
        if len(trails):
            self.chains.setData(trails[:, 0], trails[:, 1])
        else:
            self.chains.setData([], [])

    def paint_now(self) -> None:
        """Paint a pending change now (so its cost is measured with the draw)."""
        if self.isVisible():
            self.plot.viewport().repaint()

    def _clicked(self, _item, points, *_args) -> None:
        if len(points):
            self.sigSampleClicked.emit(int(points[0].data()))
