"""The Learn panel's thread adaptor: runs one demo generator on a worker, shows its latest frame.

The same pattern as :class:`app.controller.Controller`, cut to what a demo
needs (a demo has no run folder, knobs or checkpoints, so it does not go
through a :class:`~ebm_engine.session.Session`): the worker iterates the
engine's generator and keeps only the latest frame; its first frame after
a drain sends one queued wake-up, and the GUI thread emits that frame. No
timers, no polling, no sleeps. :meth:`LearnRunner.stop` ends a demo within
one Langevin step (:func:`ebm_engine.sampling.interrupt.stop_on`) and joins
the worker.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Iterator

import torch
from PySide6.QtCore import QObject, Qt, Signal

from app.gui_gc import collect_on_gui_thread
from ebm_engine.learn.frames import LearnFrame
from ebm_engine.sampling.interrupt import Interrupted, stop_on


class LearnRunner(QObject):
    """One demo at a time. Signals: ``sigFrame(LearnFrame)``, ``sigStateChanged(str)``
    (``running``, ``stopped``, ``finished``, ``error``), ``sigError(str)``."""

    sigFrame = Signal(object)
    sigStateChanged = Signal(str)
    sigError = Signal(str)
    _sigWake = Signal()

    def __init__(self, parent: QObject | None = None, threads: int = 1):
        super().__init__(parent)
        collect_on_gui_thread()  # the worker must never run the cycle collector (app.gui_gc)
        self.threads = threads
        self.state = "idle"
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._latest: LearnFrame | None = None
        self._end: tuple[str, str] | None = None
        self._woken = False
        self._sigWake.connect(self._drain, Qt.ConnectionType.QueuedConnection)

    @property
    def busy(self) -> bool:
        """A demo's worker is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self, make: Callable[[], Iterator[LearnFrame]]) -> None:
        """Stop any demo, then iterate ``make()`` on a new worker."""
        self.stop()
        with self._lock:
            self._latest, self._end, self._woken = None, None, False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, args=(make, self._stop),
                                        name="ebm-learn")
        self._set_state("running")
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the demo to end (within one Langevin step) and join its worker."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._drain()

    def _work(self, make: Callable[[], Iterator[LearnFrame]], stop: threading.Event) -> None:
        from app.controller import _warm_done, _warmed

        if _warmed.is_set():
            _warm_done.wait()  # the app's torch warm-up registers operators: no race with it
        torch.set_num_threads(self.threads)
        end, message = "finished", ""
        try:
            with stop_on(stop):
                frames = make()
                try:
                    for frame in frames:
                        self._post(frame, stop)
                        if stop.is_set():
                            end = "stopped"
                            break
                finally:
                    frames.close()
        except Interrupted:
            end = "stopped"
        except Exception as exc:  # a bug: keep the app alive, say what happened
            traceback.print_exc()
            end, message = "error", f"The demo failed: {type(exc).__name__}: {exc}"
        if stop.is_set() and end == "finished":
            end = "stopped"
        self._post(None, stop, (end, message))

    def _post(self, frame: LearnFrame | None, stop: threading.Event,
              end: tuple[str, str] | None = None) -> None:
        """Worker: keep ``frame`` as the latest (or the end); wake the GUI thread once."""
        with self._lock:
            if stop is not self._stop:  # a newer demo owns the slot
                return
            if frame is not None:
                self._latest = frame
            if end is not None:
                self._end = end
            if self._woken:
                return
            self._woken = True
        self._sigWake.emit()

    def _drain(self) -> None:
        """GUI thread: emit the latest frame, then the end if it came."""
        with self._lock:
            frame, self._latest = self._latest, None
            end, self._end = self._end, None
            self._woken = False
        if frame is not None:
            self.sigFrame.emit(frame)
        if end is not None:
            state, message = end
            if message:
                self.sigError.emit(message)
            self._set_state(state)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.sigStateChanged.emit(state)
