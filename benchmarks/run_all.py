"""Run every benchmark and write ``benchmarks/results/latest.json`` and ``latest.md``.

    make bench                     # = python -m benchmarks.run_all
    python -m benchmarks.run_all --quick --out /tmp/bench   # seconds, tiny sizes

Sections: Langevin throughput (ours vs a plain PyTorch loop, alternating,
median ratio), FLOP utilisation of the conv nets, GUI overhead (skipped with
a note when the app is not importable), peak memory of training each demo's
default model at batch 32. A failing section is recorded, not fatal.
"""

from __future__ import annotations

import argparse
import json
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import machine
from ebm_engine import atomic

RESULTS = Path(__file__).resolve().parent / "results"


def _section(name: str, fn, results: dict[str, Any]) -> None:
    t0 = time.perf_counter()
    print(f"[bench] {name} …", flush=True)
    try:
        results[name] = fn()
    except Exception as exc:  # one broken section must not lose the others
        results[name] = {"error": f"{type(exc).__name__}: {exc}",
                         "traceback": traceback.format_exc(limit=3)}
    results.setdefault("section_seconds", {})[name] = round(time.perf_counter() - t0, 1)
    print(f"[bench] {name} done in {results['section_seconds'][name]} s", flush=True)


def run_all(quick: bool = False, gui_seconds: float = 15.0) -> dict[str, Any]:
    from benchmarks import flops, gui_overhead, langevin_throughput, memory

    torch.set_num_threads(max(torch.get_num_threads(), 1))
    results: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "quick": quick,
                               "machine": machine()}
    t0 = time.perf_counter()
    _section("langevin", lambda: langevin_throughput.run(quick), results)
    rows = results["langevin"] if isinstance(results["langevin"], list) else []
    _section("flops", lambda: flops.utilisation(rows, flops.matmul_flops(256 if quick else 1024)),
             results)
    _section("gui", lambda: gui_overhead.run("digits", 2.0 if quick else gui_seconds, tiny=quick),
             results)
    _section("memory", lambda: memory.run(["8gaussians"] if quick else None), results)
    results["total_seconds"] = round(time.perf_counter() - t0, 1)
    results["machine"]["load_average_1min_end"] = machine()["load_average_1min"]
    return results


def _f(value: Any, fmt: str = ".2f") -> str:
    return "–" if value is None else format(value, fmt)


def to_markdown(r: dict[str, Any]) -> str:
    """The results as Markdown tables (what README's Performance section shows)."""
    m = r["machine"]
    out = [f"Measured {r['started']} on {m['processor']} ({m['cpus']} CPUs, torch {m['torch']}, "
           f"{m['torch_threads']} threads; 1-min load average {_f(m.get('load_average_1min'), '.1f')} "
           f"at start, {_f(m.get('load_average_1min_end'), '.1f')} at end); "
           f"total {r['total_seconds']} s.", ""]
    out += ["**Langevin throughput** (steps/s; ratio = plain time ÷ ours, median of alternating "
            "repeats, > 1 means the engine is faster)", "",
            "| case | batch | ours steps/s | plain steps/s | ratio (min–max) |", "|---|---|---|---|---|"]
    for row in r["langevin"] if isinstance(r.get("langevin"), list) else []:
        if "skipped" in row:
            out.append(f"| {row['case']} | – | – | – | skipped: {row['skipped']} |")
        else:
            out.append(f"| {row['case']} | {row['batch']} | {row['ours_steps_per_s']:.2f} | "
                       f"{row['plain_steps_per_s']:.2f} | **{row['ratio']:.2f}×** "
                       f"({row['ratio_min']:.2f}–{row['ratio_max']:.2f}) |")
    fl = r.get("flops", {})
    if "rows" in fl:
        out += ["", f"**FLOP utilisation** (measured matmul peak {fl['matmul_gflop_per_s']:.1f} GFLOP/s)",
                "", "| case | GFLOP/step | ours GFLOP/s | plain GFLOP/s | utilisation |", "|---|---|---|---|---|"]
        for row in fl["rows"]:
            out.append(f"| {row['case']} | {row['gflop_per_step']:.2f} | {row['ours_gflop_per_s']:.1f} | "
                       f"{row['plain_gflop_per_s']:.1f} | {100 * row['utilisation']:.0f} % |")
    g = r.get("gui", {})
    out += ["", "**GUI overhead** (digits demo" + (", tiny net" if g.get("tiny") else "") + ")", ""]
    if "skipped" in g or "error" in g:
        out.append(f"skipped: {g.get('skipped') or g.get('error')}")
    else:
        out += ["| GUI ÷ headless it/s | headless it/s | GUI it/s | latency p50 | latency p99 | "
                "Train → first iteration | Train → first frame |", "|---|---|---|---|---|---|---|",
                f"| **{_f(g.get('gui_over_headless'))}** (target ≥ 0.95) | {_f(g.get('headless_it_per_s'))} | "
                f"{_f(g.get('gui_it_per_s'))} | {_f(g.get('latency_p50_ms'), '.1f')} ms | "
                f"**{_f(g.get('latency_p99_ms'), '.1f')} ms** (target < 50) | "
                f"{_f(g.get('train_to_first_iteration_s'))} s | {_f(g.get('train_to_first_frame_s'))} s |"]
    out += ["", "**Peak memory** (RSS, training 1 iteration at batch 32, preset settings, ≤ 10 Langevin steps)", "",
            "| demo | model | item shape | peak RSS | increase during training |", "|---|---|---|---|---|"]
    for row in r["memory"] if isinstance(r.get("memory"), list) else []:
        if "skipped" in row:
            out.append(f"| {row['demo']} | – | – | – | skipped: {row['skipped']} |")
        else:
            shape = "×".join(str(s) for s in row["item_shape"])
            out.append(f"| {row['demo']} | {row['model']} | {shape} | {row['peak_rss_mib']:.0f} MiB | "
                       f"{row['training_peak_increase_mib']:.0f} MiB |")
    errors = [k for k, v in r.items() if isinstance(v, dict) and "error" in v]
    if errors:
        out += ["", "Sections that failed: " + ", ".join(f"{k} ({r[k]['error']})" for k in errors)]
    return "\n".join(out) + "\n"


def write(results: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    js, md = folder / "latest.json", folder / "latest.md"
    atomic.write_text(js, json.dumps(results, indent=2) + "\n")
    atomic.write_text(md, to_markdown(results))
    return js, md


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run of seconds)")
    p.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    p.add_argument("--gui-seconds", type=float, default=15.0)
    args = p.parse_args(argv)
    results = run_all(args.quick, args.gui_seconds)
    js, md = write(results, args.out)
    print(md.read_text(encoding="utf-8"))
    print(f"wrote {js} and {md}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
