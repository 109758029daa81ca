"""GUI responsiveness while training: how late does the Qt event loop run a 10 ms timer?

A probe timer asks to fire every 10 ms; its lateness (actual gap − 10 ms) is
the time the GUI thread could not react (drawing, Python work holding the
GIL on the worker …). We report p50/p99 over a training window of the digits
demo. Target: p99 < 50 ms.

    python -m benchmarks.gui_latency [--seconds 20] [--tiny] [--demo digits]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

from app.latency import LatencyProbe


def measure(window, seconds: float, process_events) -> dict[str, float]:
    """Train in ``window`` and probe the event loop for ``seconds`` once iterations flow."""
    ctrl = window.controller
    window.transport.buttons["train"].click()
    deadline = time.monotonic() + 600
    while ctrl.iteration < 1 and time.monotonic() < deadline:
        process_events(50)
    probe = LatencyProbe()
    probe.start()
    end = time.monotonic() + seconds
    start_it = ctrl.iteration
    while time.monotonic() < end:
        process_events(20)
    result = probe.stop()
    result["iterations"] = ctrl.iteration - start_it
    result["snapshots_drawn"] = window.snapshot_count
    ctrl.shutdown()
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--demo", default="digits")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--tiny", action="store_true", help="tiny network (CI smoke)")
    args = p.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("EBM_STUDIO_SETTINGS", "bench")
    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.testing import TINY_DIGITS

    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        window = MainWindow(runs_root=tmp, demo=args.demo)
        window.show()
        for key, value in TINY_DIGITS if args.tiny else ():
            window.settings_panel.set_value(key, value)
        window.controller.wait()  # the demo's data preview

        def process(ms: int) -> None:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, ms)

        result = measure(window, args.seconds, process)
        window.close()
    result.update(demo=args.demo, tiny=args.tiny)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
