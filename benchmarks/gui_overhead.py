"""GUI overhead: training iterations/s with the app's live views vs headless,
event-loop latency while training, and the time from pressing Train to the
first samples on screen.

Runs in a child process (``python -m benchmarks.gui_overhead``) so Qt never
loads into the benchmark runner; the app is imported lazily and the result
says ``skipped`` when it is not importable. The latency probe is
:class:`app.latency.LatencyProbe`. Headless
and GUI windows alternate (headless, GUI, headless) with the same config and
the same torch thread count as the app's worker; both drive an
:class:`ebm_engine.session.Session` (headless: without display extras).
Targets: GUI/headless ≥ 0.95, p99 latency < 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def headless_rate(cfg, seconds: float) -> float:
    """Iterations/s of a headless session over ``seconds`` (after one warm-up iteration)."""
    from ebm_engine.learning.events import TrainStep
    from ebm_engine.session import Session

    session = Session(cfg.with_value("train.iterations", 10**6))
    events = session.train(None)
    count, t0 = -1, 0.0
    for event in events:
        if isinstance(event, TrainStep):
            count += 1
            if count == 0:
                t0 = time.perf_counter()
            elif time.perf_counter() - t0 >= seconds:
                break
    rate = count / (time.perf_counter() - t0)
    session.stop()
    for _ in events:  # let the generator finish (its final, unsaved checkpoint step)
        pass
    return rate


def child(demo: str, seconds: float, tiny: bool) -> dict[str, object]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("EBM_STUDIO_SETTINGS", "bench")
    try:
        from PySide6.QtCore import QEventLoop
        from PySide6.QtWidgets import QApplication

        from app.latency import LatencyProbe
        from app.main_window import MainWindow
        from app.testing import TINY_DIGITS
    except Exception as exc:  # the app is written in parallel; report, don't fail
        return {"skipped": f"app not importable: {type(exc).__name__}: {exc}"}
    import torch

    app = QApplication.instance() or QApplication(sys.argv[:1])

    def process(ms: int) -> None:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, ms)

    with tempfile.TemporaryDirectory() as tmp:
        window = MainWindow(runs_root=tmp, demo=demo)
        window.show()
        for key, value in TINY_DIGITS if tiny else ():
            window.settings_panel.set_value(key, value)
        ctrl = window.controller
        ctrl.wait()  # the demo's data preview
        process(200)
        cfg = window.current_config().with_value("train.checkpoint_every", 0)
        threads = getattr(ctrl, "worker_threads", torch.get_num_threads())
        torch.set_num_threads(threads)
        before = headless_rate(cfg, seconds)

        t_click = time.perf_counter()
        window.transport.buttons["train"].click()
        first_iteration = first_frame = None
        deadline = time.monotonic() + 300
        while (first_iteration is None or first_frame is None) and time.monotonic() < deadline:
            process(5)
            if first_iteration is None and ctrl.iteration >= 1:
                first_iteration = time.perf_counter() - t_click
            snap = window.snapshot  # the demo's data preview does not count
            if first_frame is None and snap is not None and snap.origin == "train":
                first_frame = time.perf_counter() - t_click
        probe = LatencyProbe()
        probe.start()
        it0, t0 = ctrl.iteration, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            process(20)
        gui_rate = (ctrl.iteration - it0) / (time.perf_counter() - t0)
        latency = probe.stop()
        ctrl.shutdown()
        window.close()
        process(100)
        after = headless_rate(cfg, seconds)
    headless = statistics.mean([before, after])
    return {
        "demo": demo,
        "tiny": tiny,
        "seconds": seconds,
        "worker_threads": threads,
        "headless_it_per_s": headless,
        "gui_it_per_s": gui_rate,
        "gui_over_headless": gui_rate / headless if headless else None,
        "latency_p50_ms": latency["p50_ms"],
        "latency_p99_ms": latency["p99_ms"],
        "latency_max_ms": latency["max_ms"],
        "train_to_first_iteration_s": first_iteration,
        "train_to_first_frame_s": first_frame,
    }


def run(demo: str = "digits", seconds: float = 20.0, tiny: bool = False, timeout: float = 420) -> dict:
    """Run :func:`child` in a fresh interpreter and return its JSON result."""
    cmd = [sys.executable, "-m", "benchmarks.gui_overhead", "--child", "--demo", demo,
           "--seconds", str(seconds)] + (["--tiny"] if tiny else [])
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"skipped": f"timed out after {timeout:.0f} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"skipped": f"child failed (exit {proc.returncode}): {tail[0][:200]}"}
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--demo", default="digits")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.demo, args.seconds, args.tiny)))
    else:
        print(json.dumps(run(args.demo, args.seconds, args.tiny)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
