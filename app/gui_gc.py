"""Cyclic garbage is collected on the GUI thread only.

Python's cycle collector runs in whichever thread happens to allocate when a
generation passes its threshold. When that is a worker thread (training,
Learn demonstrations, sampling from a picture) and the garbage holds Qt
objects, say a closed window or a replaced view, their C++ destructors run
on the worker while the GUI thread deletes widgets: Qt's object mutex and
the GIL are then taken in opposite orders and the process hangs. (Seen under
the test suite: the worker "Garbage-collecting" inside ``~QObject``, the GUI
thread inside ``~QAction``.) Every object that starts a worker thread calls
:func:`collect_on_gui_thread` first; automatic collection is then off and a
GUI-thread timer collects instead, with the same per-generation thresholds.
"""

from __future__ import annotations

import gc

_collector = None


def collect_on_gui_thread(interval_s: float = 1.0) -> None:
    """Turn automatic cycle collection off and collect from a GUI-thread timer.

    Idempotent; call it on the GUI thread once a ``QApplication`` exists.
    """
    global _collector
    if _collector is None:
        # pyqtgraph's collector: gc.disable() plus a QTimer that collects
        # each generation past its threshold.
        from pyqtgraph.util.garbage_collector import GarbageCollector

        _collector = GarbageCollector(interval=interval_s)


def installed() -> bool:
    """Whether collection was moved to the GUI thread (and automatic collection is off)."""
    return _collector is not None and not gc.isenabled()


def collect_due() -> None:
    """Collect, on the calling thread, each generation past its threshold (what
    the timer does; a no-op before :func:`collect_on_gui_thread`)."""
    if _collector is not None:
        _collector.check()
