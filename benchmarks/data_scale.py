"""Start-up time and peak memory against dataset size, with the decoded-data cache.

For synthetic folders of PNGs (``--counts`` images of ``--sides`` pixels,
generated once into ``--root``) it runs ``ebm train --data FOLDER --steps 1``
with no preset (the data picks its preset) in fresh interpreters, under
``torchrun`` with 1 and 2 processes (``--procs``):

- **first run**: an empty cache folder, so one process decodes the folder
  into the cache while the others wait for it;
- **cached run**: the same command again, mapping the cache file.

Each process reports (``--worker`` mode, wrapped around the real command):
the seconds spent choosing the preset (lists the folder, reads 3 headers),
in the pre-flight data check, and loading the dataset, their sum as **data
start-up**, and its peak RSS (``ru_maxrss``). RSS growth is the peak minus
that of the same command on a 64-image folder of the same size (the model,
chains and libraries are the same), against the dataset's uint8 size.
Goals: cached data start-up under 2 s at 100k images, RSS growth per
process under 10 % of the uint8 size (the mapping is shared, and only the
batches drawn are read).

    python -m benchmarks.data_scale                              # 1k, 10k, 100k × 32², 64²
    python -m benchmarks.data_scale --counts 1000 --sides 32     # a quick look
    python -m benchmarks.data_scale --out benchmarks/results/data_scale.md

Not part of ``make test`` or ``make bench`` (generating 100k PNGs takes minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

REPORT_ENV = "EBM_DATA_SCALE_REPORT"
BASELINE_COUNT = 64
# Small enough that one iteration is quick at 64²; the same for every size.
TRAIN_ARGS = ["--steps", "1", "--quiet", "--set", "sampler.n_steps=5",
              "--set", "train.checkpoint_every=0", "--set", "train.sample_every=1000",
              "--set", "train.device=cpu"]


# --- synthetic data --------------------------------------------------------------


def _write_pngs(args: tuple[str, int, int, int]) -> int:
    """Write images ``start..stop-1`` of ``side`` px into ``folder`` (a worker process)."""
    import numpy as np
    from PIL import Image

    folder, side, start, stop = args
    rng = np.random.default_rng(start)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    for i in range(start, stop):
        a, b, c = rng.uniform(0, 6.3, 3)
        # Smooth colour waves plus a little noise: compresses and decodes like photos do.
        r = np.sin(xx * 0.21 + a) * 90 + np.cos(yy * 0.13 + c) * 30
        g = np.sin(yy * 0.17 + b) * 80 + np.cos(xx * 0.11 + a) * 40
        bl = np.sin((xx + yy) * 0.09 + c) * 100
        pic = np.stack([r, g, bl], axis=-1) + 128 + rng.normal(0, 6, (side, side, 3))
        sub = os.path.join(folder, f"{i // 1000:03d}")  # 1000 per folder, as datasets ship
        os.makedirs(sub, exist_ok=True)
        Image.fromarray(np.clip(pic, 0, 255).astype(np.uint8)).save(
            os.path.join(sub, f"{i:06d}.png"), compress_level=1)
    return stop - start


def make_folder(root: Path, count: int, side: int, jobs: int) -> tuple[Path, float]:
    """A folder of ``count`` synthetic PNGs (made once); the seconds it took (0 if reused)."""
    folder = root / f"images-{count}-{side}px"
    done = folder / ".complete"
    if done.exists():
        return folder, 0.0
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    t0 = time.perf_counter()
    step = 500
    chunks = [(str(folder), side, s, min(s + step, count)) for s in range(0, count, step)]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        written = sum(pool.map(_write_pngs, chunks))
    assert written == count
    done.touch()
    return folder, time.perf_counter() - t0


# --- one process of a measured run ----------------------------------------------------


def worker(argv: list[str]) -> int:
    """Run ``ebm`` with ``argv``, timing its data steps; write this rank's report."""
    import resource

    t_start = time.perf_counter()
    import ebm_engine.learning.trainer as trainer_mod
    import ebm_engine.presets as presets
    from ebm_engine.cli import main

    t_imported = time.perf_counter()
    timings: dict[str, float] = {}
    facts: dict[str, Any] = {}

    def timed(name: str, fn):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                timings[name] = timings.get(name, 0.0) + time.perf_counter() - t0
        return wrapper

    load = trainer_mod.load_dataset

    def load_and_note(cfg):
        dataset = load(cfg)
        facts["cache"] = dataset.meta.get("cache")
        facts["items"] = len(dataset)
        facts["stored_bytes"] = dataset.nbytes
        facts["stored_dtype"] = str(dataset.stored.dtype)
        # The peak so far: start-up with the data loaded, before the model and
        # chains are built (whose allocations vary by tens of MiB run to run).
        facts["startup_peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return dataset

    trainer_mod.load_dataset = timed("load_dataset", load_and_note)
    trainer_mod.preflight.check_data = timed("check_data", trainer_mod.preflight.check_data)
    presets.config_for = timed("config_for", presets.config_for)
    code = main(argv)
    report = {
        "rank": int(os.environ.get("RANK", 0)),
        "exit": code,
        "import_s": t_imported - t_start,
        "main_s": time.perf_counter() - t_imported,
        "timings": timings,
        "data_startup_s": sum(timings.values()),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        **facts,
    }
    folder = Path(os.environ[REPORT_ENV])
    (folder / f"rank{report['rank']}.json").write_text(json.dumps(report))
    return code


def measure(folder: Path, procs: int, cache_dir: Path, work: Path) -> dict[str, Any]:
    """One ``ebm train`` under torchrun with ``procs`` processes; the ranks' reports."""
    reports = Path(tempfile.mkdtemp(prefix="reports-", dir=work))
    run = Path(tempfile.mkdtemp(prefix="run-", dir=work)) / "run"
    env = {**os.environ, REPORT_ENV: str(reports), "EBM_CACHE_DIR": str(cache_dir),
           "OMP_NUM_THREADS": "1"}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(key, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           "--nproc_per_node", str(procs), "-m", "benchmarks.data_scale", "--worker", "--",
           "train", "--data", str(folder), "--out", str(run), *TRAIN_ARGS]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600,
                          cwd=Path(__file__).resolve().parent.parent)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    ranks = [json.loads(p.read_text()) for p in sorted(reports.glob("rank*.json"))]
    shutil.rmtree(reports, ignore_errors=True)
    shutil.rmtree(run.parent, ignore_errors=True)
    return {"wall_s": wall, "ranks": ranks}


