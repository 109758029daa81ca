"""The only code in the app that owns a thread: a thin adaptor around one :class:`Session`.

A worker thread iterates one of the session's generators (train, resume,
follow, sample) or a data preview and appends the typed events to a deque;
each :class:`SamplesReady` is first made display-ready there
(:func:`app.display.prepare`: uint8 grids, isosurfaces …), so the GUI
thread only uploads.

The GUI thread drains the deque at most every 33 ms, and only when the
worker has queued something: the worker's first event after a drain sends
one queued wake-up. An idle or slow run costs the GUI thread no timer
ticks, so no Python work that would take the GIL from the worker (on a
loaded machine each such hand-over can cost the worker a scheduler slice).
A drain emits the metrics rows in one batch, the rare events one by one
and in order, then ``sigStateChanged`` when :attr:`Session.state` moved.

Of the snapshots only the *latest* is emitted, and only when the frame
pacer says a draw is due (:mod:`app.pacing`; the window reports each
draw's cost through :meth:`Controller.frame_drawn`), so drawing takes at
most a set share of wall time; a run's first snapshot, and the latest one
when a run pauses or ends, are emitted at once.

What may change, and when, is the session's business (:meth:`edit`); this
class only moves events across threads. Signals are named
``sig<Something>`` (pyqtgraph style).
"""

from __future__ import annotations

import collections
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from PySide6.QtCore import QObject, Qt, QTimer, Signal

from app.display import prepare
from app.gui_gc import collect_on_gui_thread
from app.pacing import SAMPLES_BUDGET, FramePacer
from ebm_engine.config import RunConfig
from ebm_engine.errors import EBMError, out_of_memory
from ebm_engine.learning.events import Diverged, RolledBack, RunStarted, SamplesReady, TrainStep
from ebm_engine.session import EditResult, PauseOnDivergence, Session

TICK_MS = 33  # GUI refresh: at most one drain per 33 ms (~30 Hz), only when there is news
FOLLOW_SECONDS = 0.5  # how often a followed run folder is read
# Slowest sample refresh while training. Early 3D chains are noise: their isosurfaces
# have ~13× the triangles of a shape, and 16 of them take ~0.4 s in software OpenGL,
# so the 5 % budget asks for 8 s; 5 s keeps the view alive and drawing under 8 %.
SAMPLES_MAX_INTERVAL = 5.0

_warmed = threading.Event()  # the warm-up was started
_warm_done = threading.Event()  # … and has finished


def warm_up() -> threading.Thread | None:
    """Import what pressing Train needs, once per process, on a daemon thread.

    Building a trainer runs the pre-flight memory check, whose ``meta``-device
    forward pass makes torch import ``torch._dynamo`` (and sympy) on first
    use: about a second between pressing Train and the first samples. Done
    while the user looks at the data, the click finds it done. A daemon, so
    a quick quit never waits for it; an import that fails here fails again,
    with its message, where the trainer needs it. A worker waits for it to
    finish before running torch: importing ``torch._dynamo`` registers
    operators, which must not race a forward pass on another thread.
    """
    if _warmed.is_set():
        return None
    _warmed.set()

    def run() -> None:
        try:
            import torch._dynamo  # noqa: F401 (what a meta-device forward pulls in lazily)

            import ebm_engine.learning.trainer  # noqa: F401
        except Exception:  # the trainer's own import reports it
            pass
        finally:
            _warm_done.set()

    thread = threading.Thread(target=run, name="ebm-warmup", daemon=True)
    thread.start()
    return thread


