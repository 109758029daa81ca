"""Peak memory (RSS) of training each demo's default model at batch 32.

Each demo trains 1 iteration in a fresh interpreter (its preset, batch 32,
at most 10 Langevin steps — the sampler frees each step's graph, so the
peak does not grow with the chain length — nothing written); we report the RSS after imports and data loading and the
peak RSS (``ru_maxrss``) after training.

    python -m benchmarks.memory [--demos digits 8gaussians …]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

ITERATIONS = 1
BATCH = 32
MAX_STEPS = 10


def _rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def child(demo: str) -> dict[str, object]:
    import resource

    from ebm_engine.data import load_dataset
    from ebm_engine.learning.trainer import Trainer
    from ebm_engine.presets import config_for

    cfg = config_for(demo, overrides=[("train.batch_size", BATCH), ("train.iterations", ITERATIONS),
                                      ("train.checkpoint_every", 0), ("train.device", "cpu")])
    cfg = cfg.with_value("sampler.n_steps", min(cfg.sampler.n_steps, MAX_STEPS))
    if cfg.sampler.init == "persistent":
        cfg = cfg.with_value("sampler.buffer_size", max(cfg.sampler.buffer_size, BATCH))
    dataset = load_dataset(cfg.data)
    base = _rss_mib()
    t0 = time.perf_counter()
    for _ in Trainer(cfg, None, dataset=dataset).events():
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {"demo": demo, "model": cfg.model.name, "item_shape": list(dataset.item_shape),
            "batch": BATCH, "langevin_steps": cfg.sampler.n_steps, "rss_before_mib": round(base, 1),
            "peak_rss_mib": round(peak, 1), "training_peak_increase_mib": round(peak - base, 1),
            "seconds": round(time.perf_counter() - t0, 1)}


def default_demos() -> list[str]:
    """One demo per default model/preset."""
    from ebm_engine.data import demos

    wanted = ("8gaussians", "digits", "texture-brick", "shapes-voxels", "shapes-points", "dynamic-texture")
    return [d for d in wanted if d in demos()]


def run(demos: list[str] | None = None, timeout: float = 300) -> list[dict[str, object]]:
    rows = []
    for demo in demos or default_demos():
        cmd = [sys.executable, "-m", "benchmarks.memory", "--child", demo]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            rows.append({"demo": demo, "skipped": f"timed out after {timeout:.0f} s"})
            continue
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if proc.returncode or not lines:
            tail = (proc.stderr or "no output").strip().splitlines()[-1:] or ["?"]
            rows.append({"demo": demo, "skipped": f"failed: {tail[0][:200]}"})
        else:
            rows.append(json.loads(lines[-1]))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--demos", nargs="*")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child)))
        return 0
    for row in run(args.demos):
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
