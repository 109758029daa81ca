"""GUI overhead: training iterations/s with the app's live views vs headless,
event-loop latency while training, and the time from pressing Train to the
first trained samples on screen — per demo (digits, shapes-voxels,
shapes-points by default).

Every measurement runs in a child process (``python -m benchmarks.gui_overhead``)
so Qt never loads into the benchmark runner; the app is imported lazily and
a row says ``skipped`` when it is not importable.

Throughput: in one process, headless and GUI windows alternate (H, G, H, G …
H) with the same config (the demo's preset, checkpoints off) and the same
torch thread count as the app's worker. Both drive an
:class:`ebm_engine.session.Session` that writes a run folder (headless: as
``ebm train`` does, without display extras); the GUI window runs the real
Qt event loop (``QEventLoop.exec``, as ``app.exec()`` does, not a polling
loop, which would itself take a core). Each GUI window's ratio is its rate ÷
the mean of the headless windows either side; we report the median and the
min–max over repeats and the GUI thread's CPU share (``time.thread_time`` of
the main thread ÷ wall time). The latency of a 10 ms probe timer
(:class:`app.latency.LatencyProbe`) is measured in a short window right
after each throughput window, as training goes on (its own timer would
otherwise count as GUI work).

First frame: fresh processes, each opening the window on the demo, letting
the data preview show, waiting a second (a person reads before clicking),
pressing Train and timing the first trained snapshot drawn (its slot ran and
pending paints were flushed), with the steps in between (run started = data
and model built, first iteration). ``launch_to_first_frame_s`` is
``ebm-studio --train``: Train pressed as soon as the window exists.

Targets: GUI/headless ≥ 0.95, p99 latency < 50 ms, first frame < 3 s.

    python -m benchmarks.gui_overhead --demos digits shapes-voxels shapes-points \
        --seconds 15 --repeats 3 --out benchmarks/results/gui.json
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
from pathlib import Path
from typing import Any

DEMOS = ("digits", "shapes-voxels", "shapes-points")
LATENCY_SECONDS = 5.0  # the probe's window, after each throughput window
# The window's size on a desktop (the app's first-launch size); the offscreen
# platform's screen is 800×600, which would make every view smaller and cheaper.
WINDOW_SIZE = (1380, 860)


# --- helpers used inside the child --------------------------------------------------
def _setup_env() -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("EBM_STUDIO_SETTINGS", "bench")
    if os.environ["QT_QPA_PLATFORM"] == "offscreen":  # VTK without a display: OSMesa (as the tests)
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkOSOpenGLRenderWindow")


def _load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def _schedstat(tid: int) -> tuple[int, int] | None:
    """(ns on a CPU, ns runnable but waiting for one) of thread ``tid`` (Linux), else None."""
    try:
        with open(f"/proc/self/task/{tid}/schedstat") as f:
            on_cpu, waiting = f.read().split()[:2]
        return int(on_cpu), int(waiting)
    except (OSError, ValueError):
        return None


def _sleeps(tid: int) -> int | None:
    """How many times thread ``tid`` went to sleep (voluntary context switches; Linux)."""
    try:
        with open(f"/proc/self/task/{tid}/status") as f:
            for line in f:
                if line.startswith("voluntary_ctxt_switches"):
                    return int(line.split(":")[1])
    except (OSError, ValueError):
        pass
    return None


class _ThreadClock:
    """Where a thread's wall time went over a window: on a CPU, waiting for one
    (other jobs on the machine, or a wake-up after a sleep), or neither
    (blocked: the GIL, I/O); and how often it slept (a GIL hand-over is one)."""

    def __init__(self, tid: int):
        self.tid, self.t0, self.s0, self.n0 = tid, time.perf_counter(), _schedstat(tid), _sleeps(tid)

    def shares(self) -> dict[str, float]:
        wall = time.perf_counter() - self.t0
        s1, n1 = _schedstat(self.tid), _sleeps(self.tid)
        if self.s0 is None or s1 is None or wall <= 0:
            return {}
        cpu, wait = (s1[0] - self.s0[0]) / 1e9 / wall, (s1[1] - self.s0[1]) / 1e9 / wall
        out = {"cpu": cpu, "runqueue": wait, "blocked": max(0.0, 1.0 - cpu - wait)}
        if self.n0 is not None and n1 is not None:
            out["sleeps_per_s"] = (n1 - self.n0) / wall
        return out


def headless_window(cfg, seconds: float, run_dir: str | None = None) -> dict[str, Any]:
    """A headless session's iterations/s over ``seconds`` (after one warm-up iteration),
    and where its thread's time went (:class:`_ThreadClock`)."""
    import threading

    from ebm_engine.learning.events import TrainStep
    from ebm_engine.session import Session

    session = Session(cfg.with_value("train.iterations", 10**6))
    events = session.train(run_dir)
    count, t0, clock = -1, 0.0, None
    for event in events:
        if isinstance(event, TrainStep):
            count += 1
            if count == 0:
                t0, clock = time.perf_counter(), _ThreadClock(threading.get_native_id())
            elif time.perf_counter() - t0 >= seconds:
                break
    rate = count / (time.perf_counter() - t0)
    shares = clock.shares() if clock is not None else {}
    session.stop()
    for _ in events:  # let the generator finish (its final checkpoint)
        pass
    return {"it_per_s": rate, "thread": shares}


