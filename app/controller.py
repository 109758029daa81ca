"""The only code in the app that owns threads.

A worker thread iterates an engine generator (:meth:`Trainer.events`, or a
sampling chain) and puts its events in a queue; it checks pause/step/stop
between training iterations and forwards knob edits to the trainer. A 30 Hz
timer on the GUI thread drains the queue and emits Qt signals: metrics rows in
one batch, only the *latest* sample snapshot, and the rare events one by one.
Views never see a tensor: snapshots are frozen numpy copies.

Signals are named ``sig<Something>`` (pyqtgraph style).
"""

from __future__ import annotations

import collections
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PySide6.QtCore import QObject, QTimer, Signal

from ebm_engine.config import RunConfig
from ebm_engine.errors import EBMError
from ebm_engine.learning.events import (
    Checkpointed,
    Diverged,
    Finished,
    KnobApplied,
    KnobEdit,
    SamplesReady,
    TrainStep,
    Warned,
)
from ebm_engine.learning.landscape import Landscape, energy_landscape, points_bounds
from ebm_engine.sampling.langevin import ChainFrame

TICK_MS = 33  # GUI refresh: at most one snapshot drawn per tick (~30 Hz)
FOLLOW_MS = 500  # polling period when following a run folder
DATA_POINTS_SHOWN = 1500


@dataclass(frozen=True)
class Snapshot:
    """What the views draw: a frozen, numpy-only picture of the chains.

    Attributes
    ----------
    iteration : int
        Training iteration it belongs to.
    kind : str
        Data kind (picks the view).
    value_range : (float, float) or None
        Model-space bounds (for display mapping).
    samples, energy : np.ndarray
        Final chain states (model space) and their energies.
    frames : tuple of ChainFrame
        Recorded Langevin steps of the first chains (may be empty).
    extras : dict of np.ndarray
        Method-specific arrays (e.g. generator proposals), same layout as samples.
    landscape : Landscape or None
        Energy heatmap and score field (2D data only).
    data_points : np.ndarray or None
        A subsample of the training data (2D data only).
    origin : str
        ``train``, ``sample`` or ``follow``.
    """

    iteration: int
    kind: str
    value_range: tuple[float, float] | None
    samples: np.ndarray
    energy: np.ndarray
    frames: tuple[ChainFrame, ...] = ()
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    landscape: Landscape | None = None
    data_points: np.ndarray | None = None
    origin: str = "train"


@dataclass(frozen=True)
class RunInfo:
    """Facts about the current run for the status bar."""

    run_dir: str
    device: str
    target: int
    source: str
    kind: str


