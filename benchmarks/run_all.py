"""Run every benchmark and write ``benchmarks/results/latest.json`` and ``latest.md``.

    make bench                     # = python -m benchmarks.run_all
    python -m benchmarks.run_all --quick --out /tmp/bench   # a minute or two, tiny sizes
    python -m benchmarks.run_all --threads 1                # on a machine shared with other jobs

Sections: Langevin throughput (ours in fp32 and bf16 against a smart and a
naive hand-written fp32 loop, round-robin, median ratio with min–max), the
training iteration against a hand-written loop (with and without a snapshot
every iteration), FLOP
utilisation of the conv nets against the matmul peak of each precision, the
GUI ratio per demo and the first frame (skipped with a note when the app is
not importable), peak memory of training each demo's default model at batch
32. A failing section is recorded, not fatal.
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


def run_all(quick: bool = False, gui_seconds: float = 15.0, threads: int | None = None) -> dict[str, Any]:
    from benchmarks import flops, gui_overhead, langevin_throughput, memory, train_throughput

    if threads:  # every in-process section alike (the GUI children use the app worker's)
        torch.set_num_threads(threads)
    results: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "quick": quick,
                               "machine": machine()}
    t0 = time.perf_counter()
    _section("langevin", lambda: langevin_throughput.run(quick), results)
    rows = results["langevin"] if isinstance(results["langevin"], list) else []
    # The peaks right after the Langevin rows: same run, same load, same threads.
    _section("flops", lambda: flops.utilisation(rows, flops.peaks((256,) if quick else (1024, 2048))),
             results)
    _section("training", lambda: train_throughput.run(quick), results)
    # The GUI ratio per demo (digits, shapes-voxels, shapes-points) and their first frames.
    _section("gui", lambda: gui_overhead.run("digits", 2.0, tiny=True, repeats=1, first_frame_repeats=1)
             if quick
             else gui_overhead.run_demos(seconds=gui_seconds), results)
    _section("memory", lambda: memory.run(["8gaussians"] if quick else None), results)
    results["total_seconds"] = round(time.perf_counter() - t0, 1)
    results["machine"]["load_average_1min_end"] = machine()["load_average_1min"]
    return results


def _f(value: Any, fmt: str = ".2f") -> str:
    return "–" if value is None else format(value, fmt)


def _ratio(row: dict[str, Any], key: str) -> str:
    """``**1.23×** (1.10–1.31)``: the median ratio and its min–max over repeats."""
    return f"**{row[key]:.2f}×** ({row[key + '_min']:.2f}–{row[key + '_max']:.2f})"


def _langevin_md(rows: list[dict[str, Any]]) -> list[str]:
    out = ["**Langevin throughput** (steps/s, median of round-robin repeats; the smart and naive "
           "references are hand-written fp32 loops, ours is `run_langevin` in `frozen(net)`, bf16 = "
           "inside `precision.autocast('bf16')` with fp32 chains)", "",
           "| case | batch | ours fp32 | ours bf16 | smart fp32 | naive fp32 |", "|---|---|---|---|---|---|"]
    ok = [row for row in rows if "skipped" not in row]
    for row in rows:
        if "skipped" in row:
            out.append(f"| {row['case']} | – | – | – | – | skipped: {row['skipped']} |")
        else:
            out.append(f"| {row['case']} | {row['batch']} | {row['ours_fp32_steps_per_s']:.2f} | "
                       f"{row['ours_bf16_steps_per_s']:.2f} | {row['smart_fp32_steps_per_s']:.2f} | "
                       f"{row['naive_fp32_steps_per_s']:.2f} |")
    if ok:
        out += ["", "**Ratios** (reference time ÷ our time in the same repeat, median (min–max); > 1: "
                "ours is faster; goal on the conv nets: fp32 ≥ 1.0× and bf16 ≥ 1.5× the smart loop)", "",
                "| case | fp32 vs smart | bf16 vs smart | fp32 vs naive | bf16 vs naive |",
                "|---|---|---|---|---|"]
        for row in ok:
            native = "" if row.get("bf16_native", True) else " (bf16 emulated on this CPU)"
            out.append(f"| {row['case']}{native} | {_ratio(row, 'fp32_vs_smart')} | "
                       f"{_ratio(row, 'bf16_vs_smart')} | {_ratio(row, 'fp32_vs_naive')} | "
                       f"{_ratio(row, 'bf16_vs_naive')} |")
    return out


def _training_md(rows: list[dict[str, Any]]) -> list[str]:
    out = ["", "**Training throughput** (iterations/s of maximum likelihood on digits, noise-start "
           "chains; ours = `Trainer` without a run folder, plain = the hand-written loop of "
           "`benchmarks/train_throughput.py`; ratio = plain time ÷ our time in the same repeat, "
           "median (min–max); > 1: ours is faster)", "",
           "| case | batch | Langevin steps | ours it/s | plain it/s | plain ÷ ours |", "|---|---|---|---|---|---|"]
    for row in rows:
        out.append(f"| {row['case']} | {row['batch']} | {row['langevin_steps']} | {row['ours_it_per_s']:.2f} | "
                   f"{row['plain_it_per_s']:.2f} | {_ratio(row, 'plain_over_ours')} |")
    return out


def _flops_md(fl: dict[str, Any]) -> list[str]:
    peak = fl["matmul_gflop_per_s"]
    out = ["", f"**FLOP utilisation** (each precision against its own matmul peak measured in this run: "
           f"fp32 {peak['fp32']:.1f} GFLOP/s, bf16 {peak['bf16']:.1f} GFLOP/s; goal ≥ 60 % for conv nets)", "",
           "| case | GFLOP/step | ours fp32 GFLOP/s | ours fp32 | smart fp32 | ours bf16 GFLOP/s | ours bf16 |",
           "|---|---|---|---|---|---|---|"]
    for row in fl["rows"]:
        out.append(f"| {row['case']} | {row['gflop_per_step']:.2f} | {row['ours_fp32_gflop_per_s']:.1f} | "
                   f"{100 * row['ours_fp32_utilisation']:.0f} % | {100 * row['smart_fp32_utilisation']:.0f} % | "
                   f"{row['ours_bf16_gflop_per_s']:.1f} | {100 * row['ours_bf16_utilisation']:.0f} % |")
    return out


def _per_demo(section: Any) -> tuple[list[dict[str, Any]], str | None]:
    """Rows of a per-demo section and a note when it has none.

    Accepts what a GUI benchmark may write: one demo's dict (with ``demo``),
    ``{"demos": [...]}``/``{"demos": {name: {...}}}``, a list of dicts, or
    ``{name: {...}}``; ``skipped``/``error`` give the note.
    """
    if section is None:
        return [], "not measured in this run"
    if isinstance(section, dict) and ("skipped" in section or "error" in section):
        return [], f"skipped: {section.get('skipped') or section.get('error')}"
    if isinstance(section, dict) and "demos" in section:
        section = section["demos"]
    if isinstance(section, dict) and "demo" not in section and all(isinstance(v, dict) for v in section.values()):
        section = [{"demo": name, **value} for name, value in section.items()]
    rows = [section] if isinstance(section, dict) else [r for r in section if isinstance(r, dict)]
    return rows, (None if rows else "no rows")


def _range(row: dict[str, Any], key: str, unit: str, fmt: str = ".2f") -> str:
    """``value unit`` with `` (min–max)`` when the row has ``key_min``/``key_max``."""
    text = f"{_f(row.get(key), fmt)} {unit}".rstrip()
    if row.get(key + "_min") is not None and row.get(key + "_max") is not None:
        text += f" ({row[key + '_min']:{fmt}}–{row[key + '_max']:{fmt}})"
    return text


def _gui_md(r: dict[str, Any]) -> list[str]:
    """The "GUI ratio per demo" and "First frame" sections (``results["gui"]``,
    ``results["first_frame"]``; written by ``benchmarks/gui_overhead.py``)."""
    rows, note = _per_demo(r.get("gui"))
    out = ["", "**GUI ratio per demo** (training iterations/s with the app's live views ÷ headless; "
           "target ≥ 0.95; event-loop latency target p99 < 50 ms)", ""]
    if note:
        out.append(note)
    else:
        out += ["| demo | GUI ÷ headless it/s | headless it/s | GUI it/s | latency p50 | latency p99 |",
                "|---|---|---|---|---|---|"]
        for row in rows:
            tiny = " (tiny net)" if row.get("tiny") else ""
            out.append(f"| {row.get('demo', '–')}{tiny} | **{_range(row, 'gui_over_headless', '')}** | "
                       f"{_f(row.get('headless_it_per_s'))} | {_f(row.get('gui_it_per_s'))} | "
                       f"{_f(row.get('latency_p50_ms'), '.1f')} ms | {_f(row.get('latency_p99_ms'), '.1f')} ms |")
    # First frame: its own section when a benchmark writes one, else the GUI rows' timings.
    ff_rows, ff_note = _per_demo(r.get("first_frame")) if r.get("first_frame") is not None else (rows, note)
    out += ["", "**First frame** (time from pressing Train to the first iteration and to the first "
            "trained samples on screen; target < 3 s)", ""]
    if ff_note:
        out.append(ff_note)
    else:
        out += ["| demo | Train → first iteration | Train → first frame |", "|---|---|---|"]
        for row in ff_rows:
            out.append(f"| {row.get('demo', '–')} | {_range(row, 'train_to_first_iteration_s', 's')} | "
                       f"**{_range(row, 'train_to_first_frame_s', 's')}** |")
    return out


def to_markdown(r: dict[str, Any]) -> str:
    """The results as Markdown tables (what README's Performance section shows)."""
    m = r["machine"]
    bf16 = {True: ", native bf16", False: ", no native bf16"}.get(m.get("cpu_native_bf16"), "")
    out = [f"Measured {r['started']} on {m['processor']} ({m['cpus']} CPUs{bf16}, torch {m['torch']}, "
           f"{m['torch_threads']} threads; 1-min load average {_f(m.get('load_average_1min'), '.1f')} "
           f"at start, {_f(m.get('load_average_1min_end'), '.1f')} at end); "
           f"total {r['total_seconds']} s.", ""]
    out += _langevin_md(r["langevin"] if isinstance(r.get("langevin"), list) else [])
    if isinstance(r.get("training"), list):
        out += _training_md(r["training"])
    fl = r.get("flops", {})
    if "rows" in fl:
        out += _flops_md(fl)
    out += _gui_md(r)
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
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's, one per core)")
    args = p.parse_args(argv)
    results = run_all(args.quick, args.gui_seconds, args.threads)
    js, md = write(results, args.out)
    print(md.read_text(encoding="utf-8"))
    print(f"wrote {js} and {md}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