def _peaks(result: dict[str, Any]) -> tuple[float, float]:
    """The busiest process's peak RSS at the end of start-up and at exit."""
    ranks = result["ranks"]
    return (max(r["startup_peak_rss_bytes"] for r in ranks),
            max(r["peak_rss_bytes"] for r in ranks))


def _summary(result: dict[str, Any], baseline: tuple[float, float],
             dataset_bytes: int) -> dict[str, Any]:
    ranks = result["ranks"]
    startup, peak = _peaks(result)
    return {
        "wall_s": round(result["wall_s"], 2),
        "data_startup_s": round(max(r["data_startup_s"] for r in ranks), 3),
        "load_dataset_s": round(max(r["timings"].get("load_dataset", 0.0) for r in ranks), 3),
        "built_by": [r["rank"] for r in ranks if (r.get("cache") or {}).get("built")],
        "startup_rss_growth_mib": round((startup - baseline[0]) / 2**20, 1),
        "startup_rss_growth_pct_of_uint8": round(100 * (startup - baseline[0]) / dataset_bytes, 2),
        "peak_rss_mib": round(peak / 2**20, 1),
        "rss_growth_mib": round((peak - baseline[1]) / 2**20, 1),
        "rss_growth_pct_of_uint8": round(100 * (peak - baseline[1]) / dataset_bytes, 2),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(args.root)
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="work-", dir=root))
    rows: list[dict[str, Any]] = []
    generated: dict[str, float] = {}
    try:
        for side in args.sides:
            base_folder, _ = make_folder(root, BASELINE_COUNT, side, args.jobs)
            baselines: dict[int, tuple[float, float]] = {}
            for procs in args.procs:
                # Baseline: the same command on 64 images (cached), same model and chains.
                base_cache = work / f"cache-base-{side}-{procs}"
                measure(base_folder, procs, base_cache, work)
                baselines[procs] = _peaks(measure(base_folder, procs, base_cache, work))
            for count in args.counts:
                folder, gen_s = make_folder(root, count, side, args.jobs)
                generated[folder.name] = round(gen_s, 1)
                uint8_bytes = count * 3 * side * side
                for procs in args.procs:
                    base_rss = baselines[procs]
                    cache_dir = work / f"cache-{count}-{side}-{procs}"
                    first = measure(folder, procs, cache_dir, work)
                    cached = measure(folder, procs, cache_dir, work)
                    row = {"images": count, "side": side, "procs": procs,
                           "uint8_mib": round(uint8_bytes / 2**20, 1),
                           "baseline_startup_rss_mib": round(base_rss[0] / 2**20, 1),
                           "baseline_peak_rss_mib": round(base_rss[1] / 2**20, 1),
                           "first": _summary(first, base_rss, uint8_bytes),
                           "cached": _summary(cached, base_rss, uint8_bytes)}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                    shutil.rmtree(cache_dir, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if not args.keep:
            for side in args.sides:
                for count in [*args.counts, BASELINE_COUNT]:
                    shutil.rmtree(root / f"images-{count}-{side}px", ignore_errors=True)
    return {"rows": rows, "generation_s": generated}


def markdown(result: dict[str, Any], machine: dict[str, Any], note: str) -> str:
    lines = [
        "# Data scale: start-up and memory with the decoded-data cache",
        "",
        "`python -m benchmarks.data_scale` — `ebm train --data FOLDER --steps 1` with no preset "
        "(the folder picks `digits` sized for it), under torchrun with 1 and 2 processes, "
        "synthetic PNG folders (1000 per subfolder).",
        "",
        "- *Data start-up*: choosing the preset + the pre-flight data check + loading the "
        "dataset, in the slowest process. The interpreter and torch imports (about 2 s here) "
        "are not included; *wall* is the whole torchrun command, imports and one training "
        "iteration included.",
        "- *First*: an empty cache; one process decodes into it (a progress bar after 2 s) "
        "while the other waits, then maps it. *Cached*: the same command again (page cache "
        "warm).",
        "- *RSS growth*: the busiest process's peak RSS minus the same command's on a 64-image "
        "folder (same model, chains and libraries), in MiB and as a share of the dataset's "
        "uint8 size; *at start-up* is the peak once the data is loaded (before the model "
        "exists), *at exit* the peak over the whole run, whose training allocations vary by "
        "±10–25 MiB between identical runs here.",
        "",
        f"Machine: {machine.get('platform')}, {machine.get('cpus')} CPUs, torch "
        f"{machine.get('torch')}, load average {machine.get('load_average_1min')} at the end.",
        "",
        note,
        "",
        "| images | side | procs | uint8 MiB | first: data start-up s | first: wall s | "
        "cached: data start-up s | cached: wall s | cached: RSS growth at start-up, MiB (%) | "
        "cached: RSS growth at exit, MiB (%) | first: RSS growth at start-up, MiB (%) | "
        "first: RSS growth at exit, MiB (%) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        f, c = r["first"], r["cached"]
        lines.append(
            f"| {r['images']} | {r['side']} | {r['procs']} | {r['uint8_mib']} | "
            f"{f['data_startup_s']} | {f['wall_s']} | {c['data_startup_s']} | {c['wall_s']} | "
            f"{c['startup_rss_growth_mib']} ({c['startup_rss_growth_pct_of_uint8']} %) | "
            f"{c['rss_growth_mib']} ({c['rss_growth_pct_of_uint8']} %) | "
            f"{f['startup_rss_growth_mib']} ({f['startup_rss_growth_pct_of_uint8']} %) | "
            f"{f['rss_growth_mib']} ({f['rss_growth_pct_of_uint8']} %) |")
    gen = ", ".join(f"{k}: {v} s" for k, v in result["generation_s"].items() if v)
    if gen:
        lines += ["", f"Generating the PNGs (not part of any figure above): {gen}."]
    lines += ["", "Baselines (64 images) peak RSS, MiB: " + ", ".join(
        f"{r['side']} px × {r['procs']} proc: {r['baseline_startup_rss_mib']} at start-up, "
        f"{r['baseline_peak_rss_mib']} at exit"
        for r in {(r['side'], r['procs']): r for r in result["rows"]}.values()) + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        rest = argv[1:]
        return worker(rest[1:] if rest[:1] == ["--"] else rest)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--counts", type=int, nargs="+", default=[1000, 10000, 100000])
    p.add_argument("--sides", type=int, nargs="+", default=[32, 64])
    p.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    p.add_argument("--root", default=os.path.join(tempfile.gettempdir(), "ebm-data-scale"),
                   help="where the synthetic folders go (reused when complete)")
    p.add_argument("--keep", action="store_true", help="keep the synthetic folders")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="processes generating PNGs")
    p.add_argument("--out", help="write a markdown table here (and JSON next to it)")
    p.add_argument("--note", default="", help="a line for the markdown (e.g. the load)")
    args = p.parse_args(argv)
    from benchmarks.common import machine

    result = run(args)
    facts = machine()
    if args.out:
        from ebm_engine import atomic

        out = Path(args.out)
        atomic.write_text(out, markdown(result, facts, args.note))
        atomic.write_text(out.with_suffix(".json"),
                          json.dumps({"machine": facts, **result}, indent=1))
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
