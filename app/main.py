"""``ebm-studio``: open the app (optionally on a demo, a run to follow, or a checkpoint)."""

from __future__ import annotations

import argparse
import importlib.util
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="ebm-studio", description="EBM Studio desktop app")
    p.add_argument("--demo", help="select this built-in demo (or data path) at start")
    p.add_argument("--train", action="store_true", help="start training right away")
    p.add_argument("--open", metavar="RUN", help="open a run or checkpoint folder (sample only)")
    p.add_argument("--follow", metavar="RUN", help="follow a run folder being written elsewhere")
    p.add_argument("--runs", metavar="DIR", help="folder for runs started from the app")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="set a knob after choosing the demo (e.g. train.sample_every=2)")
    p.add_argument("--self-test", action="store_true", help="run the bundle self-test and exit")
    return p.parse_args(argv)


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
    from app.main_window import MainWindow
    from app.style import apply_style

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    apply_style(app)
    window = MainWindow(runs_root=args.runs, demo=args.demo)
    window.show()
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in window.settings_panel.editors:
            print(f"ebm-studio: unknown knob {key!r}", file=sys.stderr)
            return 2
        window.settings_panel.set_value(key, value)
    if args.open:
        window.open_run(args.open, "sample")
    elif args.follow:
        window.follow_run(args.follow)
    elif args.train:
        window.command("train")
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
