"""Trajectory samples, each in its scene: obstacles, start and goal, expert and sample paths.

A small-multiples grid (up to 16 cells, one sample each) drawn from what the
snapshot carries (:mod:`ebm_engine.data.scenes`): ``samples`` ``(n, T, 2)``,
and in ``extras`` the ``scenes`` (start, goal, circular obstacles), the
``observed`` past or the ``reference`` (expert/ground-truth) paths, and
optionally a learned ``cost_map`` per position for the first samples (the
obstacle term of the cost, drawn as a heat map under the chosen sample: lower =
cheaper). :meth:`show_frame`
draws the whole trajectories at a recorded Langevin step, so the scrubber
shows the chains of trajectories moving; clicking a cell picks its sample
(``sigSampleClicked``) and draws that chain's recorded states faintly.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QVBoxLayout, QWidget

from app.views import steady_label, unindexed
from app.views.registry import register_view
from ebm_engine.data.scenes import DISPLAY_KEYS, split_scenes

MAX_CELLS = 16
SAMPLE_PEN = pg.mkPen(90, 160, 255, 255, width=2)
PICKED_PEN = pg.mkPen(255, 200, 40, 255, width=2.5)
EXPERT_PEN = pg.mkPen(235, 235, 235, 200, width=1.5, style=pg.QtCore.Qt.PenStyle.DashLine)
TRAIL_PEN = pg.mkPen(255, 200, 40, 70, width=1)


class _Cell:
    """The plot items of one sample's cell."""

    def __init__(self, plot: pg.PlotItem):
        self.plot = plot
        plot.setAspectLocked(True)
        plot.hideAxis("left")
        plot.hideAxis("bottom")
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.setMouseEnabled(False, False)
        self.heat = pg.ImageItem()
        self.heat.setColorMap(pg.colormap.get("viridis"))
        self.heat.setZValue(-10)
        self.obstacles = pg.ScatterPlotItem(pxMode=False, pen=pg.mkPen(40, 40, 40),
                                            brush=pg.mkBrush(150, 150, 150, 200))
        self.ends = pg.ScatterPlotItem(size=9, pen=None)
        self.expert = pg.PlotDataItem(pen=EXPERT_PEN, connect="finite")
        self.trail = pg.PlotDataItem(pen=TRAIL_PEN, connect="finite")
        self.path = pg.PlotDataItem(pen=SAMPLE_PEN, symbol="o", symbolSize=4,
                                    symbolBrush=pg.mkBrush(90, 160, 255), symbolPen=None)
        for item in (self.heat, self.obstacles, self.expert, self.trail, self.path, self.ends):
            plot.addItem(item)


def _nan_joined(paths: list[np.ndarray]) -> np.ndarray:
    """Paths joined into one ``(m, 2)`` array with NaN rows between them."""
    if not paths:
        return np.empty((0, 2), np.float32)
    gap = np.full((1, 2), np.nan, np.float32)
    return np.concatenate([p for path in paths for p in (np.asarray(path, np.float32), gap)])


def dashed_path(extras: dict) -> tuple[str, str]:
    """The name and tooltip of the dashed path a snapshot's cells draw, in its task's words:
    a plan's expert, a prediction's true path (or observed past), a translation's source."""
    scenes, observed = extras.get("scenes"), extras.get("observed")
    if scenes is None and observed is None:
        return "source", "the stroke each translation started from (dashed)"
    if observed is not None:
        truth = "reference" in extras
        return (("true path", "the path the pedestrian took (dashed); green: first seen, "
                 "red: true end") if truth else
                ("observed", "the observed past (dashed)"))
    return "expert", "the expert's path (dashed); green: start, red: goal"