class Controller(QObject):
    """Run a session's generators on a worker thread; emit their events on the GUI thread.

    Parameters
    ----------
    worker_threads : int
        torch intra-op threads on the worker (keeps a core for the GUI).
    """

    sigStateChanged = Signal(str)  # a RunState value
    sigConfigChanged = Signal(object)  # the RunConfig now in force
    sigMetrics = Signal(list)  # rows (dicts: iteration, wall_time, metrics …) since the last tick
    sigIteration = Signal(int)  # the latest iteration, after each batch of rows
    sigSnapshot = Signal(object)  # the latest SamplesReady (a PreparedSnapshot), when a draw is due
    sigError = Signal(str)  # one sentence for a dialog
    # one signal per rare event, named after its class, carrying the event
    sigRunStarted = Signal(object)
    sigCheckpointed = Signal(object)
    sigKnobApplied = Signal(object)
    sigWarned = Signal(object)
    sigDiverged = Signal(object)
    sigRolledBack = Signal(object)
    sigRewound = Signal(object)
    sigTargetSet = Signal(object)  # a followed run's new total of iterations
    sigFinished = Signal(object)
    sigPreviewFailed = Signal(object)  # app.preview.PreviewFailed: a user's data cannot be shown
    _sigWake = Signal()  # the worker queued something (delivered on the GUI thread)

    def __init__(self, parent: QObject | None = None, worker_threads: int = 1,
                 cfg: RunConfig | None = None):
        super().__init__(parent)
        collect_on_gui_thread()  # the worker must never run the cycle collector (app.gui_gc)
        # Python's default GIL switch interval (5 ms) is kept: 1 ms measured
        # p99 10.6 vs 8.5 ms GUI latency but cost the worker 15 % of its speed.
        self.worker_threads = worker_threads
        self.session = Session(cfg, on_diverge=PauseOnDivergence(), display=True)
        self.iteration = 0
        self._state = self.session.state.value
        self._events: collections.deque[Any] = collections.deque()
        self._thread: threading.Thread | None = None
        self._preview = False  # the worker only loads data to show
        # The work (running, or the last) follows a run another process writes: its
        # divergences and rollbacks are that process's, not this app's to pause or undo.
        self.following_run = False
        self._abandoned = threading.Event()  # the current worker's: its output is no longer wanted
        self._queue_lock = threading.Lock()
        self.pacer = FramePacer(SAMPLES_BUDGET, min_interval=TICK_MS / 1000,
                                max_interval=SAMPLES_MAX_INTERVAL)
        self._snapshot: SamplesReady | None = None  # the latest, not yet emitted
        self._shown = self.session.config  # the config last announced
        self._woken = threading.Event()  # a wake-up is on its way: the worker sends no other
        self._done = threading.Event()  # the worker has queued its last item
        self._closed = False
        self._last_drain = 0.0
        self._tick = QTimer(self)  # the next drain: TICK_MS after the last, or when a snapshot is due
        self._tick.setSingleShot(True)
        self._tick.timeout.connect(self._drain)
        self._sigWake.connect(self._schedule_drain, Qt.ConnectionType.QueuedConnection)
        warm_up()

    # --- queries ------------------------------------------------------------------
    @property
    def state(self) -> str:
        """The state last announced by ``sigStateChanged`` (what the window shows)."""
        return self._state

    @property
    def config(self) -> RunConfig:
        return self.session.config

    @property
    def run_dir(self) -> Path | None:
        return self.session.run_dir

    @property
    def busy(self) -> bool:
        """A worker thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    # --- the config (GUI thread) ----------------------------------------------------
    def set_config(self, cfg: RunConfig) -> bool:
        """Use ``cfg`` as a whole (other data, a preset); False (and ``sigError``) if refused."""
        if not self._settle():
            return False
        try:
            self.session.set_config(cfg)
        except EBMError as exc:
            self.sigError.emit(str(exc))
            return False
        self._announce_state()
        self._shown = self.session.config
        self.sigConfigChanged.emit(self._shown)
        return True

    def edit(self, key: str, value: Any) -> EditResult:
        """The session's verdict on one knob edit (``Accepted`` or ``Refused``)."""
        return self.session.edit(key, value)

    # --- work (GUI thread) ------------------------------------------------------------
    def train(self, run_dir: str | Path | None, *, paused: bool = False, steps: int = 0) -> bool:
        return self._start(lambda: self.session.train(run_dir, paused=paused, steps=steps))

    def resume(self, run_dir: str | Path, *, paused: bool = False, steps: int = 0) -> bool:
        return self._start(lambda: self.session.resume(run_dir, paused=paused, steps=steps))

    def follow(self, run_dir: str | Path, poll_seconds: float = FOLLOW_SECONDS) -> bool:
        return self._start(lambda: self.session.follow(run_dir, poll_seconds), follow=True)

    def sample(self, path: str | Path, n: int = 64) -> bool:
        return self._start(lambda: self.session.sample(path, n))

    def preview(self, cfg: RunConfig, quiet: bool = False) -> bool:
        """Load ``cfg``'s data on the worker and show it (``SamplesReady`` with origin ``preview``);
        ``quiet``: unreadable data shows nothing rather than an error."""
        from app.preview import preview_events

        return self._start(lambda: preview_events(cfg, quiet), preview=True)

    # --- controls (GUI thread; the session's gates are thread-safe) ----------------------
    def pause(self) -> None:
        self.session.pause()
        self._announce_state()

    def resume_run(self) -> None:
        self.session.resume_run()
        self._announce_state()

    def step(self) -> None:
        """One more training iteration, then paused."""
        self.session.step()
        self._announce_state()

    def roll_back_choices(self) -> list[tuple[int, str]]:
        """Where :meth:`roll_back` can go, newest first, as ``(iteration, what)``."""
        return self.session.roll_back_choices()

    def roll_back(self, iteration: int | None = None) -> None:
        """Paused after a divergence: back to a checkpoint of the run (default: the
        latest) and its settings."""
        self.session.roll_back(iteration)
        self._announce_state()

    def stop(self) -> None:
        """Finish the run (within one Langevin step; the trainer checkpoints)."""
        self.session.stop()

    def reset(self) -> None:
        """Forget the current run (stopping it first); the config stays."""
        self.stop()
        self.wait()
        self._drain(show=False)  # the old run's last samples would flash before the data
        if self.set_config(self.session.config):
            self.iteration = 0

    def frame_drawn(self, seconds: float, started: float | None = None) -> None:
        """The window drew a snapshot in ``seconds``: the pacer spaces the next ones."""
        self.pacer.drawn(seconds, started)

    def wait(self, timeout: float = 60.0) -> None:
        """Join the worker (tests, shutdown)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def shutdown(self, timeout: float = 60.0) -> bool:
        """Stop and wait for the worker (window closing); True if it ended."""
        self.stop()
        self._closed = True
        self._tick.stop()
        self.wait(timeout)
        self._events.clear()
        self._snapshot = None
        return not self.busy

    # --- worker plumbing ----------------------------------------------------------------
    def _settle(self) -> bool:
        """Let a run's last moments end, or drop a preview still loading; False while a run is on."""
        if self.busy and not self._preview and not self.session.active:
            self._thread.join(0.5)  # out of its generator's ``finally`` (or just starting)
        if self.session.active or (self.busy and not self._preview):
            self.sigError.emit("A run is already active; stop it first.")
            return False
        if self.busy and self._preview:
            # A slow data set (molecules: ~30 s under load) must not freeze the window:
            # its loader ends on its own (a daemon thread); what it yields is dropped.
            with self._queue_lock:
                self._abandoned.set()
            self._thread = None
        self.wait()
        if self._preview:
            self._events.clear()  # a preview of what is about to be replaced
            self._snapshot = None
        self._drain()
        return True

    def _start(self, make: Callable[[], Iterator[Any]], preview: bool = False,
               follow: bool = False) -> bool:
        if not self._settle():  # the last work's events are out: the flag may change
            return False
        from ebm_engine.learning.saved_config import forget_said

        forget_said()  # a new run or model: what the last one's options said is said again
        self.following_run = follow
        self._events.clear()
        self._snapshot = None
        self.pacer.reset()  # the new work's first snapshot is drawn at once
        self._preview = preview
        self._done.clear()
        self._abandoned = threading.Event()  # set when a newer work replaces this preview
        self._thread = threading.Thread(target=self._work, args=(make(), self._abandoned),
                                        name="ebm-worker", daemon=preview)
        self._thread.start()
        self._announce_state()  # the session's state changed when the work was made (running …)
        return True

    def _work(self, events: Iterator[Any], abandoned: threading.Event) -> None:
        if _warmed.is_set():
            _warm_done.wait()  # no torch work while the warm-up registers operators
        torch.set_num_threads(self.worker_threads)
        try:
            for event in events:
                if isinstance(event, SamplesReady):
                    event = prepare(event)  # the per-pixel work, here rather than on the GUI thread
                if not self._queue(event, abandoned):
                    return
        except EBMError as exc:
            self._queue(exc, abandoned)
        except Exception as exc:  # a bug: keep the app alive, say what happened
            if (line := out_of_memory(exc)) is not None:  # not a bug: too big for this machine
                self._queue(EBMError(line), abandoned)
                return
            traceback.print_exc()
            self._queue(RuntimeError(f"Internal error: {type(exc).__name__}: {exc}"), abandoned)
        finally:
            with self._queue_lock:
                if not abandoned.is_set():  # else a newer work owns the queue now
                    self._done.set()  # the session's final state is set by now
                    self._woken.set()
                    self._sigWake.emit()

    def _queue(self, item: Any, abandoned: threading.Event | None = None) -> bool:
        """Worker thread: queue ``item``; wake the GUI thread unless a wake-up is pending.

        False (nothing queued) once the worker's preview was ``abandoned``.
        """
        with self._queue_lock:
            if abandoned is not None and abandoned.is_set():
                return False
            self._events.append(item)
        if not self._woken.is_set():
            self._woken.set()
            self._sigWake.emit()
        return True

    # --- GUI-thread side ---------------------------------------------------------------
    def _schedule_drain(self, delay_ms: int | None = None) -> None:
        """Drain ``delay_ms`` from now (default: :data:`TICK_MS` after the last drain), or sooner
        if a drain is already set for sooner."""
        if self._closed:
            return
        if delay_ms is None:
            delay_ms = int(TICK_MS - 1000 * (time.perf_counter() - self._last_drain))
        if delay_ms <= 0:  # due: now, in this wake-up of the GUI thread (no timer round trip)
            self._tick.stop()
            self._drain()
        elif not self._tick.isActive() or self._tick.remainingTime() > delay_ms:
            self._tick.start(delay_ms)

    def _drain(self, show: bool = True) -> None:
        """Emit what the worker produced since the last drain (GUI thread); ``show``
        False drops its samples instead (a reset forgets the run)."""
        self._last_drain = time.perf_counter()
        self._woken.clear()  # an item queued from now on sends a new wake-up
        # Read the state first: every event that came before a change is emitted before it.
        state = self.session.state.value
        done = self._done.is_set()  # before draining: a worker that ended has queued everything
        rows: list[dict] = []
        while self._events:
            item = self._events.popleft()
            if isinstance(item, TrainStep):
                rows.append({"iteration": item.iteration, "wall_time": item.wall_time,
                             **item.metrics})
            elif isinstance(item, SamplesReady):
                self._snapshot = item  # an older one not drawn yet is dropped
            else:
                self._flush(rows)  # curves before markers, rollbacks and the end
                self._emit(item)
        self._flush(rows)
        if not show:
            self._snapshot = None
        # Live training waits for the pacer; a pause, the end or a one-off (preview,
        # sampling) shows the latest at once.
        if self._snapshot is not None:
            if self.pacer.due() or state != "running" or done:
                snapshot, self._snapshot = self._snapshot, None
                self.sigSnapshot.emit(snapshot)
            else:
                self._schedule_drain(int(1000 * self.pacer.wait()) + 1)
        self._set_state(state)

    def _flush(self, rows: list[dict]) -> None:
        if rows:
            self.iteration = int(rows[-1]["iteration"])
            self.sigMetrics.emit(list(rows))
            self.sigIteration.emit(self.iteration)
            rows.clear()

    def _emit(self, item: Any) -> None:
        if isinstance(item, Exception):
            self.sigError.emit(str(item))
            return
        if isinstance(item, RunStarted) or (isinstance(item, RolledBack)
                                            and not self.following_run):
            # a followed run's rows after its rollback may be read already
            self.iteration = item.iteration
        if isinstance(item, Diverged) and not self.following_run:
            # The session pauses before it yields this event, but this drain may have read
            # the state just before: announce the pause first, so the window shows Resume.
            self._set_state(self.session.state.value)
        getattr(self, f"sig{type(item).__name__}").emit(item)
        if isinstance(item, (RunStarted, RolledBack)) and self.session.config != self._shown:
            self._shown = self.session.config  # an opened run's config, or a gentler one
            self.sigConfigChanged.emit(self._shown)

    def _announce_state(self) -> None:
        """Announce the session's state after a GUI-thread change, with the events that came
        before it: a fast worker may already have finished (a followed run that had ended)."""
        self._drain()

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.sigStateChanged.emit(state)
