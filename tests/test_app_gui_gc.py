"""Cyclic garbage is collected on the GUI thread only (``app.gui_gc``).

A worker thread that triggered the cycle collector freed Qt objects of
earlier windows off the GUI thread and deadlocked against the GUI thread
(a hung test run). Every object that starts a worker must first turn
automatic collection off.
"""

from __future__ import annotations

import gc
import threading

import pytest

pytestmark = pytest.mark.app


class _Cycle:
    def __init__(self):
        self.me = self


def _allocate_cycles(n: int) -> None:
    for _ in range(n):
        _Cycle()


def test_the_main_window_moves_collection_to_the_gui_thread(qtbot, tmp_path):
    from app import gui_gc
    from app.testing import make_window

    window = make_window(qtbot, tmp_path, knobs=())
    assert gui_gc.installed() and not gc.isenabled()
    # a worker that allocates far past generation 0's threshold collects nothing itself
    gc.collect()
    threshold = gc.get_threshold()[0]
    worker = threading.Thread(target=_allocate_cycles, args=(5 * threshold,))
    worker.start()
    worker.join()
    assert gc.get_count()[0] >= 5 * threshold
    # the GUI thread's timer collects what is due
    qtbot.waitUntil(lambda: gc.get_count()[0] < threshold, timeout=5000)
    window.close()


@pytest.mark.parametrize("starter", ["controller", "learn_runner", "export_menu"])
def test_every_worker_starter_installs_the_guard(qtbot, starter, monkeypatch):
    from app import gui_gc

    calls = []
    monkeypatch.setattr(gui_gc, "_collector", None)
    real = gui_gc.collect_on_gui_thread

    def spy(*args, **kwargs):
        calls.append(starter)
        real(*args, **kwargs)

    if starter == "controller":
        import app.controller as module

        monkeypatch.setattr(module, "collect_on_gui_thread", spy)
        module.Controller().shutdown()
    elif starter == "learn_runner":
        import app.learn_runner as module

        monkeypatch.setattr(module, "collect_on_gui_thread", spy)
        module.LearnRunner()
    else:
        import app.export_menu as module

        monkeypatch.setattr(module, "collect_on_gui_thread", spy)
        module.ExportMenu(lambda: None, lambda: None)
    assert calls == [starter] and gui_gc.installed()
