"""Peak memory of one training iteration: 32³ VoxelNet and 2048-point PointNet at batch 32.

One iteration is what the app's worker runs: a batch of data, a full
short-run Langevin sampling of 32 chains (the presets' steps), the
maximum-likelihood update, and the sample snapshot. Each case runs in a
fresh process so the peaks do not mix, and the process measures

- ``peak_rss``: the process's peak resident memory (``getrusage``
  ``ru_maxrss``), interpreter, torch and data included — what the machine
  must have;
- ``iteration_rss``: how far one iteration raised the peak above the
  resident memory just before it (model, optimiser and data already built);
- ``python_peak``: the peak of Python-side allocations during the
  iteration (``tracemalloc``: numpy copies, snapshot frames; torch's own
  CPU allocator is invisible to it);
- ``cuda_peak``: ``torch.cuda.max_memory_allocated`` when run on a GPU.

Target: every peak under 4 GiB. Cases: each preset's network at 32³ /
2048 points, and the larger class defaults (VoxelNet width 32 depth 3,
PointNet width 128).

    python -m benchmarks.memory_3d           # table + benchmarks/results/memory_3d.json
    python -m benchmarks.memory_3d --quick   # the presets' nets, ≤ 5 Langevin steps; writes only with --out
    python -m benchmarks.memory_3d --only voxelnet --out /tmp/m.json

The peak does not grow with the chain length (the sampler frees each step's
graph), so ``--quick``'s shorter chains change the time, not the peak.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

TARGET_BYTES = 4 * 2**30
RESULTS = Path(__file__).parent / "results" / "memory_3d.json"

# name → (preset, knobs); every case: batch 32, 32 recorded-snapshot chains as in the app
CASES: dict[str, tuple[str, tuple[tuple[str, object], ...]]] = {
    "voxelnet 32³ (preset: width 16, depth 2)": (
        "shapes-voxels", (("data.image_size", 32),)),
    "voxelnet 32³ (class default: width 32, depth 3)": (
        "shapes-voxels", (("data.image_size", 32), ("model.width", 32), ("model.depth", 3))),
    "pointnet 2048 pts (preset: width 64, depth 3)": (
        "shapes-points", (("data.options.points", 2048),)),
    "pointnet 2048 pts (class default: width 128, depth 3)": (
        "shapes-points", (("data.options.points", 2048), ("model.width", 128))),
}
COMMON = (("train.batch_size", 32), ("train.checkpoint_every", 0), ("train.sample_every", 1),
          ("train.snapshot_size", 32), ("train.record_every", 5), ("data.options.items", 64))


def _rss_now() -> int:
    """Current resident set size in bytes (Linux ``/proc``; 0 elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    import os

    return pages * os.sysconf("SC_PAGE_SIZE")


def _maxrss() -> int:
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib * (1 if sys.platform == "darwin" else 1024)  # macOS reports bytes


QUICK_STEPS = 5


def measure(name: str, max_steps: int | None = None) -> dict[str, object]:
    """Build the case's trainer (no run folder), run one iteration, report memory
    (with at most ``max_steps`` Langevin steps when given)."""
    import torch

    from ebm_engine.learning.trainer import Trainer
    from ebm_engine.presets import config_for

    preset, knobs = CASES[name]
    cfg = config_for(preset)
    for key, value in COMMON + knobs:
        cfg = cfg.with_value(key, value)
    if max_steps is not None:
        cfg = cfg.with_value("sampler.n_steps", min(cfg.sampler.n_steps, max_steps))
    trainer = Trainer(cfg, None)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    before = _rss_now()
    tracemalloc.start()
    t0 = time.perf_counter()
    events = [type(e).__name__ for e in trainer.events(iterations=1)]
    seconds = time.perf_counter() - t0
    _, py_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak = _maxrss()
    params = sum(p.numel() for net in trainer.method.networks().values() for p in net.parameters())
    return {
        "case": name,
        "item_shape": list(trainer.spec.item_shape),
        "batch": cfg.train.batch_size,
        "langevin_steps": cfg.sampler.n_steps,
        "parameters": params,
        "device": str(trainer.device),
        "rss_before": before,
        "peak_rss": peak,
        "iteration_rss": max(peak - before, 0),
        "python_peak": py_peak,
        "cuda_peak": torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None,
        "seconds": round(seconds, 2),
        "events": events,
        "under_target": peak < TARGET_BYTES,
    }


def _gib(n: object) -> str:
    return "–" if n is None else f"{n / 2**30:.3f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", help=argparse.SUPPRESS)  # child process: measure one case
    p.add_argument("--max-steps", type=int, help=argparse.SUPPRESS)
    p.add_argument("--quick", action="store_true",
                   help=f"the presets' nets only, at most {QUICK_STEPS} Langevin steps")
    p.add_argument("--only", action="append", help="cases whose name contains this (repeatable)")
    p.add_argument("--out", type=Path,
                   help=f"JSON file (default {RESULTS}; none with --quick or --only)")
    args = p.parse_args(argv)
    if args.case:
        print(json.dumps(measure(args.case, args.max_steps)))
        return 0

    from benchmarks.common import machine

    names = [n for n in CASES if not args.quick or "(preset" in n]
    if args.only:
        names = [n for n in names if any(s in n for s in args.only)]
        if not names:
            print(f"--only {' '.join(args.only)}: no case matches; the cases are: "
                  + "; ".join(CASES), file=sys.stderr)
            return 2
    # a part of the table (--quick, --only) never replaces the committed whole
    out = args.out if args.out is not None or args.quick or args.only else RESULTS
    rows = []
    for name in names:
        cmd = [sys.executable, "-m", "benchmarks.memory_3d", "--case", name]
        if args.quick:
            cmd += ["--max-steps", str(QUICK_STEPS)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"{name}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
            return 1
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    result = {"target_gib": TARGET_BYTES / 2**30, "machine": machine(), "cases": rows}
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

    print(f"{'case':<52} {'params':>9} {'peak RSS':>9} {'iter +RSS':>9} {'py peak':>8} "
          f"{'CUDA':>6} {'s':>6}  < 4 GiB")
    for r in rows:
        print(f"{r['case']:<52} {r['parameters']:>9,} {_gib(r['peak_rss']):>9} "
              f"{_gib(r['iteration_rss']):>9} {_gib(r['python_peak']):>8} {_gib(r['cuda_peak']):>6} "
              f"{r['seconds']:>6}  {'yes' if r['under_target'] else 'NO'}")
    print(f"(GiB; written to {out})" if out is not None else "(GiB)")
    return 0 if all(r["under_target"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
