"""``ebm demos``: list the built-in demos and presets."""

from __future__ import annotations

import argparse


def demo_lines() -> list[str]:
    """One line per built-in demo: name, kind, expected minutes, description, preset."""
    from ebm_engine.data import demos
    from ebm_engine.data.measured import measurements

    measured = measurements()
    infos = list(demos().values())
    width = max((len(info.name) for info in infos), default=0)  # one column, however long
    return [
        f"{info.name:{width}s} {info.kind:10s} {f'~{info.expected_minutes:g} min':9s}  "
        f"{info.description}"
        f"  [preset: {info.preset}]"
        + (f"  [measured: {measured[info.name].line()}]" if info.name in measured else "")
        for info in infos
    ]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demos", help="list built-in demos (for --data)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    print("\n".join(demo_lines()))
    return 0
