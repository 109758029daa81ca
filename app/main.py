"""``ebm-studio``: open the app (optionally on a demo, a run to follow, or a checkpoint)."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Qt is imported only when the window opens (--self-test needs none)
    from app.main_window import MainWindow


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="ebm-studio", description="EBM Studio desktop app")
    p.add_argument("--demo", help="select this built-in demo (or data path) at start")
    p.add_argument("--train", action="store_true", help="start training right away")
    p.add_argument("--open", metavar="RUN", help="open a run or checkpoint folder, or zoo:NAME (sample only)")
    p.add_argument("--follow", metavar="RUN", help="follow a run folder being written elsewhere")
    p.add_argument("--runs", metavar="DIR", help="folder for runs started from the app")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="set a knob after choosing the demo (e.g. train.sample_every=2, "
                        "data.options.reader=mesh)")
    p.add_argument("--self-test", action="store_true", help="run the bundle self-test and exit")
    return p.parse_args(argv)


def apply_settings(window: MainWindow, items: list[str]) -> str | None:
    """Apply ``--set KEY=VALUE`` items as if typed; the first refusal, or None.

    Every key goes to the session like an edit in the settings panel (also
    the free-form ``data.options.*``, ``model.options.*`` and method knobs).
    """
    from ebm_engine.session import Refused

    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            return f"--set expects KEY=VALUE, got {item!r}"
        result = window.settings_panel.set_value(key, value)
        if isinstance(result, Refused):
            return f"--set {key}: {result.reason}"
        if key == "data.options.reader":
            window.data_panel.set_reader(str(window.controller.config.data.options.get("reader")
                                             or ""))
    return None


def stop_on_signals(window: MainWindow) -> None:
    """SIGTERM (logout, shutdown, ``kill``) and SIGINT close the window like the
    user would: the run stops within one Langevin step and checkpoints first.

    Python runs signal handlers only between bytecodes, and Qt's event loop is
    C++: the C-level handler writes to a socket (``signal.set_wakeup_fd``) that
    a ``QSocketNotifier`` watches, which wakes the loop and lets the
    interpreter run the handler. No polling timer wakes the GUI thread.
    """
    import signal
    import socket

    from PySide6.QtCore import QSocketNotifier, QTimer

    def close(signum, frame) -> None:
        window.statusBar().showMessage("Stopping: writing a checkpoint…")
        QTimer.singleShot(0, window.close)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, close)
    reader, writer = socket.socketpair()
    for end in (reader, writer):
        end.setblocking(False)
    signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read, window)

    def woken() -> None:
        try:
            reader.recv(64)  # the signal numbers; Python runs the handlers now
        except OSError:
            pass

    notifier.activated.connect(woken)
    window._signal_wakeup = (reader, writer, notifier)  # alive as long as the window


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.self_test:
        if importlib.util.find_spec("app.self_test") is None:
            print("self-test is not available in this build", file=sys.stderr)
            return 2
        from app.self_test import run

        return int(run())
    from PySide6.QtWidgets import QApplication

    from app import APPLICATION, ORGANISATION
    from app.gui_gc import collect_on_gui_thread
    from app.main_window import MainWindow
    from app.style import apply_style

    app = QApplication.instance() or QApplication(sys.argv[:1])
    collect_on_gui_thread()  # before any worker thread starts (see app.gui_gc)
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    apply_style(app)
    window = MainWindow(runs_root=args.runs, demo=args.demo)
    window.show()
    stop_on_signals(window)
    problem = apply_settings(window, args.set)
    if problem:
        print(f"ebm-studio: {problem}", file=sys.stderr)
        return 2
    if args.open:
        window.open_run(args.open, "sample")
    elif args.follow:
        window.follow_run(args.follow)
    elif args.train:
        window.command("train")
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
