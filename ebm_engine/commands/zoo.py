"""``ebm zoo``: list the pretrained models (``zoo:NAME`` works wherever a run does)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("zoo", help="list the pretrained models (use them as --run zoo:NAME)")
    p.add_argument("name", nargs="?", help="show one entry in full (its path and how to rebuild it)")
    p.set_defaults(handler=run)


def zoo_lines() -> list[str]:
    """One line per entry: name, method, data, metric, size."""
    from ebm_engine.runs import zoo

    found = zoo.entries()
    if not found:
        return ["no pretrained models yet: build one with `python -m benchmarks.build_zoo NAME`"]
    width = max(len(n) for n in found)
    dw = max(16, *(len(e.data) for e in found.values()))
    mw = max(6, *(len(e.method) for e in found.values()))
    lines = [f"{'NAME':{width}s}  {'METHOD':{mw}s} {'DATA':{dw}s} {'ITER':>10s} {'SIZE':>8s}  METRIC"]
    for e in found.values():
        # A shortened entry shows its iterations against the preset's: 600/2000*.
        its = f"{e.iteration}/{e.preset_iterations}*" if e.shortened else str(e.iteration)
        lines.append(f"{e.name:{width}s}  {e.method:{mw}s} {e.data:{dw}s} {its:>10s} "
                     f"{e.size / 1e6:6.2f}MB  {e.metric_text()}")
    total = sum(e.size for e in found.values())
    if any(e.shortened for e in found.values()):
        lines.append("* trained shorter than its preset (CPU budget): its metric is that "
                     "run's, not the preset's")
    lines.append("METRIC: each entry's own `ebm eval --run zoo:NAME` (seed 0); `ebm demos` "
                 "shows the quality benchmark's separate run of the same preset, so the two "
                 "figures can differ by the spread between runs")
    lines.append(f"{len(found)} entries, {total / 1e6:.1f} MB; e.g. "
                 f"`ebm sample --run zoo:{next(iter(found))} --n 64 --out grid.png`")
    return lines


def run(args: argparse.Namespace) -> int:
    import json

    from ebm_engine.runs import zoo

    if args.name:
        e = zoo.entry(args.name)
        recipe = json.loads((e.path / zoo.RECIPE_FILE).read_text(encoding="utf-8")) \
            if (e.path / zoo.RECIPE_FILE).is_file() else {}
        print(f"zoo:{e.name}: {e.method} on {e.data} ({e.kind}), {e.iterations_text()}, "
              f"{e.size / 1e6:.2f} MB\n  {e.metric_text()}\n  folder: {e.path}")
        if recipe.get("command"):
            print(f"  rebuilt by: python -m benchmarks.build_zoo {e.name}\n"
                  f"  which runs: {recipe['command']}")
        return 0
    print("\n".join(zoo_lines()))
    return 0
