"""The ``ebm`` command: ``ebm demos | methods | train | sample | export | …``.

Each sub-command is a module in :mod:`ebm_engine.commands` with
``add_parser(subparsers)`` and ``run(args) -> int``. User errors
(:class:`~ebm_engine.errors.EBMError`), and an ``OSError`` a command did not
turn into one (a name too long, a full disk), print one line on stderr and exit 2;
a misspelled sub-command or choice gets a "did you mean …" hint.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import re
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Sequence

from ebm_engine import __version__
from ebm_engine.errors import EBMError, Terminated, out_of_memory
from ebm_engine.suggest import did_you_mean

# argparse's message for a bad choice: "argument COMMAND: invalid choice: 'trian'
# (choose from 'demos', 'train', …)" (choices unquoted since Python 3.12.8).
_INVALID_CHOICE = re.compile(r"invalid choice: (?P<word>.*?) \(choose from (?P<choices>.*)\)$")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage; we want one line
        sys.stderr.write(f"ebm: error: {_with_suggestion(message)}\n")
        raise SystemExit(2)


def _with_suggestion(message: str) -> str:
    """Add "did you mean …" to argparse's invalid-choice message (sub-commands, --on-diverge)."""
    found = _INVALID_CHOICE.search(message)
    if found is None:
        return message
    word = found["word"].strip("'\"")
    choices = [c.strip().strip("'\"") for c in found["choices"].split(",")]
    hint = did_you_mean(word, choices)
    if not hint:
        return message
    return f"{message[: found.start()]}invalid choice: {word!r}{hint}; choose from {', '.join(choices)}"


def lazy_epilog(parser: argparse.ArgumentParser, build: Callable[[], str]) -> None:
    """Give ``parser`` the epilog ``build()`` returns, computed only when help is shown.

    Every ``ebm`` call builds every sub-command's parser; an epilog listing
    the registries would import them all (and torch) just to parse arguments.
    """
    format_help = parser.format_help

    def with_epilog() -> str:
        if parser.epilog is None:
            parser.epilog = build()
        return format_help()

    parser.format_help = with_epilog  # type: ignore[method-assign]


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


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str,
                      lineno: int, file: object = None, line: str | None = None) -> None:
    sys.stderr.write(f"ebm: warning: {message}\n")


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ebm`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    # `ebm train` sets its own (it checkpoints first); elsewhere SIGTERM killed the
    # process at once and left its temporary files behind
    # (not where SIGTERM is ignored on purpose: a supervisor's choice stays)
    handle = (threading.current_thread() is threading.main_thread()
              and signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN)
    previous = signal.signal(signal.SIGTERM, _terminate) if handle else None
    try:
        return _run(args)
    finally:
        if handle:  # None: a handler set from C, which Python cannot put back; the default
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _run(args: argparse.Namespace) -> int:
    from ebm_engine.learning.saved_config import forget_said

    forget_said()  # a new command says again what an earlier one (in this process) said
    try:
        with warnings.catch_warnings():  # one line each, like the errors
            warnings.showwarning = _one_line_warning
            code = int(args.handler(args) or 0)
        sys.stdout.flush()  # a reader that went away shows up here, not at exit
        return code
    except EBMError as exc:
        sys.stderr.write(f"ebm: error: {exc}\n")
        return 2
    except (MemoryError, RuntimeError) as exc:  # an allocation an estimate let through
        if (line := out_of_memory(exc)) is None and not str(exc).startswith("Symlink loop"):
            raise
        # pathlib's resolve() meeting `ln -s x x` is a path the user gave, not a bug
        sys.stderr.write(f"ebm: error: {line or exc}\n")
        return 2
    except Terminated:
        sys.stderr.write("ebm: terminated\n")
        return 143
    except KeyboardInterrupt:
        sys.stderr.write("ebm: interrupted\n")
        return 130
    except BrokenPipeError:
        # The reader went away (`ebm zoo | head`): stop quietly, as Unix tools do.
        # Python would report the failed flush of stdout at exit; point it at devnull.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:  # a path the file system refuses (a name too long, a full disk)
        sys.stderr.write(f"ebm: error: {os_error_line(exc)}\n")
        return 2


def os_error_line(exc: OSError) -> str:
    """One line for an ``OSError`` no command turned into its own: the reason and the
    file it names (``File name too long: /tmp/xxx…``).

    Parameters
    ----------
    exc : OSError
        What was raised.

    Returns
    -------
    str
    """
    why = exc.strerror or str(exc) or type(exc).__name__
    names = [str(n) for n in (exc.filename, exc.filename2) if n is not None]
    return f"{why}: {' -> '.join(names)}" if names else why


if __name__ == "__main__":  # python -m ebm_engine.cli did nothing and exited 0
    raise SystemExit(main())
