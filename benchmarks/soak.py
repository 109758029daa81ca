"""Soak test of the app (a benchmark, not a test): train for N minutes, then
follow a run another process writes for N minutes; memory must stay flat and
iterations/s must not degrade as the curves grow.

    python -m benchmarks.soak [--minutes 10] [--demo 8gaussians] [--out FOLDER]
    python -m benchmarks.soak --minutes 0.2 --every 2 --out /tmp/soak   # a smoke run

Writes ``soak.md`` and ``soak.json`` into ``--out`` (default
``benchmarks/results``): RSS and iterations/s every ``--every`` seconds, the
first/last-quarter comparison, and the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ebm_engine import atomic

RESULTS = Path(__file__).resolve().parent / "results"


def _or_nan(load: float | None) -> float:
    """A load average for the table (0.0 is a load; None, not known, is nan)."""
    return float("nan") if load is None else load


def rss_mb() -> float:
    """Resident set size of this process (Linux), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_phase(app, window, minutes: float, every: float, start) -> list[dict]:
    """Run the event loop for ``minutes``, sampling RSS and progress every ``every`` s."""
    from PySide6.QtCore import QEventLoop, QTimer

    samples: list[dict] = []
    last = {"t": time.monotonic(), "it": window.controller_iteration()}
    t0 = time.monotonic()

    def sample() -> None:
        now, it = time.monotonic(), window.controller_iteration()
        samples.append({"t": round(now - t0, 1), "rss_mb": round(rss_mb(), 1), "iteration": it,
                        "its": round((it - last["it"]) / max(now - last["t"], 1e-9), 2)})
        last.update(t=now, it=it)

    loop = QEventLoop()
    timer = QTimer()
    timer.timeout.connect(sample)
    timer.start(int(every * 1000))
    QTimer.singleShot(int(minutes * 60_000), loop.quit)
    start()
    loop.exec()
    timer.stop()
    sample()
    return samples


def wait_until(done, timeout: float, poll_ms: int = 100) -> bool:
    """Run the Qt event loop until ``done()`` is true or ``timeout`` seconds pass.

    The GUI thread stays in the event loop (no sleeping, no busy polling):
    a timer checks ``done`` every ``poll_ms``.
    """
    from PySide6.QtCore import QEventLoop, QTimer

    if done():
        return True
    loop = QEventLoop()
    deadline = time.monotonic() + timeout

    def check() -> None:
        if done() or time.monotonic() >= deadline:
            loop.quit()

    timer = QTimer()
    timer.timeout.connect(check)
    timer.start(poll_ms)
    loop.exec()
    timer.stop()
    return bool(done())


def summary(samples: list[dict]) -> dict:
    q = max(1, len(samples) // 4)
    first, last = samples[1:q + 1] or samples[:1], samples[-q:]
    mean = lambda rows, k: sum(r[k] for r in rows) / len(rows)  # noqa: E731
    return {"rss_first_mb": round(mean(first, "rss_mb"), 1), "rss_last_mb": round(mean(last, "rss_mb"), 1),
            "rss_min_mb": min(r["rss_mb"] for r in samples), "rss_max_mb": max(r["rss_mb"] for r in samples),
            "its_first": round(mean(first, "its"), 2), "its_last": round(mean(last, "its"), 2),
            "iterations": samples[-1]["iteration"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="per phase")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--demo", default="8gaussians")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for soak.md and soak.json")
    args = parser.parse_args(argv)
    from benchmarks.common import machine

    facts = machine()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory(prefix="ebm-soak-") as tmp:
        window = MainWindow(runs_root=Path(tmp) / "runs", demo=args.demo)
        window.controller_iteration = lambda: int(window.controller.session.iteration)
        window.show()
        iterations = 10**7
        window.controller.edit("train.iterations", iterations)
        train = run_phase(app, window, args.minutes, args.every,
                          lambda: window.transport.buttons["train"].click())
        final_train = window.controller.state
        window.transport.buttons["stop"].click()
        window.controller.wait(120)
        app.processEvents()
        # Phase 2: follow a run the CLI writes.
        run = Path(tmp) / "followed"
        proc = subprocess.Popen([sys.executable, "-m", "ebm_engine", "train", "--data", args.demo,
                                 "--out", str(run), "--steps", str(iterations), "--quiet"],
                                env={**os.environ, "OMP_NUM_THREADS": "1"})
        try:
            wait_until(lambda: (run / "metrics.csv").is_file() or proc.poll() is not None, 120)
            follow = run_phase(app, window, args.minutes, args.every,
                               lambda: window.follow_run(run))
            final_follow = window.controller.state
        finally:
            proc.terminate()
            proc.wait(60)
        window.controller.stop()
        window.close()
    facts["load_average_1min_end"] = machine()["load_average_1min"]
    result = {"demo": args.demo, "minutes_per_phase": args.minutes, "machine": facts,
              "train": {"summary": summary(train), "final_state": final_train, "samples": train},
              "follow": {"summary": summary(follow), "final_state": final_follow, "samples": follow}}
    args.out.mkdir(parents=True, exist_ok=True)
    atomic.write_text(args.out / "soak.json", json.dumps(result, indent=1))
    lines = [f"# Soak: {args.demo}, {args.minutes:g} min training + {args.minutes:g} min following",
             "", f"Measured {time.strftime('%Y-%m-%dT%H:%M')} on {facts['processor']} ({facts['cpus']} "
             f"CPUs, torch {facts['torch']}; 1-min load average "
             f"{_or_nan(facts['load_average_1min']):.1f} at start, "
             f"{_or_nan(facts['load_average_1min_end']):.1f} at end).",
             "", "| phase | iterations | RSS first ¼ (MB) | RSS last ¼ (MB) | RSS min–max (MB) | "
             "it/s first ¼ | it/s last ¼ | state at end |", "|---|---|---|---|---|---|---|---|"]
    for phase in ("train", "follow"):
        s, state = result[phase]["summary"], result[phase]["final_state"]
        lines.append(f"| {phase} | {s['iterations']} | {s['rss_first_mb']} | {s['rss_last_mb']} | "
                     f"{s['rss_min_mb']}–{s['rss_max_mb']} | {s['its_first']} | {s['its_last']} | "
                     f"{state} |")
    atomic.write_text(args.out / "soak.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
