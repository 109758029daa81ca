"""One chain of the latest sampling: its states along the recorded steps and its energy trace.

The strip images of every recorded chain are made on the controller's
worker (:func:`prepare_chains`, see :mod:`app.display`); the GUI thread
uploads the one of the picked chain.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QVBoxLayout, QWidget

from app.display import display_of
from app.views import steady_label, unindexed
from app.views.spaced_axis import SpacedAxis
from ebm_engine.data.dataset import to_display
from ebm_engine.export.images import make_grid

STRIP_KINDS = ("image", "video")  # kinds whose chain states are drawn as a strip
#: Most states the strip draws (two rows of six keep each near 32 px or more in the
#: strip's usual room; patchwise's 106 states in two rows of 53 were 5 px each).
MAX_STATES = 12


def energy_change(start: float, end: float) -> str:
    """``"-3.541e+04 → -3.542e+04"``: as few digits as show that the energy moved
    (three hid a change of 6 in 35 000), at least three, at most eight."""
    for digits in range(3, 9):
        a, b = f"{start:.{digits}g}", f"{end:.{digits}g}"
        if a != b or start == end:
            break
    return f"{a} → {b}"


def recorded_chains(snapshot) -> int:
    """How many chains every recorded frame of ``snapshot`` holds."""
    frames = snapshot.frames if snapshot is not None else ()
    return min((f.x.shape[0] for f in frames), default=0)


def strip_states(n: int, most: int = MAX_STATES) -> tuple[list[int], int]:
    """``(indices, k)``: which of ``n`` recorded states the strip draws, every ``k``-th
    from the first, and the last always (at most ``most``; all of them when they fit)."""
    if n <= most:
        return list(range(n)), 1
    k = -(-(n - 1) // (most - 1))
    return [*range(0, n - 1, k), n - 1], k


def ordinal(k: int) -> str:
    """``2`` → ``"2nd"``, ``11`` → ``"11th"``."""
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def segment_starts(frames) -> list[int]:
    """Indices of the frames that start a new segment (a chain run in stages under
    different energies: patchwise's pyramid levels), the first frame not included."""
    return [i for i in range(1, len(frames)) if frames[i].segment != frames[i - 1].segment]


def chain_strip(snapshot, index: int) -> np.ndarray | None:
    """The recorded states of chain ``index`` side by side, RGB uint8 (two rows when long),
    at most :data:`MAX_STATES` of them (:func:`strip_states`); ``None`` for kinds that
    are not drawn as images. Pure numpy: safe on any thread."""
    if snapshot.kind not in STRIP_KINDS or not snapshot.frames:
        return None
    picked, _ = strip_states(len(snapshot.frames))
    states = np.stack([snapshot.frames[i].x[index] for i in picked])
    if states.ndim < 4:
        return None
    if states.ndim == 5:  # video (steps, C, T, H, W): first frame of the clip
        states = states[:, :, 0]
    disp = to_display(states, "image", snapshot.value_range)
    nrow = len(disp) if len(disp) <= 6 else -(-len(disp) // 2)  # two rows when long
    return make_grid(disp, nrow=nrow, pad=2, pad_value=40)


def prepare_chains(snapshot) -> dict[int, np.ndarray]:
    """:func:`chain_strip` of every recorded chain (image and video kinds; else empty)."""
    if snapshot.kind not in STRIP_KINDS:
        return {}
    strips = {i: chain_strip(snapshot, i) for i in range(recorded_chains(snapshot))}
    return {i: strip for i, strip in strips.items() if strip is not None}


class FilmStrip(QWidget):
    """Shows chain ``index`` of a snapshot's recorded frames."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.title = steady_label("Click a sample to see its chain.")
        self.strip = unindexed(pg.GraphicsLayoutWidget())
        self.strip.setBackground("#202124")
        self.view = self.strip.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.image = pg.ImageItem()
        self.view.addItem(self.image)
        # spaced labels: on a narrow strip pyqtgraph's ran together ("00.20.40.60.8")
        self.trace = unindexed(pg.PlotWidget(background="#202124",
                                             axisItems={"bottom": SpacedAxis()}))
        self.trace.setLabel("bottom", "Langevin step")
        self.trace.setLabel("left", "E(x)")
        # ticks in the energy's own units (pyqtgraph's "(x0.001)" scaling puzzled people)
        self.trace.getAxis("left").enableAutoSIPrefix(False)
        self.trace.setToolTip("Energy of this chain along its Langevin steps (lower = more "
                              "probable). Langevin samples, it does not minimise: a chain that "
                              "starts below the model's typical energy rises to it (latent "
                              "priors started at N(0, I) often do).")
        self.curve = self.trace.plot(pen=pg.mkPen("#e15759", width=2), symbol="o", symbolSize=4,
                                     connect="finite")  # a gap between segments
        self.boundaries: list[pg.InfiniteLine] = []  # where a chain's next segment starts
        self.path = pg.PlotDataItem(pen=pg.mkPen("#ffcc00", width=2), symbol="o", symbolSize=4)
        # which states the strip shows, where it shows only some (strip_states)
        self.note = steady_label()
        self.note.setVisible(False)
        # one widget, hidden whole for kinds without a strip: the trace then takes the
        # width (a hidden strip in a bare layout kept its 3/5 of the row, empty)
        self.strip_box = QWidget()
        column = QVBoxLayout(self.strip_box)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.strip, 1)
        column.addWidget(self.note)
        row = QHBoxLayout()
        row.addWidget(self.strip_box, 3)
        row.addWidget(self.trace, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addLayout(row, 1)
        self.index: int | None = None  # the chain shown (None: none, or not recorded)
        self.picked: int | None = None  # the sample last clicked, recorded or not
        self._strip: np.ndarray | None = None  # the strip uploaded last

    def show_kind(self, kind: str) -> None:
        """Room for the strip only where ``kind``'s chains are drawn as one (images,
        videos); elsewhere the energy trace takes the row, before any click too."""
        self.strip_box.setVisible(kind in STRIP_KINDS)

    def clear(self) -> None:
        """No chain shown (a new run)."""
        self.picked = None
        self._no_chain()
        self.trace.setRange(xRange=(0, 1), yRange=(0, 1))  # the last run's axes go with it
        self.trace.enableAutoRange()
        self.title.setText("Click a sample to see its chain.")

    def _no_chain(self) -> None:
        self.index = None
        self.curve.setData([], [])
        self._mark_segments([])
        self.note.setVisible(False)
        self.image.clear()
        self._strip = None

    def show_chain(self, snapshot, index: int) -> bool:
        """Draw chain ``index``; False (and a hint, no stale chain) if it was not recorded.
        The sample stays :attr:`picked` either way (what a turntable exports)."""
        frames = snapshot.frames if snapshot is not None else ()
        recorded = recorded_chains(snapshot)
        self.picked = index
        if index >= recorded:
            if recorded == 0:  # training records chains only with train.record_every > 0
                why = "no chains were recorded for these samples"
            else:
                why = (f"the chains of samples 0–{recorded - 1} were recorded" if recorded > 1
                       else "only the chain of sample 0 was recorded")
            self.title.setText(f"Sample {index}: its chain was not recorded ({why}).")
            self.title.setToolTip("Sampling records the chains of the first samples; during "
                                  "training, chains are recorded only with "
                                  "train.record_every > 0 (every that many Langevin steps).")
            self._no_chain()  # not the last chain's curve under this sample's title
            return False
        self.title.setToolTip("")
        self.index = index
        steps = np.array([f.step for f in frames], dtype=np.float64)
        energy = np.array([f.energy[index] for f in frames], dtype=np.float64)
        # FCE's flow, a generator, or a sampling that recorded no steps: a state, not a
        # chain (one dot on an axis of ±0.001 steps says nothing the title does not)
        single = len(frames) == 1
        starts = segment_starts(frames)
        # segments are different networks' energies: not joined by a line (a patchwise
        # chain's four scales read as sampling raising the energy fourfold)
        xs, ys = np.insert(steps, starts, np.nan), np.insert(energy, starts, np.nan)
        self.curve.setData([] if single else xs, [] if single else ys)
        self._mark_segments([] if single else [frames[i].step for i in starts])
        self.show_kind(snapshot.kind)
        display = display_of(snapshot)
        strip = (display.chains.get(index) if display is not None and index in display.chains
                 else chain_strip(snapshot, index))
        if strip is not None:
            if strip is not self._strip:
                self.image.setImage(strip, autoLevels=False, levels=(0, 255))
                self.view.autoRange(padding=0.01)
                self._strip = strip
        else:
            self.image.clear()
            self._strip = None
        _, k = strip_states(len(frames))
        self.note.setText(f"every {ordinal(k)} of {len(frames)} states, and the last"
                          if k > 1 and strip is not None else "")
        self.note.setVisible(bool(self.note.text()))
        if single:
            self.title.setText(f"Sample {index}: only its final state was recorded (no chain "
                               f"steps), energy {energy[0]:.3g}")
        elif starts:
            last = starts[-1]
            # short: a longer line was cut off at the samples area's usual width
            self.title.setText(f"Chain of sample {index}: {len(starts) + 1} stages, "
                               f"{len(frames)} steps; last stage E "
                               f"{energy_change(energy[last], energy[-1])}")
            self.title.setToolTip("Each stage (patchwise: each scale of the pyramid) has its "
                                  "own energy network: energies compare within a stage, not "
                                  "across the dashed lines.")
        else:
            self.title.setText(f"Chain of sample {index}: {len(frames)} recorded steps, "
                               f"energy {energy_change(energy[0], energy[-1])}")
        return True

    def _mark_segments(self, steps: list[float]) -> None:
        """Dashed lines on the energy trace where the chain's stages start."""
        for line in self.boundaries:
            self.trace.removeItem(line)
        self.boundaries = [pg.InfiniteLine(pos=step, angle=90,
                                           pen=pg.mkPen("#9aa0a6", style=Qt.PenStyle.DashLine))
                           for step in steps]
        for line in self.boundaries:
            self.trace.addItem(line, ignoreBounds=True)

    def paint_now(self) -> None:
        """Paint a pending change now (so its cost is measured with the draw)."""
        if self.isVisible():
            self.strip.viewport().repaint()
            self.trace.viewport().repaint()
