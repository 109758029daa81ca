"""GUI responsiveness while training: how late does the Qt event loop run a 10 ms timer?

A probe timer asks to fire every 10 ms; its lateness (actual gap − 10 ms) is
the time the GUI thread could not react (drawing, Python work holding the
GIL on the worker …). We report p50/p99 over a training window of the digits
demo. The window runs the real event loop (``QEventLoop.exec``, as
``app.exec()`` does), not a loop polling ``processEvents``, which would keep
the GUI thread busy and skew what is measured. Target: p99 < 50 ms.

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


def run_loop(seconds: float) -> None:
    """Run the Qt event loop for ``seconds`` (it sleeps while there is nothing to do)."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(max(1, int(seconds * 1000)), loop.quit)
    loop.exec()


def measure(window, seconds: float) -> dict[str, float]:
    """Train in ``window`` and probe the event loop for ``seconds`` once iterations flow."""
    ctrl = window.controller
    window.transport.buttons["train"].click()
    deadline = time.monotonic() + 600
    while ctrl.iteration < 1 and time.monotonic() < deadline:
        run_loop(0.05)
    probe = LatencyProbe()
    probe.start()
    start_it, start_drawn = ctrl.iteration, window.snapshot_count
    run_loop(seconds)
    result = probe.stop()
    result["iterations"] = ctrl.iteration - start_it
    result["snapshots_drawn"] = window.snapshot_count - start_drawn
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
    if os.environ["QT_QPA_PLATFORM"] == "offscreen":  # VTK without a display: OSMesa
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkOSOpenGLRenderWindow")
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
        result = measure(window, args.seconds)
        window.close()
        app.processEvents()
    result.update(demo=args.demo, tiny=args.tiny)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
