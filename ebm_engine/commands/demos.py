"""``ebm demos``: list the built-in demos and presets."""

from __future__ import annotations

import argparse


def demo_lines() -> list[str]:
    """One line per built-in demo: name, kind, expected minutes, description, preset;
    under it one line per method with a preset of its own for the demo (``--method``)."""
    from ebm_engine.data import demos
    from ebm_engine.data.measured import measurements
    from ebm_engine.presets import demo_minutes, method_presets

    measured = measurements()
    rows: list[tuple[str, str, float | None, str]] = []  # name, kind, minutes, the rest
    for info in demos().values():
        rows.append((info.name, info.kind, info.expected_minutes,
                     f"{info.description}  [preset: {info.preset}]"
                     + (f"  [measured: {measured[info.name].line()}]" if info.name in measured
                        else "")))
        for method, preset in method_presets(info.name).items():
            rows.append((f"  --method {method}", "", demo_minutes(info.name, method),
                         f"[preset: {preset}]"
                         + (f"  [measured: {measured[preset].line()}]" if preset in measured
                            else "")))
    width = max((len(r[0]) for r in rows), default=0)  # one column, however long
    lines = [f"{name:{width}s} {kind:10s} {_minutes(minutes):9s}  {rest}"
             for name, kind, minutes, rest in rows]
    if measured:
        lines.append(MEASURED_NOTE)
    return lines


#: Where the ``[measured: …]`` figures come from, and why ``ebm zoo`` may differ.
MEASURED_NOTE = ("[measured: …] is the quality benchmark's own training run of the preset, in "
                 "the time shown (benchmarks/results/quality.md); a pretrained model "
                 "(`ebm zoo`) is a separate run scored by its own `ebm eval`, so its figure "
                 "can differ by the spread between runs")


def _minutes(minutes: float | None) -> str:
    return f"~{minutes:g} min" if minutes else ""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demos", help="list built-in demos (for --data)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    print("\n".join(demo_lines()))
    return 0