class Controller(QObject):
    """Drive training, sampling and following; emit signals on the GUI thread.

    Parameters
    ----------
    worker_threads : int
        torch intra-op threads on the worker (keeps a core for the GUI).
    """

    sigStateChanged = Signal(str)  # idle | running | paused | sampling | following | finished
    sigMetrics = Signal(list)  # rows (dicts) since the last tick
    sigSnapshot = Signal(object)  # the latest Snapshot
    sigKnobApplied = Signal(int, str, object, object)  # iteration, key, old, new
    sigMessage = Signal(str)  # a line for the log
    sigError = Signal(str)  # one sentence for a dialog
    sigDiverged = Signal(int, str)
    sigCheckpointed = Signal(int, str)
    sigRunStarted = Signal(object)  # RunInfo
    sigFinished = Signal(str)  # reason
    sigIteration = Signal(int)

    def __init__(self, parent: QObject | None = None, worker_threads: int = 1):
        super().__init__(parent)
        # Python's default GIL switch interval (5 ms) is kept: 1 ms measured
        # p99 10.6 vs 8.5 ms GUI latency but cost the worker 15 % of its speed.
        self.worker_threads = worker_threads
        self.state = "idle"
        self.trainer = None
        self.follower = None
        self.run_dir: Path | None = None
        self.iteration = 0
        self.target = 0
        self._thread: threading.Thread | None = None
        self._queue: collections.deque[Any] = collections.deque()
        self._cond = threading.Condition()
        self._paused = False
        self._step_budget = 0
        self._stopping = False
        self._tick = QTimer(self)
        self._tick.setInterval(TICK_MS)
        self._tick.timeout.connect(self._drain)
        self._tick.start()
        self._follow_timer = QTimer(self)
        self._follow_timer.setInterval(FOLLOW_MS)
        self._follow_timer.timeout.connect(self._poll_follow)

    # --- queries ----------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """A worker thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    # --- commands (GUI thread) ------------------------------------------------------
    def start_training(self, cfg: RunConfig, run_dir: str | Path | None, *,
                       paused: bool = False, step: bool = False) -> None:
        """Build a trainer on the worker (loading data can be slow) and train."""
        if self.busy:
            self.sigError.emit("A run is already active; stop it first.")
            return
        self._stop_follow()
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self._launch(self._train_worker, cfg, self.run_dir, None, paused, step)

    def resume_training(self, run_dir: str | Path) -> None:
        """Continue the run in ``run_dir`` from its latest checkpoint."""
        if self.busy:
            self.sigError.emit("A run is already active; stop it first.")
            return
        self._stop_follow()
        self.run_dir = Path(run_dir)
        self._launch(self._train_worker, None, self.run_dir, self.run_dir, False, False)

    def sample_only(self, path: str | Path, n: int = 64) -> None:
        """Load the model in a run or checkpoint folder and draw ``n`` samples (no training)."""
        if self.busy:
            self.sigError.emit("A run is already active; stop it first.")
            return
        self._stop_follow()
        path = Path(path)
        self.run_dir = path if (path / "config.json").is_file() else None
        with self._cond:
            self._stopping = False
        self._set_state("sampling")
        self._launch_thread(self._sample_worker, path, n)

    def follow(self, run_dir: str | Path) -> None:
        """Show a run folder another process is writing, polling it on a timer."""
        from ebm_engine.runs.follow import RunFollower

        if self.busy:
            self.sigError.emit("A run is active here; stop it before following another.")
            return
        try:
            self.follower = RunFollower(run_dir)
            cfg = self.follower.run.read_config()
        except EBMError as exc:
            self.sigError.emit(str(exc))
            return
        self.run_dir = Path(run_dir)
        self.sigRunStarted.emit(RunInfo(str(run_dir), "elsewhere", cfg.train.iterations,
                                        cfg.data.source, ""))
        self._set_state("following")
        self._poll_follow()
        self._follow_timer.start()

    def pause(self) -> None:
        with self._cond:
            self._paused = True
            self._step_budget = 0
        if self.state == "running":
            self._set_state("paused")

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()
        if self.state == "paused":
            self._set_state("running")

    def step(self) -> None:
        """Run exactly one training iteration, then stay paused."""
        with self._cond:
            self._paused = True
            self._step_budget += 1
            self._cond.notify_all()
        if self.state == "running":
            self._set_state("paused")

    def apply_knob(self, key: str, value: Any) -> None:
        """Queue a knob edit; the trainer applies it between iterations."""
        if self.trainer is not None and self.busy:
            self.trainer.apply(KnobEdit(key, value))

    def stop(self) -> None:
        """Ask the worker to checkpoint and finish after the current iteration."""
        self._stop_follow()
        with self._cond:
            self._stopping = True
            self._paused = False
            self._cond.notify_all()
        if self.trainer is not None:
            self.trainer.stop()

    def shutdown(self, timeout: float = 60.0) -> bool:
        """Stop and wait for the worker (window closing); True if it ended."""
        self.stop()
        self._tick.stop()
        if self._thread is not None:
            self._thread.join(timeout)
            alive = self._thread.is_alive()
            self._queue.clear()
            return not alive
        return True

    def reset(self) -> None:
        """Forget the current run (after it stopped)."""
        if self.busy:
            self.stop()
            self._thread.join(60)
        self._stop_follow()
        self._drain()
        self.trainer = None
        self.run_dir = None
        self.iteration = 0
        self._set_state("idle")

    def wait(self, timeout: float = 60.0) -> None:
        """Join the worker (tests, shutdown)."""
        if self._thread is not None:
            self._thread.join(timeout)

    # --- worker plumbing --------------------------------------------------------------
    def _launch(self, fn, *args) -> None:
        with self._cond:
            self._paused = bool(args[3] or args[4])
            self._step_budget = 1 if args[4] else 0
            self._stopping = False
        self._set_state("paused" if self._paused else "running")
        self._launch_thread(fn, *args)

    def _launch_thread(self, fn, *args) -> None:
        self._queue.clear()
        self._thread = threading.Thread(target=self._guarded, args=(fn, *args),
                                        name="ebm-worker", daemon=False)
        self._thread.start()

    def _guarded(self, fn, *args) -> None:
        torch.set_num_threads(self.worker_threads)
        try:
            fn(*args)
        except EBMError as exc:
            self._queue.append(("error", str(exc)))
            self._queue.append(Finished(self.iteration, "error"))
        except Exception as exc:  # a bug: keep the app alive, say what happened
            traceback.print_exc()
            self._queue.append(("error", f"Internal error: {type(exc).__name__}: {exc}"))
            self._queue.append(Finished(self.iteration, "error"))

    def _gate(self) -> None:
        """Block between iterations while paused, unless a Step is pending."""
        with self._cond:
            while self._paused and self._step_budget == 0 and not self._stopping:
                self._cond.wait()

    def _train_worker(self, cfg, run_dir, resume_dir, _paused, _step) -> None:
        from ebm_engine.learning.trainer import Trainer, device_label

        if resume_dir is not None:
            trainer = Trainer.resume(resume_dir)
            cfg = trainer.cfg
            target = cfg.train.iterations
            if trainer.iteration >= target:
                target = trainer.iteration + cfg.train.iterations
        else:
            trainer = Trainer(cfg, run_dir)
            target = cfg.train.iterations
        self.trainer = trainer
        if self._stopping:
            trainer.stop()
        self.target = target
        self._queue.append(("started", RunInfo(str(run_dir or ""), device_label(trainer.device),
                                               target, cfg.data.source, trainer.spec.kind)))
        landscape_ctx = self._landscape_context(trainer)
        gen = trainer.events(target)
        snapshot_due = False
        for_loop_sentinel = object()
        while True:
            if not snapshot_due:
                self._gate()
            event = next(gen, for_loop_sentinel)
            if event is for_loop_sentinel:
                break
            if isinstance(event, TrainStep):
                t = trainer.cfg.train
                snapshot_due = event.iteration % t.sample_every == 0 or event.iteration == target
                with self._cond:
                    if self._paused and self._step_budget > 0:
                        self._step_budget -= 1
                self.iteration = event.iteration
            elif isinstance(event, SamplesReady):
                snapshot_due = False
                event = self._snapshot(event, trainer, landscape_ctx)
            elif isinstance(event, Diverged):
                snapshot_due = False
                with self._cond:  # pause and let the user decide
                    self._paused = True
                    self._step_budget = 0
            self._queue.append(event)

    def _landscape_context(self, trainer) -> dict | None:
        if trainer.spec.kind != "points" or trainer.spec.item_shape != (2,):
            return None
        items = trainer.dataset.items.cpu().numpy()
        gen = np.random.default_rng(0)
        shown = items[gen.choice(len(items), min(len(items), DATA_POINTS_SHOWN), replace=False)]
        return {"bounds": points_bounds(items), "points": shown}

    def _snapshot(self, event: SamplesReady, trainer, ctx: dict | None) -> Snapshot:
        landscape = None
        if ctx is not None:
            landscape = energy_landscape(trainer.method.energy, ctx["bounds"], trainer.device)
        return Snapshot(event.iteration, event.kind, event.value_range, event.samples,
                        event.energy, tuple(event.frames), dict(event.extras), landscape,
                        ctx["points"] if ctx else None, "train")

    def _sample_worker(self, path: Path, n: int) -> None:
        from ebm_engine.learning.loading import load_model

        loaded = load_model(path, device="cpu")
        cfg, spec = loaded.cfg, loaded.spec
        steps = cfg.sampler.n_steps
        record = max(1, steps // 30)
        frames: list[ChainFrame] = []
        last = None
        for frame in loaded.method.sample(n, steps, record):
            if self._stopping:
                break
            last = frame
            frames.append(frame)
        if last is None:
            raise EBMError("sampling produced no samples")
        recorded = tuple(f for f in frames if f is not last) + (
            ChainFrame(last.step, last.x[:8], last.energy[:8]),)
        landscape = points = None
        if spec.kind == "points" and spec.item_shape == (2,):
            bounds = points_bounds(last.x)
            landscape = energy_landscape(loaded.method.energy, bounds, "cpu")
        it = int(loaded.checkpoint.iteration)
        self._queue.append(Snapshot(it, spec.kind, spec.value_range, last.x, last.energy,
                                    recorded, {}, landscape, points, "sample"))
        self._queue.append(("message", f"Drew {n} samples from {path} ({steps} Langevin steps)."))
        self._queue.append(Finished(it, "sampled"))

    # --- GUI-thread side -------------------------------------------------------------
    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.sigStateChanged.emit(state)

    def _drain(self) -> None:
        """Emit what the worker produced since the last tick (GUI thread)."""
        rows: list[dict] = []
        latest: Snapshot | None = None
        while self._queue:
            item = self._queue.popleft()
            if isinstance(item, TrainStep):
                rows.append({"iteration": item.iteration, "wall_time": item.wall_time,
                             **item.metrics})
            elif isinstance(item, Snapshot):
                latest = item
            else:
                self._emit_event(item, rows)
        if rows:
            self.iteration = int(rows[-1]["iteration"])
            self.sigMetrics.emit(rows)
            self.sigIteration.emit(self.iteration)
        if latest is not None:
            self.sigSnapshot.emit(latest)

    def _emit_event(self, item: Any, rows: list[dict]) -> None:
        if isinstance(item, tuple):
            kind, payload = item
            if kind == "started":
                self.sigRunStarted.emit(payload)
            elif kind == "error":
                self.sigError.emit(payload)
            else:
                self.sigMessage.emit(payload)
        elif isinstance(item, KnobApplied):
            if rows:  # keep curves and markers in order
                self.sigMetrics.emit(list(rows))
                rows.clear()
            self.sigKnobApplied.emit(item.iteration, item.key, item.old, item.new)
            self.sigMessage.emit(f"iteration {item.iteration}: {item.key} {item.old} → {item.new}")
        elif isinstance(item, Warned):
            self.sigMessage.emit(f"warning at iteration {item.iteration}: {item.message}")
        elif isinstance(item, Diverged):
            self._set_state("paused")
            self.sigDiverged.emit(item.iteration, item.message)
        elif isinstance(item, Checkpointed):
            self.sigCheckpointed.emit(item.iteration, item.path)
        elif isinstance(item, Finished):
            if self._thread is not None:
                self._thread.join(5)
            self._set_state("finished" if item.reason != "error" else "idle")
            self.sigFinished.emit(item.reason)

    def _stop_follow(self) -> None:
        if self.follower is not None:
            self._follow_timer.stop()
            self.follower = None
            if self.state == "following":
                self._set_state("idle")

    def _poll_follow(self) -> None:
        if self.follower is None:
            return
        update = self.follower.poll()
        if update.reset:
            self.sigMessage.emit("metrics.csv was rewritten (run resumed); reloading curves")
        if update.rows:
            self.iteration = int(update.rows[-1].get("iteration", 0))
            self.sigMetrics.emit(update.rows)
            self.sigIteration.emit(self.iteration)
        for ev in update.events:
            if ev.get("event") == "knob":
                self.sigKnobApplied.emit(int(ev.get("iteration", 0)), str(ev.get("key")),
                                         ev.get("old"), ev.get("new"))
            elif ev.get("event") == "diverged":
                self.sigMessage.emit(f"followed run diverged: {ev.get('message', '')}")
        s = update.samples
        if s is not None:
            self.sigSnapshot.emit(Snapshot(s["iteration"], s["kind"], s["value_range"],
                                           s["samples"], s["energy"], origin="follow"))

