"""Training curves: loss, data vs sample energy, gradient norm, it/s.

A smoothing slider (exponential moving average) and an x axis by iteration
or wall time. Knob edits and rollbacks appear as labelled vertical markers
on every plot; a rollback also drops the rows it voided (:meth:`CurvesView.truncate`),
and a followed run's ``metrics.csv`` rewritten by its job is read again
(:meth:`CurvesView.rewind`): the curves hold what the file holds.

Live rows only mark the plots dirty. Redrawing them is the GUI's most
frequent work while training, so it is paced (:class:`~app.pacing.FramePacer`,
2 % of wall time): one plot per redraw, round robin, only while the curves
are on screen, and the pacer is told what each redraw cost, painting
included. The redraw timer runs only while a plot is dirty: no rows, no
wake-ups of the GUI thread.
"""

from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget
from scipy.signal import lfilter

from app.pacing import CURVES_BUDGET, FramePacer
from app.views import unindexed
from app.views.spaced_axis import SpacedAxis

MARKER_COLOURS = {"knob": "#ffcc00", "rollback": "#ff6b6b", "diverged": "#ff9da7"}
REDRAW_MS = 120  # at most one plot per redraw, round robin; at least this far apart

PLOTS = (
    ("loss", "Loss", (("loss", "#f28e2b"),)),
    ("energy", "Energy (low = probable)",
     (("energy_data", "#59a14f"), ("energy_sample", "#e15759"))),
    ("grad", "Gradient norm", (("grad_norm", "#4e79a7"),)),
    ("its", "Iterations / s", (("its", "#b07aa1"),)),
)
# Task metrics some methods report (held-out accuracy of jem / symbol_vector): their plot
# joins the grid, under the other four, when a run first reports one.
TASK_PLOTS = (
    ("accuracy", "Held-out accuracy (higher is better)", (("accuracy", "#76b7b2"),)),
)
SERIES = {name: series for name, _title, series in PLOTS + TASK_PLOTS}
# One more plot of any recorded metric the user picks ("also plot"): a method's own
# (gen_loss, cross_entropy …), which its About card says to watch.
OTHER, OTHER_COLOUR, NONE = "other", "#edc948", "—"
NOT_OFFERED = {"iteration", "wall_time", "edits"} | {
    key for series in SERIES.values() for key, _colour in series}
# Titles for a plot too narrow for its own (about 150 pixels on a 1024-pixel screen);
# a key's labels then drop the prefix they share.
SHORT_TITLES = {"energy": "Energy", "grad": "Grad. norm", "its": "Iter. / s"}
KEY_PREFIX = "energy_"
#: Pixels a full title needs beside its text (the plot's own margins).
TITLE_MARGIN = 24


def title_html(title: str, series, short: bool = False) -> str:
    """``title``, with a colour key of ``series`` under it where it has two curves or more."""
    if len(series) < 2:  # a key under the title: a legend box would hide curves
        return title
    labels = [(key.removeprefix(KEY_PREFIX) if short else key, _rgb(colour))
              for key, colour in series]
    return title + '<br><span style="font-size: 9pt">' + key_html(labels) + "</span>"


def key_html(series: list[tuple[str, tuple[int, ...]]]) -> str:
    """A colour key for a plot's title: ``━ label`` in each curve's colour. A legend box
    inside the plot hid the newest points under it (its top corner is where curves end)."""
    return "&nbsp;&nbsp;".join(f'<span style="color: rgb({c[0]}, {c[1]}, {c[2]})">━ {label}</span>'
                               for label, c in series)