@register_view("trajectory")
class TrajectoryView(QWidget):
    """Trajectory samples in their scenes, with expert paths, chains and the learned cost."""

    sigSampleClicked = Signal(int)
    #: snapshot extras this view draws itself (the extras panel leaves them out)
    # a stroke translation's reconstruction goes to exported PNGs (their third row) only
    own_extras = (*DISPLAY_KEYS, "extent", "reconstructed")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.grid = unindexed(pg.GraphicsLayoutWidget())
        self.grid.setBackground("#202124")
        self.grid.scene().sigMouseClicked.connect(self._clicked)
        self.caption = steady_label("No samples yet.")
        self.toggles: dict[str, QCheckBox] = {}
        bar = QHBoxLayout()
        for name, tip in (("expert", "expert / observed path (dashed)"),
                          ("cost", "the learned cost of the obstacles around each "
                                   "position, for the picked sample (darker = cheaper); the "
                                   "cost's start/goal term, which depends on the time along "
                                   "the path, is not drawn"),
                          ("chain", "the picked sample's recorded Langevin states")):
            box = QCheckBox(name)
            box.setChecked(True)
            box.setToolTip(tip)
            box.toggled.connect(lambda _=False: self.show_frame(self._frame))
            self.toggles[name] = box
            bar.addWidget(box)
        bar.addWidget(self.caption, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.grid, 1)
        self.cells: list[_Cell] = []
        self.snapshot = None
        self.picked = 0
        self.update_count = 0
        self._frame = -1

    # --- the view protocol -----------------------------------------------------------
    def set_snapshot(self, snapshot) -> None:
        self.snapshot = snapshot
        # the dashed path's name in this task's words (a translation has no expert)
        name, tip = dashed_path(snapshot.extras)
        self.toggles["expert"].setText(name)
        self.toggles["expert"].setToolTip(tip)
        n = min(len(snapshot.samples), MAX_CELLS)
        if n != len(self.cells):
            self._make_cells(n)
        self._draw_scenes()
        self.show_frame(self._frame if snapshot.frames else -1)
        self.update_count += 1

    def clear(self) -> None:
        self.snapshot = None
        self._make_cells(0)
        self.caption.setText("No samples yet.")

    def show_frame(self, index: int) -> None:
        """Trajectories at recorded Langevin step ``index`` (``-1`` = final samples)."""
        self._frame = index
        s = self.snapshot
        if s is None:
            return
        frames = s.frames
        if 0 <= index < len(frames):
            paths, where = np.asarray(frames[index].x), f"Langevin step {frames[index].step}"
        else:
            paths, where = np.asarray(s.samples), f"iteration {s.iteration}"
        extras = s.extras
        observed = extras.get("observed")
        # only a model with a cost of places draws one (not the crowd's prior)
        self.toggles["cost"].setVisible("cost_map" in extras)
        for i, cell in enumerate(self.cells):
            path = paths[i] if i < len(paths) else np.empty((0, 2), np.float32)
            if observed is not None and i < len(observed) and len(path):
                path = np.concatenate([np.asarray(observed[i][-1:]), path])  # continue the past
            cell.path.setData(path[:, 0], path[:, 1])
            cell.path.setPen(PICKED_PEN if i == self.picked else SAMPLE_PEN)
            show_trail = self.toggles["chain"].isChecked() and i == self.picked and frames
            trail = _nan_joined([f.x[i] for f in frames if i < len(f.x)]) if show_trail else \
                np.empty((0, 2))
            cell.trail.setData(trail[:, 0], trail[:, 1]) if len(trail) else cell.trail.setData([], [])
            cell.expert.setVisible(self.toggles["expert"].isChecked())
            has_cost = "cost_map" in extras and i < len(extras["cost_map"])
            cell.heat.setVisible(bool(has_cost and i == self.picked and self.toggles["cost"].isChecked()))
        energy = np.asarray(s.energy)
        picked = f"; sample {self.picked}: E = {energy[self.picked]:.3g}" if self.picked < len(energy) else ""
        shown = min(len(paths), len(self.cells))
        count = f"{shown} of {len(paths)}" if shown < len(paths) else f"{len(paths)}"
        if getattr(s, "origin", "") == "preview":  # the data: no chain, no iteration
            self.caption.setText(f"{count} training trajectories")
        else:
            self.caption.setText(f"{count} trajectories at {where}{picked}")

    def paint_now(self) -> None:
        """Paint pending changes now (so their cost is measured with the draw)."""
        if self.isVisible():
            self.grid.viewport().repaint()

    def pick(self, index: int) -> None:
        """Make sample ``index`` the picked one (heat map, chain) and tell listeners."""
        self.picked = int(index)
        self.show_frame(self._frame)
        self.sigSampleClicked.emit(self.picked)

    # --- drawing ---------------------------------------------------------------------
    def _make_cells(self, n: int) -> None:
        self.grid.clear()
        self.cells = []
        cols = max(1, math.ceil(math.sqrt(n)))
        for i in range(n):
            self.cells.append(_Cell(self.grid.addPlot(row=i // cols, col=i % cols)))
        self.picked = min(self.picked, max(n - 1, 0))

    def _draw_scenes(self) -> None:
        s = self.snapshot
        extras = s.extras
        scenes = extras.get("scenes")
        reference = extras.get("reference", extras.get("observed"))
        extent = extras.get("extent")
        for i, cell in enumerate(self.cells):
            if scenes is not None and i < len(scenes):
                start, goal, centres, radii = split_scenes(np.asarray(scenes[i:i + 1], np.float32))
                keep = radii[0] > 0
                cell.obstacles.setData(pos=centres[0][keep], size=2 * radii[0][keep])
                cell.ends.setData(pos=np.concatenate([start, goal]),
                                  brush=[pg.mkBrush(60, 200, 90), pg.mkBrush(240, 70, 60)])
            else:
                cell.obstacles.setData([], [])
                cell.ends.setData([], [])
            if reference is not None and i < len(reference):
                ref = np.asarray(reference[i], np.float32)
                cell.expert.setData(ref[:, 0], ref[:, 1])
            else:
                cell.expert.setData([], [])
            self._draw_cost(cell, i, extras)
            if extent is not None:
                xmin, xmax, ymin, ymax = (float(v) for v in np.asarray(extent).ravel()[:4])
                cell.plot.setRange(xRange=(xmin, xmax), yRange=(ymin, ymax), padding=0.02)
            else:
                cell.plot.enableAutoRange()

    def _draw_cost(self, cell: _Cell, i: int, extras: dict) -> None:
        maps, bounds = extras.get("cost_map"), extras.get("cost_extent")
        if maps is None or bounds is None or i >= len(maps):
            cell.heat.setVisible(False)
            return
        heat = np.asarray(maps[i], np.float32)
        finite = heat[np.isfinite(heat)]
        lo, hi = np.percentile(finite, [1, 95]) if finite.size else (0.0, 1.0)
        cell.heat.setImage(np.nan_to_num(heat, nan=hi), autoLevels=False,
                           levels=(float(lo), float(max(hi, lo + 1e-6))))
        xmin, xmax, ymin, ymax = (float(v) for v in np.asarray(bounds[i]).ravel()[:4])
        cell.heat.setRect(QRectF(xmin, ymin, xmax - xmin, ymax - ymin))

    def _clicked(self, event) -> None:
        pos = event.scenePos()
        for i, cell in enumerate(self.cells):
            if cell.plot.sceneBoundingRect().contains(pos):
                self.pick(i)
                return
