"""``ebm demos``: list the built-in demos and presets."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demos", help="list built-in demos")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ebm_engine.data import demos

    for info in demos().values():
        print(f"{info.name:18s} {info.kind:10s} ~{info.expected_minutes:g} min  {info.description}"
              f"  [preset: {info.preset}]")
    return 0
