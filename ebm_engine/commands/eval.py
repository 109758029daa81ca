"""``ebm eval``: score a trained run's samples against its data; write RUN/eval.json."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ebm_engine.commands._chain_args import DEVICE_HELP, add_chain_arguments
from ebm_engine.errors import ConfigError, Terminated


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="sample a run and compute its quality metrics (writes RUN/eval.json)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", help="run folder (its latest checkpoint) or zoo:NAME")
    src.add_argument("--checkpoint", help="checkpoint folder")
    p.add_argument("--n", type=int, help="samples to draw (default per data kind, 500 for digits)")
    add_chain_arguments(p)
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--no-write", action="store_true", help="do not write RUN/eval.json")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ebm_engine.metrics.evaluate import eval_target, evaluate_run, format_table
    from ebm_engine.runs import zoo

    if args.n is not None and args.n < 2:
        raise ConfigError(f"--n must be >= 2, got {args.n}")
    if args.steps is not None and args.steps < 0:
        raise ConfigError(f"--steps must be >= 0, got {args.steps}")
    source = args.run or args.checkpoint
    target = eval_target(source, write=not args.no_write)
    before = _stamp(target)
    try:
        result = evaluate_run(source, n=args.n, steps=args.steps, seed=args.seed,
                              device=args.device, write=not args.no_write)
    except KeyboardInterrupt as exc:  # said like train's stop, not a bare "interrupted"
        term = isinstance(exc, Terminated)
        sys.stderr.write(f"ebm: {_stopped(target, before, term)}\n")
        return 143 if term else 130
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_table(result))
        if "written_to" in result:
            print(f"wrote {result['written_to']}")
        elif "not_written" in result:
            print(f"warning: {result['not_written']} (use --no-write)", file=sys.stderr)
        elif not args.no_write and zoo.is_zoo(args.run or args.checkpoint):
            print("(a zoo entry is read-only: eval.json not written)")
    return 0


def _stamp(path: Path | None) -> int | None:
    """``path``'s modification time in ns (``None``: no such file)."""
    try:
        return path.stat().st_mtime_ns if path is not None else None
    except OSError:
        return None


def _stopped(target: Path | None, before: int | None, term: bool = False) -> str:
    """What a Ctrl-C (``term``: a SIGTERM) during the evaluation left: the scores are all
    or nothing, and ``eval.json`` is replaced atomically, so it holds the old scores or
    the new ones."""
    how = "terminated" if term else "stopped"
    if target is not None and _stamp(target) != before:
        return f"evaluation {how} after its scores were written to {target}"
    kept = (f"; {target} keeps the scores of an earlier evaluation"
            if target is not None and before is not None else "")
    return f"evaluation {how} before its scores were complete: nothing was written{kept}"