def headless_rate(cfg, seconds: float, run_dir: str | None = None) -> float:
    """Iterations/s of a headless session over ``seconds`` (after one warm-up iteration)."""
    return headless_window(cfg, seconds, run_dir)["it_per_s"]


def _run_loop(seconds: float) -> None:
    """Run the real Qt event loop for ``seconds`` (it sleeps when there is nothing to do)."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(max(1, int(seconds * 1000)), loop.quit)
    loop.exec()


class _Timeline:
    """Times from pressing Train to the run's first events, seen on the GUI thread."""

    def __init__(self, window):
        from PySide6.QtWidgets import QApplication

        self.window, self.app = window, QApplication.instance()
        self.t_click = 0.0
        self.marks: dict[str, float] = {}
        ctrl = window.controller
        ctrl.sigRunStarted.connect(lambda _ev: self._mark("run_started"))
        ctrl.sigIteration.connect(lambda _it: self._mark("first_iteration"))
        ctrl.sigSnapshot.connect(self._snapshot)  # after the window's slot: the draw is done

    def _mark(self, name: str) -> None:
        if self.t_click and name not in self.marks:
            self.marks[name] = time.perf_counter() - self.t_click

    def _snapshot(self, snap) -> None:
        if self.t_click and snap.origin == "train" and "first_frame" not in self.marks:
            self.app.processEvents()  # paints still pending for the new frame
            self._mark("first_frame")

    def press_train(self, timeout: float = 300.0) -> dict[str, float]:
        self.marks = {}
        self.t_click = time.perf_counter()
        self.window.transport.buttons["train"].click()
        deadline = time.monotonic() + timeout
        while "first_frame" not in self.marks and time.monotonic() < deadline:
            _run_loop(0.01)
        return dict(self.marks)


def _window(tmp: str, demo: str, tiny: bool):
    from app.main_window import MainWindow
    from app.testing import TINY_DIGITS

    window = MainWindow(runs_root=tmp, demo=demo)
    window.resize(*WINDOW_SIZE)
    window.show()
    for key, value in (TINY_DIGITS if tiny and demo == "digits" else ()):
        window.settings_panel.set_value(key, value)
    window.settings_panel.set_value("train.checkpoint_every", 0)  # as the headless runs
    window.controller.wait()  # the demo's data preview
    _run_loop(0.3)
    return window


def _per_cpu_ratio(rate: float, shares: dict[str, float], headless: list[float],
                   headless_shares: list[dict[str, float]]) -> float | None:
    """(GUI iterations per worker CPU-second) ÷ (headless iterations per CPU-second)."""
    if not shares or not all(headless_shares):
        return None
    gui = rate / shares["cpu"]
    ref = statistics.mean(r / h["cpu"] for r, h in zip(headless, headless_shares, strict=True))
    return gui / ref