def shrinkable_title(plot: pg.PlotItem) -> None:
    """Let ``plot``'s title be narrower than its text, now and after every ``setTitle``.

    pyqtgraph makes a title's text width its minimum width (again at each text change
    and resize), so on a narrow panel the plots' grid grew past the view and the
    right-hand plots were cut off; a title wider than its plot is the lesser harm.
    """
    label = plot.titleLabel
    if getattr(label, "_shrinkable", False):
        return
    measure = label.updateMin

    def update_min() -> None:
        measure()
        hints = getattr(label, "_sizeHint", {})  # pyqtgraph's own cache of its size hints
        for hint in (Qt.SizeHint.MinimumSize, Qt.SizeHint.PreferredSize):  # plots share alike
            hints[hint] = (0, hints.get(hint, (0, 0))[1])
        label.setMinimumWidth(0)
        label.updateGeometry()

    label.updateMin = update_min  # LabelItem.setText and resizeEvent call it
    label._shrinkable = True
    update_min()


def _rgb(colour: str) -> tuple[int, int, int]:
    """``"#f28e2b"`` → ``(242, 142, 43)``."""
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))


def ema(y: np.ndarray, alpha: float) -> np.ndarray:
    """Exponential moving average with weight ``alpha`` on the past (0 = raw)."""
    y = np.asarray(y, dtype=np.float64)
    if alpha <= 0 or len(y) == 0:
        return y
    finite = np.isfinite(y)
    if not finite.any():
        return y
    # carry the last finite value over gaps so one NaN does not blank the curve
    idx = np.where(finite, np.arange(len(y)), 0)
    np.maximum.accumulate(idx, out=idx)
    filled = y[idx]
    filled[: np.argmax(finite)] = y[np.argmax(finite)]
    out, _ = lfilter([1 - alpha], [1, -alpha], filled, zi=[alpha * filled[0]])
    return out


