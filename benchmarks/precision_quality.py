"""fp32 vs bf16 at equal wall-clock time: does bf16 cost sample quality?

Each (demo, precision) trains its preset for the same number of seconds, then
``ebm eval`` scores it (digits: FD under the shipped classifier; voxels: MMD
and 1-NNA of IoU against the data). bf16 runs more iterations in the same
time; it must reach an equal or better metric, or ``auto`` keeps fp32.

    python -m benchmarks.precision_quality [--seconds 120] [--threads 2]

Writes ``benchmarks/results/precision_quality.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
from pathlib import Path

import torch

from ebm_engine import atomic
from ebm_engine.learning.events import TrainStep
from ebm_engine.metrics.evaluate import evaluate_run
from ebm_engine.presets import config_for
from ebm_engine.session import Session, StopOnDivergence

RESULTS = Path(__file__).resolve().parent / "results"
CASES = (("digits", "digits_fd"), ("shapes-voxels", "mmd_iou"))


def train_for(demo: str, precision: str, seconds: float, run: Path) -> int:
    """Train ``demo``'s preset for ``seconds``; return the iterations reached."""
    cfg = config_for(demo, overrides=[("train.precision", precision),
                                      ("train.iterations", 10**7)])
    session = Session(cfg, on_diverge=StopOnDivergence())
    timer = threading.Timer(seconds, session.stop)
    last = 0
    events = session.train(run)
    timer.start()
    try:
        for event in events:
            if isinstance(event, TrainStep):
                last = event.iteration
    finally:
        timer.cancel()
    return last


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=120.0)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory(prefix="ebm-precision-") as tmp:
        for demo, key in CASES:
            for precision in ("fp32", "bf16"):
                run = Path(tmp) / f"{demo}-{precision}"
                its = train_for(demo, precision, args.seconds, run)
                metrics = evaluate_run(run, write=False)["metrics"]
                rows.append({"demo": demo, "precision": precision, "seconds": args.seconds,
                             "iterations": its, "metric": key, "value": metrics.get(key),
                             "all": metrics})
                print(json.dumps(rows[-1]))
    RESULTS.mkdir(exist_ok=True)
    atomic.write_text(RESULTS / "precision_quality.json", json.dumps(rows, indent=1))
    lines = [f"# fp32 vs bf16 at equal time ({args.seconds:g} s each, {args.threads} threads)", "",
             "| demo | precision | iterations | metric | value (lower is better) |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['demo']} | {r['precision']} | {r['iterations']} | {r['metric']} | "
              f"{r['value']:.4g} |" for r in rows]
    atomic.write_text(RESULTS / "precision_quality.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