def _median_range_keys(key: str, values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    mid, lo, hi = _median_range(values)
    return {key: mid, key + "_min": lo, key + "_max": hi, key + "_all": values}


def _median_shares(rows: list[dict[str, float]]) -> dict[str, float]:
    rows = [r for r in rows if r]
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]} if rows else {}


def _median_range(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def child_overhead(demo: str, seconds: float, repeats: int, tiny: bool) -> dict[str, Any]:
    """Alternate headless and GUI windows in this process; per-window ratios."""
    _setup_env()
    try:
        from PySide6.QtWidgets import QApplication

        from app.latency import LatencyProbe
    except Exception as exc:  # no Qt here: report, don't fail
        return {"demo": demo, "skipped": f"app not importable: {type(exc).__name__}: {exc}"}
    import torch

    app = QApplication.instance() or QApplication(sys.argv[:1])
    load_start = _load_average()
    with tempfile.TemporaryDirectory() as tmp:
        window = _window(tmp, demo, tiny)
        ctrl = window.controller
        timeline = _Timeline(window)
        cfg = window.current_config()
        threads = ctrl.worker_threads
        torch.set_num_threads(threads)
        first = headless_window(cfg, seconds, f"{tmp}/headless-0")
        headless, headless_threads = [first["it_per_s"]], [first["thread"]]
        gui, ratios, shares, p50, p99, drawn, intervals, firsts = [], [], [], [], [], [], [], []
        worker_threads_time, cpu_ratios = [], []
        for r in range(repeats):
            marks = timeline.press_train()
            firsts.append(marks)
            while ctrl.iteration < 2 and ctrl.busy:  # past the first frame
                _run_loop(0.05)
            count0 = window.snapshot_count
            it0, t0, cpu0 = ctrl.iteration, time.perf_counter(), time.thread_time()
            worker = _ThreadClock(ctrl._thread.native_id)
            _run_loop(seconds)
            wall = time.perf_counter() - t0
            rate = (ctrl.iteration - it0) / wall
            worker_threads_time.append(worker.shares())
            shares.append((time.thread_time() - cpu0) / wall)
            drawn.append((window.snapshot_count - count0) / wall)
            intervals.append(ctrl.pacer.interval)
            # Latency in a window of its own: the probe's 100 Hz Python timer would
            # otherwise count against the GUI's throughput.
            probe = LatencyProbe()
            probe.start()
            _run_loop(min(seconds, LATENCY_SECONDS))
            latency = probe.stop()
            ctrl.stop()
            ctrl.wait()
            _run_loop(0.2)
            h = headless_window(cfg, seconds, f"{tmp}/headless-{r + 1}")
            headless.append(h["it_per_s"])
            headless_threads.append(h["thread"])
            gui.append(rate)
            ratios.append(rate / statistics.mean(headless[-2:]))
            per_cpu = _per_cpu_ratio(rate, worker_threads_time[-1], headless[-2:],
                                     headless_threads[-2:])
            if per_cpu is not None:
                cpu_ratios.append(per_cpu)
            p50.append(latency["p50_ms"])
            p99.append(latency["p99_ms"])
        ctrl.shutdown()
        window.close()
        app.processEvents()
    ratio, ratio_min, ratio_max = _median_range(ratios)
    row: dict[str, Any] = {
        "demo": demo, "tiny": tiny, "seconds": seconds, "repeats": repeats,
        "worker_threads": threads,
        "headless_it_per_s": statistics.median(headless),
        "headless_it_per_s_all": headless,
        "gui_it_per_s": statistics.median(gui),
        "gui_it_per_s_all": gui,
        "gui_over_headless": ratio, "gui_over_headless_min": ratio_min,
        "gui_over_headless_max": ratio_max, "gui_over_headless_all": ratios,
        # iterations per CPU-second of the training thread, GUI ÷ headless: the GUI's cost
        # per iteration (GIL hand-overs, the worker's display work) without the other
        # jobs' share of the machine, which moves the wall-clock ratio by ±10 % here
        **_median_range_keys("gui_over_headless_per_cpu", cpu_ratios),
        "gui_thread_cpu_share": statistics.median(shares),
        "gui_thread_cpu_share_max": max(shares),
        "snapshots_drawn_per_s": statistics.median(drawn),
        "draw_interval_s": statistics.median(intervals),
        "latency_p50_ms": statistics.median(p50),
        "latency_p99_ms": statistics.median(p99),
        "latency_p99_ms_max": max(p99),
        # where the training thread's wall time went (medians): headless vs the GUI's worker
        "headless_thread": _median_shares(headless_threads),
        "gui_worker_thread": _median_shares(worker_threads_time),
        "load_average_1min_start": load_start,
        "load_average_1min_end": _load_average(),
    }
    # The GUI windows' first frames come after headless runs in a warm process:
    # kept as a cross-check; the first-frame rows come from fresh processes.
    warm = [m["first_frame"] for m in firsts if "first_frame" in m]
    if warm:
        row["warm_train_to_first_frame_s"] = statistics.median(warm)
    return row


def child_first_frame(demo: str, tiny: bool, launch: bool) -> dict[str, Any]:
    """Fresh process: open the window on ``demo``, press Train, time the first frame.

    ``launch``: press Train as soon as the window exists (``ebm-studio --train``),
    else after the data preview shows and a second passes.
    """
    t_start = time.perf_counter()
    _setup_env()
    try:
        from PySide6.QtWidgets import QApplication

        from app.main_window import MainWindow
        from app.testing import TINY_DIGITS
    except Exception as exc:
        return {"demo": demo, "skipped": f"app not importable: {type(exc).__name__}: {exc}"}
    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        window = MainWindow(runs_root=tmp, demo=demo)
        window.resize(*WINDOW_SIZE)
        window.show()
        for key, value in (TINY_DIGITS if tiny and demo == "digits" else ()):
            window.settings_panel.set_value(key, value)
        timeline = _Timeline(window)
        t_window = time.perf_counter() - t_start
        if not launch:
            window.controller.wait()
            _run_loop(1.0)
        marks = timeline.press_train()
        window.controller.shutdown()
        window.close()
        app.processEvents()
    return {"demo": demo, "launch": launch, "process_to_window_s": t_window, **marks}


# --- the parent: children, repeats, summaries ---------------------------------------
def _child(args: list[str], timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.gui_overhead", "--child", *args]
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


def first_frames(demo: str, repeats: int = 3, tiny: bool = False,
                 timeout: float = 300) -> dict[str, Any]:
    """First-frame timings of ``demo`` over ``repeats`` fresh processes (median, min, max)."""
    runs = [_child(["--first-frame", "--demo", demo] + (["--tiny"] if tiny else []), timeout)
            for _ in range(repeats)]
    launch = _child(["--first-frame", "--launch", "--demo", demo] + (["--tiny"] if tiny else []),
                    timeout)
    ok = [r for r in runs if "first_frame" in r]
    if not ok:
        return {"first_frame_skipped": (runs[0].get("skipped") if runs else "no repeats")}
    out: dict[str, Any] = {}
    for mark, key in (("run_started", "train_to_run_started_s"),
                      ("first_iteration", "train_to_first_iteration_s"),
                      ("first_frame", "train_to_first_frame_s")):
        values = [r[mark] for r in ok if mark in r]
        if values:
            out[key], out[key + "_min"], out[key + "_max"] = _median_range(values)
    if "first_frame" in launch:
        out["launch_to_first_frame_s"] = launch["first_frame"]
        out["launch_process_to_window_s"] = launch["process_to_window_s"]
    return out


def run(demo: str = "digits", seconds: float = 15.0, tiny: bool = False, repeats: int = 3,
        first_frame_repeats: int = 3, timeout: float = 900) -> dict[str, Any]:
    """One demo's row: GUI/headless ratio (median, min–max over ``repeats``), latency,
    GUI-thread CPU share, and first-frame timings from fresh processes."""
    row = _child(["--demo", demo, "--seconds", str(seconds), "--repeats", str(repeats)]
                 + (["--tiny"] if tiny else []), timeout)
    row.setdefault("demo", demo)
    if first_frame_repeats > 0:
        row.update(first_frames(demo, first_frame_repeats, tiny))
    return row


def run_demos(demos=DEMOS, seconds: float = 15.0, tiny: bool = False, repeats: int = 3,
              first_frame_repeats: int = 3) -> dict[str, Any]:
    """``{"demos": [row, …]}`` for :func:`run` of each demo (what ``run_all`` writes), with
    when and where it was measured."""
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    load = _load_average()
    rows = [run(d, seconds, tiny, repeats, first_frame_repeats) for d in demos]
    return {"started": started, "cpus": os.cpu_count(), "load_average_1min_start": load,
            "load_average_1min_end": _load_average(), "demos": rows}


def to_markdown(result: dict[str, Any]) -> str:
    """The rows as the two tables of ``benchmarks/results/gui.md``."""
    rows = result["demos"]

    def f(value, fmt=".2f"):
        return "–" if value is None else format(value, fmt)

    head = []
    if "started" in result:
        head = [f"Measured {result['started']} on {result['cpus']} CPUs shared with other jobs "
                f"(1-min load average {f(result['load_average_1min_start'], '.1f')} at start, "
                f"{f(result['load_average_1min_end'], '.1f')} at end); Qt offscreen, VTK through "
                "OSMesa (software OpenGL).", ""]

    def rng(row, key, fmt=".2f"):
        if row.get(key + "_min") is None:
            return f(row.get(key), fmt)
        return f"{f(row.get(key), fmt)} ({f(row[key + '_min'], fmt)}–{f(row[key + '_max'], fmt)})"

    out = head + ["| demo | GUI ÷ headless it/s, median (min–max) | per CPU-second of the training "
                  "thread | headless it/s | GUI it/s | GUI thread CPU | snapshots drawn/s | "
                  "latency p50 / p99 | load avg start → end |",
                  "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "skipped" in r:
            out.append(f"| {r['demo']} | skipped: {r['skipped']} | | | | | | | |")
            continue
        out.append(
            f"| {r['demo']} | **{rng(r, 'gui_over_headless')}** | {rng(r, 'gui_over_headless_per_cpu')} | "
            f"{f(r['headless_it_per_s'])} | "
            f"{f(r['gui_it_per_s'])} | {100 * r['gui_thread_cpu_share']:.1f} % | "
            f"{f(r['snapshots_drawn_per_s'])} | {f(r['latency_p50_ms'], '.1f')} / "
            f"{f(r['latency_p99_ms'], '.1f')} ms | {f(r.get('load_average_1min_start'), '.1f')} → "
            f"{f(r.get('load_average_1min_end'), '.1f')} |")
    out += ["", "| demo | Train → run started | Train → first iteration | "
            "**Train → first frame**, median (min–max) | `--train` launch → first frame |",
            "|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['demo']} | {rng(r, 'train_to_run_started_s')} s | "
                   f"{rng(r, 'train_to_first_iteration_s')} s | **{rng(r, 'train_to_first_frame_s')} s** | "
                   f"{f(r.get('launch_to_first_frame_s'))} s |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--demo", default=None, help="one demo (default: --demos)")
    p.add_argument("--demos", nargs="+", default=list(DEMOS))
    p.add_argument("--seconds", type=float, default=15.0, help="length of each timed window")
    p.add_argument("--repeats", type=int, default=3, help="GUI windows per demo")
    p.add_argument("--first-frame-repeats", type=int, default=3, help="fresh processes per demo")
    p.add_argument("--tiny", action="store_true", help="tiny digits network (CI smoke)")
    p.add_argument("--out", type=Path, help="write the JSON here (and the tables next to it, .md)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--first-frame", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--launch", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        demo = args.demo or args.demos[0]
        if args.first_frame:
            print(json.dumps(child_first_frame(demo, args.tiny, args.launch)))
        else:
            print(json.dumps(child_overhead(demo, args.seconds, args.repeats, args.tiny)))
        return 0
    demos = [args.demo] if args.demo else args.demos
    result = run_demos(demos, args.seconds, args.tiny, args.repeats, args.first_frame_repeats)
    text = json.dumps(result, indent=2)
    if args.out is not None:
        from ebm_engine import atomic

        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(args.out, text + "\n")
        atomic.write_text(args.out.with_suffix(".md"), to_markdown(result))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