class TimedLayout(pg.GraphicsLayoutWidget):
    """A GraphicsLayoutWidget that adds up the time its paints take (``paint_seconds``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.paint_seconds = 0.0

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        t0 = time.perf_counter()
        super().paintEvent(event)
        self.paint_seconds += time.perf_counter() - t0


class CurvesView(QWidget):
    """Four live plots fed with metrics rows; markers for knob edits."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.rows: dict[str, list[float]] = {}
        self.markers: list[tuple[int, str, str]] = []  # iteration, label, kind
        self.update_count = 0
        self._dirty: set[str] = set()
        self._next = 0
        # Repainting a plot (axes, text) is the GUI's costliest work while training:
        # refresh one plot per due tick, only when shown, so no tick paints all four.
        self.pacer = FramePacer(CURVES_BUDGET, min_interval=REDRAW_MS / 1000, max_interval=2.0)
        self._redraw_started: float | None = None  # the last paced redraw, not yet costed
        self._redraw_seconds = 0.0
        self._timer = QTimer(self)  # the next redraw, while a plot is dirty
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._redraw_if_dirty)
        self.smooth = QSlider(Qt.Orientation.Horizontal)
        self.smooth.setRange(0, 99)
        self.smooth.setValue(60)
        self.smooth.setToolTip("Smoothing: exponential moving average weight on the past (0–0.99)")
        self.smooth.valueChanged.connect(self.redraw)
        self.xaxis = QComboBox()
        self.xaxis.addItems(["iteration", "wall time (s)"])
        self.xaxis.currentIndexChanged.connect(self.redraw)
        self.other = QComboBox()
        self.other.setObjectName("curves_also_plot")
        self.other.addItem(NONE)
        # wide enough for most names (the closed box read "gen_…"), never wider: the
        # panel may be 300 px
        self.other.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.other.setMinimumContentsLength(16)
        self.other.setToolTip("Plot one more metric the run records (a method's own, e.g. "
                              "gen_loss), under the others")
        self._wanted = ""  # the metric picked: picked again when a new run records it
        self.other.currentTextChanged.connect(self._choose_other)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Smoothing"))
        bar.addWidget(self.smooth, 1)
        bar.addWidget(QLabel("x axis"))
        bar.addWidget(self.xaxis)
        more = QHBoxLayout()  # a row of its own: the first is full on a narrow panel
        more.addWidget(QLabel("also plot"))
        more.addWidget(self.other)
        more.addStretch(1)
        self.plots = unindexed(TimedLayout())
        self.plots.setBackground("#202124")
        self.items: dict[str, pg.PlotItem] = {}
        self.lines: dict[str, pg.PlotDataItem] = {}
        self.marker_items: list[tuple[pg.PlotItem, pg.InfiniteLine]] = []
        # each plot's title and its short form, with their widths once measured
        self.titles: dict[str, tuple[str, str]] = {}
        self._title_widths: dict[str, tuple[float, float]] = {}
        for i, (name, title, series) in enumerate(PLOTS):
            self.titles[name] = (title_html(title, series),
                                 title_html(SHORT_TITLES.get(name, title), series, short=True))
            plot = self.plots.addPlot(row=i // 2, col=i % 2, title=self.titles[name][0],
                                      axisItems={"bottom": SpacedAxis()})
            plot.setClipToView(True)
            plot.setDownsampling(auto=True, mode="peak")
            shrinkable_title(plot)
            self._add_lines(plot, series)
            self.items[name] = plot
            plot.geometryChanged.connect(lambda n=name: self._fit_title(n))
        # Why the plots are empty when a run's history is not there (a pretrained model).
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #aaaaaa; padding: 4px")
        self.note.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addLayout(more)
        layout.addWidget(self.note)
        layout.addWidget(self.plots, 1)

    def _fit_title(self, name: str) -> None:
        """Give plot ``name`` its full title where it fits its width, else the short one."""
        plot = self.items[name]
        label = plot.titleLabel
        if name not in self._title_widths:
            widths = []
            for text in self.titles[name]:
                label.setText(text)
                widths.append(label.item.boundingRect().width())
            self._title_widths[name] = (widths[0], widths[1])
        full, short = self.titles[name]
        # the label sits inside the plot's margins: a title as wide as the plot was cut
        wanted = full if self._title_widths[name][0] + TITLE_MARGIN <= plot.width() else short
        if label.text != wanted:
            plot.setTitle(wanted)

    def _add_lines(self, plot: pg.PlotItem, series) -> None:
        for key, color in series:
            self.lines[key] = plot.plot(pen=pg.mkPen(color, width=1.5), name=key)

    def _add_task_plots(self, keys) -> None:
        """Add the plot of each task metric in ``keys`` that has none yet."""
        for name, title, series in TASK_PLOTS:
            if name in self.items or not any(key in keys for key, _ in series):
                continue
            plot = self.plots.addPlot(row=2 + len(self.items) - len(PLOTS), col=0, colspan=2,
                                      title=title, axisItems={"bottom": SpacedAxis()})
            plot.setClipToView(True)
            self._add_lines(plot, series)
            self.items[name] = plot
            for iteration, label, kind in self.markers:
                self._draw_marker(iteration, label, kind, only=plot)

    def _remove_task_plots(self) -> None:
        for name, _title, series in TASK_PLOTS:
            self._remove_plot(name, series)
        self._remove_plot(OTHER, self._series(OTHER))

    def _remove_plot(self, name: str, series) -> None:
        plot = self.items.pop(name, None)
        if plot is None:
            return
        self.marker_items = [(p, line) for p, line in self.marker_items if p is not plot]
        self.plots.removeItem(plot)
        for key, _ in series:
            if key not in NOT_OFFERED:  # never a fixed plot's own line
                self.lines.pop(key, None)

    @property
    def picked(self) -> str:
        """The metric picked under "also plot" (``""``: none), plotted whenever a run
        records it; set it to pick one before any run offers it (a new launch)."""
        return self._wanted

    @picked.setter
    def picked(self, key: str) -> None:
        self._wanted = "" if key == NONE else str(key or "")
        if self._wanted and self.other.findText(self._wanted) >= 0:
            self.other.setCurrentText(self._wanted)

    def _series(self, name: str):
        """The curves of plot ``name`` (the "also plot" one: the metric picked)."""
        if name == OTHER:
            return ((self._wanted, OTHER_COLOUR),) if self._wanted else ()
        return SERIES[name]

    def _choose_other(self, key: str) -> None:
        """Plot ``key`` under the others (:data:`NONE`: no such plot)."""
        self._remove_plot(OTHER, self._series(OTHER))
        if not self.other.signalsBlocked():  # the user's pick, not a list being refilled
            self._wanted = "" if key == NONE else key
        if key == NONE or not key:
            return
        plot = self.plots.addPlot(row=3 + len(TASK_PLOTS), col=0, colspan=2, title=key,
                                  axisItems={"bottom": SpacedAxis()})
        plot.setClipToView(True)
        self._add_lines(plot, self._series(OTHER))
        self.items[OTHER] = plot
        for iteration, label, kind in self.markers:
            self._draw_marker(iteration, label, kind, only=plot)
        self._redraw_plot(OTHER)

    def _offer(self, keys) -> None:
        """Add metrics first recorded now to the "also plot" list (the one wanted: plot it)."""
        new = sorted(k for k in keys if k not in NOT_OFFERED
                     and self.other.findText(k) < 0)
        if not new:
            return
        self.other.blockSignals(True)
        for key in new:
            self.other.addItem(key)
        self.other.blockSignals(False)
        if self._wanted in new:
            self.other.setCurrentText(self._wanted)

    def set_note(self, text: str) -> None:
        """Say above the plots why they are empty ("" hides it; new rows hide it too)."""
        self.note.setText(text)
        self.note.setVisible(bool(text))

    def clear(self) -> None:
        self.set_note("")
        self.rows = {}
        self.markers = []
        self._remove_task_plots()
        self.other.blockSignals(True)  # the next run offers its own metrics
        self.other.clear()
        self.other.addItem(NONE)
        self.other.blockSignals(False)
        self.redraw()
        for plot in self.items.values():  # the next run's curves set their own ranges
            plot.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)  # not the old run's axes
            plot.enableAutoRange()

    def add_rows(self, rows: list[dict]) -> None:
        """Append metrics rows (``iteration``, ``wall_time``, metrics…) and redraw."""
        if rows and not self.note.isHidden():
            self.set_note("")
        for row in rows:
            self._add_task_plots(row)
            self._offer(k for k in row if k not in self.rows)
            n = len(self.rows.get("iteration", []))
            for key, value in row.items():
                column = self.rows.setdefault(key, [float("nan")] * n)
                column.append(float(value))
            for column in self.rows.values():
                if len(column) < n + 1:
                    column.append(float("nan"))
        self._dirty = set(self.items)
        self._schedule()

    @property
    def on_screen(self) -> bool:
        """Shown (its tab is the current one), in a window that is not minimised."""
        return self.isVisible() and not self.window().isMinimized()

    def _schedule(self) -> None:
        """Redraw when the pacer allows (at least :data:`REDRAW_MS` after the last);
        not while hidden (:meth:`showEvent` schedules then)."""
        if self.on_screen and not self._timer.isActive():
            self._timer.start(max(REDRAW_MS, int(1000 * self.pacer.wait()) + 1))

    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().showEvent(event)
        if self._dirty:  # rows that came while another tab was shown
            self._schedule()

    def _redraw_if_dirty(self) -> None:
        self._cost_last_redraw()
        if not self._dirty or not self.on_screen:
            return  # hidden: showEvent or the next rows bring it back
        if not self.pacer.due():
            self._schedule()
            return
        names = list(self.items)
        for k in range(len(names)):
            name = names[(self._next + k) % len(names)]
            if name in self._dirty:
                self._next = (names.index(name) + 1) % len(names)
                started = time.perf_counter()
                self._redraw_plot(name)
                self._redraw_started = started
                self._redraw_seconds = time.perf_counter() - started
                self.plots.paint_seconds = 0.0  # its paint comes before the next tick
                break
        if self._dirty:
            self._schedule()

    def _cost_last_redraw(self) -> None:
        """Tell the pacer what the last redraw cost: its data update and the paint it caused."""
        if self._redraw_started is not None:
            self.pacer.drawn(self._redraw_seconds + self.plots.paint_seconds, self._redraw_started)
            self._redraw_started = None

    def add_marker(self, iteration: int, label: str, kind: str = "knob") -> None:
        """A vertical line at ``iteration`` on every plot (``kind``: ``knob``, ``rollback``
        or ``diverged``)."""
        self.markers.append((iteration, label, kind))
        self._draw_marker(iteration, label, kind)

    def truncate(self, iteration: int, rows: bool = True) -> None:
        """Drop what a rollback to ``iteration`` voided: the knob markers after it and,
        with ``rows``, the rows after it.

        A followed run passes ``rows=False``: its job rewrote ``metrics.csv`` before it
        wrote the rollback line, so the rows read by then are the file's, the restarted
        run's among them (a rewrite still unread comes as :meth:`rewind`).
        """
        if rows:
            self._drop_rows_after(iteration)
        # edits after it were undone with it; rollbacks and divergences stay history
        self.markers = [m for m in self.markers if m[0] <= iteration or m[2] != "knob"]
        self.redraw()

    def rewind(self, iteration: int) -> None:
        """Drop the rows after ``iteration``: a followed run's ``metrics.csv`` was
        rewritten and its rows come again. The markers stay (``events.jsonl`` is not
        read again)."""
        self._drop_rows_after(iteration)
        self.redraw()

    def _drop_rows_after(self, iteration: int) -> None:
        its = self.rows.get("iteration", [])
        start = next((i for i, it in enumerate(its) if it > iteration), len(its))
        for column in self.rows.values():
            del column[start:]
        self._dirty = set(self.items)
        self._schedule()

    def _x_of(self, iteration: int) -> float:
        if self.xaxis.currentIndex() == 0 or "wall_time" not in self.rows:
            return float(iteration)
        its = np.asarray(self.rows["iteration"])
        walls = np.asarray(self.rows["wall_time"])
        return float(np.interp(iteration, its, walls)) if len(its) else 0.0

    def _draw_marker(self, iteration: int, label: str, kind: str = "knob",
                     only: pg.PlotItem | None = None) -> None:
        x = self._x_of(iteration)
        colour = MARKER_COLOURS.get(kind, MARKER_COLOURS["knob"])
        # labels of markers close together are stacked at different heights, not piled up
        nth = sum(1 for it, _label, _kind in self.markers if it <= iteration) - 1
        height = 0.92 - 0.14 * (max(nth, 0) % 5)
        for plot in [only] if only is not None else self.items.values():
            line = pg.InfiniteLine(pos=x, angle=90, pen=pg.mkPen(colour, style=Qt.PenStyle.DashLine),
                                   label=label if plot is self.items["loss"] else None,
                                   labelOpts={"position": height, "color": colour})
            plot.addItem(line)
            self.marker_items.append((plot, line))

    def redraw(self) -> None:
        """Redraw every plot now (smoothing or x axis changed, tests)."""
        for name in self.items:
            self._redraw_plot(name)
        for plot, line in self.marker_items:
            plot.removeItem(line)
        self.marker_items = []
        for iteration, label, kind in self.markers:
            self._draw_marker(iteration, label, kind)

    def _redraw_plot(self, name: str) -> None:
        self._dirty.discard(name)
        xs_key = "iteration" if self.xaxis.currentIndex() == 0 else "wall_time"
        x = np.asarray(self.rows.get(xs_key, []), dtype=np.float64)
        alpha = self.smooth.value() / 100.0
        for key, _color in self._series(name):
            line = self.lines[key]
            y = np.asarray(self.rows.get(key, []), dtype=np.float64)
            if len(y) != len(x) or not len(x):
                line.setData([], [])
                continue
            line.setData(x, ema(y, alpha))
        if name == "loss":
            self.update_count += 1
