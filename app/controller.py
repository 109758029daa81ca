"""The only code in the app that owns a thread: a thin adaptor around one :class:`Session`.

A worker thread iterates one of the session's generators (train, resume,
follow, sample) or a data preview and appends the typed events to a deque.
A 30 Hz timer on the GUI thread drains it: metrics rows in one batch, only
the *latest* :class:`SamplesReady`, the rare events one by one and in
order, then ``sigStateChanged`` when :attr:`Session.state` moved. What may
change, and when, is the session's business (:meth:`edit`); this class
only moves events across threads. Signals are named ``sig<Something>``
(pyqtgraph style).
"""

from __future__ import annotations

import collections
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from PySide6.QtCore import QObject, QTimer, Signal

from ebm_engine.config import RunConfig
from ebm_engine.errors import EBMError
from ebm_engine.learning.events import RolledBack, RunStarted, SamplesReady, TrainStep
from ebm_engine.session import EditResult, PauseOnDivergence, Session

TICK_MS = 33  # GUI refresh: at most one snapshot drawn per tick (~30 Hz)
FOLLOW_SECONDS = 0.5  # how often a followed run folder is read


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
    sigSnapshot = Signal(object)  # the latest SamplesReady of a tick
    sigError = Signal(str)  # one sentence for a dialog
    # one signal per rare event, named after its class, carrying the event
    sigRunStarted = Signal(object)
    sigCheckpointed = Signal(object)
    sigKnobApplied = Signal(object)
    sigWarned = Signal(object)
    sigDiverged = Signal(object)
    sigRolledBack = Signal(object)
    sigRewound = Signal(object)
    sigFinished = Signal(object)

    def __init__(self, parent: QObject | None = None, worker_threads: int = 1,
                 cfg: RunConfig | None = None):
        super().__init__(parent)
        # Python's default GIL switch interval (5 ms) is kept: 1 ms measured
        # p99 10.6 vs 8.5 ms GUI latency but cost the worker 15 % of its speed.
        self.worker_threads = worker_threads
        self.session = Session(cfg, on_diverge=PauseOnDivergence(), display=True)
        self.iteration = 0
        self._state = self.session.state.value
        self._events: collections.deque[Any] = collections.deque()
        self._thread: threading.Thread | None = None
        self._preview = False  # the worker only loads data to show
        self._shown = self.session.config  # the config last announced
        self._tick = QTimer(self)
        self._tick.setInterval(TICK_MS)
        self._tick.timeout.connect(self._drain)
        self._tick.start()

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
        self._poll_state()
        self._shown = self.session.config
        self.sigConfigChanged.emit(self._shown)
        return True

    def edit(self, key: str, value: Any) -> EditResult:
        """The session's verdict on one knob edit (``Accepted`` or ``Refused``)."""
        return self.session.edit(key, value)

    # --- work (GUI thread) ------------------------------------------------------------
    def train(self, run_dir: str | Path | None, *, paused: bool = False, steps: int = 0) -> bool:
        return self._start(lambda: self.session.train(run_dir, paused=paused, steps=steps))

    def resume(self, run_dir: str | Path) -> bool:
        return self._start(lambda: self.session.resume(run_dir))

    def follow(self, run_dir: str | Path, poll_seconds: float = FOLLOW_SECONDS) -> bool:
        return self._start(lambda: self.session.follow(run_dir, poll_seconds))

    def sample(self, path: str | Path, n: int = 64) -> bool:
        return self._start(lambda: self.session.sample(path, n))

    def preview(self, cfg: RunConfig) -> bool:
        """Load ``cfg``'s data on the worker and show it (``SamplesReady`` with origin ``preview``)."""
        from app.preview import preview_events

        return self._start(lambda: preview_events(cfg), preview=True)

    # --- controls (GUI thread; the session's gates are thread-safe) ----------------------
    def pause(self) -> None:
        self.session.pause()
        self._poll_state()

    def resume_run(self) -> None:
        self.session.resume_run()
        self._poll_state()

    def step(self) -> None:
        """One more training iteration, then paused."""
        self.session.step()
        self._poll_state()

    def stop(self) -> None:
        """Finish the run (within one Langevin step; the trainer checkpoints)."""
        self.session.stop()

    def reset(self) -> None:
        """Forget the current run (stopping it first); the config stays."""
        self.stop()
        self.wait()
        self._drain()
        if self.set_config(self.session.config):
            self.iteration = 0

    def wait(self, timeout: float = 60.0) -> None:
        """Join the worker (tests, shutdown)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def shutdown(self, timeout: float = 60.0) -> bool:
        """Stop and wait for the worker (window closing); True if it ended."""
        self.stop()
        self._tick.stop()
        self.wait(timeout)
        self._events.clear()
        return not self.busy

    # --- worker plumbing ----------------------------------------------------------------
    def _settle(self) -> bool:
        """Let a preview (a second at most) or a run's last moments end; False while a run is on."""
        if self.busy and not self._preview and not self.session.active:
            self._thread.join(0.5)  # out of its generator's ``finally`` (or just starting)
        if self.session.active or (self.busy and not self._preview):
            self.sigError.emit("A run is already active; stop it first.")
            return False
        self.wait()
        if self._preview:
            self._events.clear()  # a preview of what is about to be replaced
        self._drain()
        return True

    def _start(self, make: Callable[[], Iterator[Any]], preview: bool = False) -> bool:
        if not self._settle():
            return False
        self._events.clear()
        self._preview = preview
        self._thread = threading.Thread(target=self._work, args=(make(),), name="ebm-worker")
        self._thread.start()
        return True

    def _work(self, events: Iterator[Any]) -> None:
        torch.set_num_threads(self.worker_threads)
        try:
            for event in events:
                self._events.append(event)
        except EBMError as exc:
            self._events.append(exc)
        except Exception as exc:  # a bug: keep the app alive, say what happened
            traceback.print_exc()
            self._events.append(RuntimeError(f"Internal error: {type(exc).__name__}: {exc}"))

    # --- GUI-thread side ---------------------------------------------------------------
    def _drain(self) -> None:
        """Emit what the worker produced since the last tick (GUI thread)."""
        # Read the state first: every event that came before a change is emitted before it.
        state = self.session.state.value
        rows: list[dict] = []
        latest: SamplesReady | None = None
        while self._events:
            item = self._events.popleft()
            if isinstance(item, TrainStep):
                rows.append({"iteration": item.iteration, "wall_time": item.wall_time,
                             **item.metrics})
            elif isinstance(item, SamplesReady):
                latest = item
            else:
                self._flush(rows)  # curves before markers, rollbacks and the end
                self._emit(item)
        self._flush(rows)
        if latest is not None:
            self.sigSnapshot.emit(latest)
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
        if isinstance(item, (RunStarted, RolledBack)):
            self.iteration = item.iteration
        getattr(self, f"sig{type(item).__name__}").emit(item)
        if isinstance(item, (RunStarted, RolledBack)) and self.session.config != self._shown:
            self._shown = self.session.config  # an opened run's config, or a gentler one
            self.sigConfigChanged.emit(self._shown)

    def _poll_state(self) -> None:
        self._set_state(self.session.state.value)

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.sigStateChanged.emit(state)
