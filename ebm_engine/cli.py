"""The ``ebm`` command: ``ebm demos | train | sample | export | …``.

Each sub-command is a module in :mod:`ebm_engine.commands` with
``add_parser(subparsers)`` and ``run(args) -> int``. User errors
(:class:`~ebm_engine.errors.EBMError`) print one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from ebm_engine import __version__
from ebm_engine.errors import EBMError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage; we want one line
        sys.stderr.write(f"ebm: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    import ebm_engine.commands as pkg

    parser = _Parser(prog="ebm", description="Train and sample energy-based models.")
    parser.add_argument("--version", action="version", version=f"ebm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            module = importlib.import_module(f"ebm_engine.commands.{info.name}")
            module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ebm`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except EBMError as exc:
        sys.stderr.write(f"ebm: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("ebm: interrupted\n")
        return 130
