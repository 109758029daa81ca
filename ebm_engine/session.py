"""One Qt-free session: the run's config, its state, its gates and its event stream.

The CLI's ``ebm train`` and the app both drive a :class:`Session`; the app
only adds a thread (``app/controller.py``). A session holds

- the config in force (:attr:`Session.config`), which :meth:`Session.set_config`
  replaces when the user picks other data or opens a run (nothing carries
  over), and :meth:`Session.edit` changes one knob at a time;
- a :class:`RunState`;
- pause / step / stop gates, honoured between iterations (stop also between
  Langevin steps, see :mod:`ebm_engine.sampling.interrupt`);
- a divergence policy: the app pauses and lets the user decide
  (:class:`PauseOnDivergence`), the CLI rolls back
  (:class:`~ebm_engine.learning.rollback.RollbackPolicy`) or stops
  (:class:`StopOnDivergence`);
- one typed event stream (:mod:`ebm_engine.learning.events`), the same
  classes whether the run trains here (:meth:`Session.train`,
  :meth:`Session.resume`), is followed in a folder another process writes
  (:meth:`Session.follow`), or is only sampled (:meth:`Session.sample`).

:meth:`Session.edit` is the single place that decides whether a value may
be used: it validates it once (type, finiteness, bounds, the method's own
checks) and, during a run, refuses knobs declared ``live=False``. The
trainer then applies accepted edits between iterations without checking
them again.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ebm_engine.config import RunConfig, is_live
from ebm_engine.data.training_points import subsample, training_points
from ebm_engine.errors import ConfigError, EBMError
from ebm_engine.learning.events import (
    Checkpointed,
    Diverged,
    Event,
    Finished,
    KnobEdit,
    RolledBack,
    RunStarted,
    SamplesReady,
    TrainStep,
    Warned,
)
from ebm_engine.learning.landscape import energy_landscape, points_bounds
from ebm_engine.learning.rollback import RollbackPolicy
from ebm_engine.methods import method_class

# How long a followed run that diverged or stopped is given to go back and go on.
FOLLOW_ROLLBACK_SECONDS = 5.0
# A followed run that writes nothing for this long is said to be maybe stopped (once).
FOLLOW_SILENT_SECONDS = 180.0
# Polls in a row without the followed run's config.json before it counts as gone: an
# sshfs or NFS mount that drops for a moment is not the run deleted.
GONE_POLLS = 3


class RunState(str, enum.Enum):
    """Where a session is. ``str`` values so logs and Qt signals can carry them."""

    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    SAMPLING = "sampling"
    FOLLOWING = "following"
    FINISHED = "finished"


ACTIVE = (RunState.RUNNING, RunState.PAUSED, RunState.SAMPLING, RunState.FOLLOWING)


@dataclass(frozen=True)
class Accepted:
    """An edit was accepted; ``value`` is the parsed value now in force.

    ``pending`` is true during a run: the trainer applies it before its next
    iteration.
    """

    key: str
    value: Any
    pending: bool = False


@dataclass(frozen=True)
class Refused:
    """An edit was refused; ``current`` is the value still in force (an editor reverts to it)."""

    key: str
    value: Any
    reason: str
    current: Any


EditResult = Accepted | Refused


@dataclass(frozen=True)
class PauseOnDivergence:
    """Pause at a divergence; the user lowers a knob and resumes (the app)."""


@dataclass(frozen=True)
class StopOnDivergence:
    """Let the trainer retry with fresh chains, then end the run as ``diverged``."""


DivergencePolicy = PauseOnDivergence | StopOnDivergence | RollbackPolicy


class Session:
    """A config, its run and the controls over it (thread-safe controls).

    Parameters
    ----------
    cfg : RunConfig, optional
        The config to start from (default: the 2D demo's defaults).
    on_diverge : DivergencePolicy
        What to do when training diverges.
    display : bool
        Add what views need to sample snapshots (2D energy landscape and
        data points) and snapshot the first iteration of a run, whatever
        ``train.sample_every`` says (the first picture comes after one
        iteration, not ``sample_every``); the CLI leaves it off.

    Notes
    -----
    The generators (:meth:`train`, :meth:`resume`, :meth:`follow`,
    :meth:`sample`) run on one thread; :meth:`edit`, :meth:`pause`,
    :meth:`resume_run`, :meth:`step` and :meth:`stop` may be called from
    any other.
    """

    def __init__(self, cfg: RunConfig | None = None, *,
                 on_diverge: DivergencePolicy = PauseOnDivergence(), display: bool = False):
        self._config = (cfg or RunConfig()).validate()
        self.on_diverge = on_diverge
        self.display = display
        self.state = RunState.IDLE
        self.trainer = None
        self.run_dir: Path | None = None
        self.iteration = 0
        self.target = 0
        self.rollbacks = 0
        self._cond = threading.Condition()
        self._paused = False
        self._step_budget = 0
        self._stop = threading.Event()
        # the data a sampled model's molecules are drawn beside, read once per data config
        self._molecule_reference: tuple[Any, dict[str, np.ndarray]] | None = None
        self._roll_back_asked = False  # roll_back(): the next stop goes back, not out
        self._roll_back_to: int | None = None  # to that checkpoint (None: the latest)

    # --- the config ------------------------------------------------------------------
    @property
    def config(self) -> RunConfig:
        """The config in force (the next run's, or the running one's with accepted edits)."""
        return self._config

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def set_config(self, cfg: RunConfig) -> None:
        """Use ``cfg`` as a whole (other data, a preset, an opened run); nothing carries over."""
        if self.active:
            raise EBMError("Stop the current run before choosing other data or settings.")
        self._config = cfg.validate()
        self.state = RunState.IDLE
        self.trainer = None
        self.run_dir = None
        self.iteration = self.target = 0

    def edit(self, key: str, value: Any) -> EditResult:
        """Decide on one knob edit: validate it once; apply it now (idle) or
        queue it for the trainer (running); or refuse it, saying why."""
        with self._cond:
            cfg = self._config
            current = _value_of(cfg, key)
            try:
                new_cfg = _with_edit(cfg, key, value)
                running = self.trainer is not None and self.state in (RunState.RUNNING,
                                                                      RunState.PAUSED)
                if running or self.state in (RunState.SAMPLING, RunState.FOLLOWING):
                    if not self._live(key):
                        raise ConfigError(f"{key} cannot change during a run; start a new run")
                    if self.state in (RunState.SAMPLING, RunState.FOLLOWING):
                        raise ConfigError(f"{key} cannot change while "
                                          f"{self.state.value}; stop first")
                if running:  # checks that need the data's shape
                    method_class(new_cfg.train.method).parse_options(new_cfg, self.trainer.spec)
            except ConfigError as exc:
                return Refused(key, value, str(exc), current)
            new_value = _value_of(new_cfg, key)
            if new_value == current and key != "train.method":
                return Accepted(key, new_value, False)
            self._config = new_cfg
            if running:
                self.trainer.apply(KnobEdit(key, new_value))
            return Accepted(key, new_value, running)

    def _live(self, key: str) -> bool:
        prefix = "train.options."
        if key.startswith(prefix):
            name = key[len(prefix):]
            knobs = {k.name: k for k in method_class(self._config.train.method).knobs()}
            return name in knobs and knobs[name].spec.live
        return is_live(key)

    # --- controls (any thread) ------------------------------------------------------
    def pause(self) -> None:
        """Pause between iterations."""
        with self._cond:
            self._paused = True
            self._step_budget = 0
            if self.state == RunState.RUNNING:
                self.state = RunState.PAUSED

    def resume_run(self) -> None:
        """Continue after a pause (or a divergence pause)."""
        with self._cond:
            self._paused = False
            self._cond.notify_all()
            if self.state == RunState.PAUSED:
                self.state = RunState.RUNNING

    def step(self) -> None:
        """Run exactly one more iteration, then stay paused."""
        with self._cond:
            self._paused = True
            self._step_budget += 1
            self._cond.notify_all()
            if self.state == RunState.RUNNING:
                self.state = RunState.PAUSED

    def stop(self) -> None:
        """Finish: within one Langevin step; the last complete iteration is checkpointed."""
        with self._cond:
            self._stop.set()
            self._paused = False
            self._cond.notify_all()
        trainer = self.trainer
        if trainer is not None:
            trainer.stop()

    def roll_back_choices(self) -> list[tuple[int, str]]:
        """Where :meth:`roll_back` can go, newest first, as ``(iteration, what)``.

        The run's latest checkpoint, then (if older) the newest state saved just
        before live edits, so that an edit which broke the run can be undone even
        when a periodic checkpoint came between it and the divergence. ``what``
        says which: ``"the latest checkpoint"`` or ``"before your edit of
        train.lr"``.

        Returns
        -------
        list of (int, str)
            One or two choices; empty without a run folder or a checkpoint.
        """
        from ebm_engine.runs.retention import checkpoint_iteration

        trainer = self.trainer
        if trainer is None or trainer.run is None:
            return []
        latest = trainer.run.latest_checkpoint()
        at = None if latest is None else checkpoint_iteration(latest.name)
        if at is None:
            return []
        edits = {i: keys for i, keys in trainer.edit_points
                 if (trainer.run.checkpoint_path(i) / "state.json").is_file()}
        choices = [(at, _before_edit(edits[at]) if at in edits else "the latest checkpoint")]
        older = [i for i in edits if i < at]
        if older:
            choices.append((older[-1], _before_edit(edits[older[-1]])))
        return choices

    def can_roll_back(self) -> int | None:
        """The iteration :meth:`roll_back` goes back to by default (the run's latest
        checkpoint), or ``None`` (no run folder or no checkpoint yet)."""
        choices = self.roll_back_choices()
        return choices[0][0] if choices else None

    def roll_back(self, iteration: int | None = None) -> None:
        """Paused after a divergence: go back to a checkpoint of the run (the latest,
        or ``iteration``, one of :meth:`roll_back_choices`), its settings too,
        instead of resuming from the state that diverged. A :class:`RolledBack`
        follows; the state that diverged is not saved.

        Raises
        ------
        EBMError
            ``iteration`` is not one of :meth:`roll_back_choices`.
        """
        if iteration is not None and iteration not in dict(self.roll_back_choices()):
            raise EBMError(f"cannot go back to iteration {iteration}: no checkpoint of it "
                           "to go back to")
        with self._cond:
            self._roll_back_asked = True
            self._roll_back_to = iteration
            self._paused = False
            self._cond.notify_all()
            if self.state == RunState.PAUSED:
                self.state = RunState.RUNNING
        trainer = self.trainer
        if trainer is not None:
            trainer.stop(checkpoint=False)

    def _gate(self) -> None:
        """Called by the trainer before each iteration: wait while paused (a
        Step lets one iteration through; a stop always does)."""
        with self._cond:
            while self._paused and self._step_budget == 0 and not self._stop.is_set():
                self._cond.wait()
            if self._paused and self._step_budget > 0:
                self._step_budget -= 1

    def _begin(self, state: RunState, *, paused: bool = False, steps: int = 0) -> None:
        if self.active:
            raise EBMError("A run is already active; stop it first.")
        self._stop.clear()
        with self._cond:
            self._paused = paused
            self._step_budget = steps
            self._roll_back_asked = False  # one asked as the last run ended is void
            self._roll_back_to = None
        self.state = RunState.PAUSED if paused and state == RunState.RUNNING else state
        self.iteration = 0

    # --- training ---------------------------------------------------------------------
    def train(self, run_dir: str | Path | None, iterations: int | None = None, *,
              paused: bool = False, steps: int = 0, dataset=None) -> Iterator[Event]:
        """Train the config in force into a new ``run_dir`` (``None``: write nothing).

        The state changes at once; the returned generator builds the trainer
        (loading data can be slow: iterate it on a worker) and yields its
        events. ``paused``/``steps`` start the run paused with that many
        iterations allowed (the app's Step before Train).
        """
        self._begin(RunState.RUNNING, paused=paused, steps=steps)
        target = self._config.train.iterations if iterations is None else iterations

        def build():
            from ebm_engine.learning.trainer import Trainer

            self.run_dir = Path(run_dir) if run_dir is not None else None
            return Trainer(self._config, run_dir, dataset, gate=self._gate), target

        return self._drive(build)

    def resume(self, run_dir: str | Path, iterations: int | None = None,
               checkpoint: str | Path | None = None, *, paused: bool = False,
               steps: int = 0) -> Iterator[Event]:
        """Continue the run in ``run_dir`` from its latest (or the given) checkpoint:
        ``iterations`` more (default: up to the config's total, or as many
        again when it has been reached). ``paused``/``steps`` as for `train`."""
        self._begin(RunState.RUNNING, paused=paused, steps=steps)

        def build():
            from ebm_engine.learning.trainer import Trainer

            trainer = Trainer.resume(run_dir, checkpoint, gate=self._gate, check_config=True)
            self._config = trainer.cfg
            self.run_dir = Path(run_dir)
            total = trainer.cfg.train.iterations
            if iterations is not None:
                return trainer, trainer.iteration + iterations
            return trainer, total if trainer.iteration < total else trainer.iteration + total

        return self._drive(build)

    def _drive(self, build) -> Iterator[Event]:
        from ebm_engine.learning.rollback import roll_back
        from ebm_engine.learning.trainer import Trainer, device_label

        try:
            trainer, target = build()
        except BaseException:
            self.state = RunState.IDLE
            raise
        try:  # from here the run folder is held: released in the finally, whatever happens
            with self._cond:
                self.trainer = trainer
                # edits accepted while the trainer was built (its config also writes out
                # the defaults the run takes: those are no edits)
                if trainer.cfg != trainer.resolved(self._config):
                    trainer.reconfigure(self._config, "edited while starting")
                trainer.snapshot_first = self.display
            if self._stop.is_set():
                trainer.stop()
            self.target = target
            self.iteration = trainer.iteration
            yield RunStarted(str(self.run_dir or ""), device_label(trainer.device),
                             trainer.iteration, target, trainer.cfg.data.source, trainer.spec.kind,
                             trainer.cfg.train.method, trainer.precision_label())
            ctx = self._display_context(trainer)
            self.rollbacks = 0
            problem = ""
            while True:
                finished = None
                for event in trainer.events(target):
                    if isinstance(event, TrainStep):
                        self.iteration = event.iteration
                    elif isinstance(event, SamplesReady) and ctx is not None:
                        event = dataclasses.replace(
                            event, landscape=energy_landscape(trainer.method.energy, ctx[0],
                                                              trainer.device),
                            data_points=ctx[1])
                    elif isinstance(event, Diverged):
                        problem = event.message
                        if isinstance(self.on_diverge, PauseOnDivergence):
                            self.pause()
                    elif isinstance(event, Finished):
                        finished = event
                        if self._rolls_back(event):
                            break  # a RolledBack follows instead
                    yield event
                if finished is None or not self._rolls_back(finished):
                    return
                self.rollbacks += 1
                old, old_trainer = trainer.cfg, trainer
                diverged_at = trainer.iteration
                points = trainer.edit_points
                if self._roll_back_asked:  # the user's choice: that checkpoint as it was
                    self._roll_back_asked = False
                    to = self._roll_back_to
                    trainer = Trainer.resume(
                        trainer.run.path, trainer.run.latest_checkpoint() if to is None
                        else trainer.run.checkpoint_path(to),
                        dataset=trainer.dataset, gate=self._gate)
                    trainer.reconfigure(trainer.cfg, "rolled back")  # config.json: as it was
                else:
                    trainer = roll_back(trainer, self.on_diverge, problem)
                old_trainer.release_run_folder()  # the new one holds the folder now
                # the edits made after the state it went back to are undone
                trainer.edit_points = [p for p in points if p[0] < trainer.iteration]
                trainer.snapshot_first = self.display
                with self._cond:
                    self.trainer = trainer
                    self._config = trainer.cfg
                self.iteration = trainer.iteration
                changes = {k: [_value_of(old, k), _value_of(trainer.cfg, k)]
                           for k in ("train.lr", "sampler.n_steps", "sampler.step_size")
                           if _value_of(old, k) != _value_of(trainer.cfg, k)}
                yield RolledBack(trainer.iteration, diverged_at, problem, changes)
        finally:
            trainer.release_run_folder()  # another process may train it now
            self.state = RunState.FINISHED
            with self._cond:
                self._paused = False

    def _rolls_back(self, finished: Finished) -> bool:
        if self._roll_back_asked:
            return finished.reason == "stopped" and not self._stop.is_set()
        policy = self.on_diverge
        return (finished.reason == "diverged" and isinstance(policy, RollbackPolicy)
                and self.rollbacks < policy.max_rollbacks)

    def _display_context(self, trainer) -> tuple | None:
        if not self.display or trainer.spec.kind != "points" or trainer.spec.item_shape != (2,):
            return None
        items = trainer.dataset.items.cpu().numpy()
        return points_bounds(items), subsample(items)

    # --- following and sampling -----------------------------------------------------
    def follow(self, run_dir: str | Path, poll_seconds: float = 0.5) -> Iterator[Event]:
        """Yield the events of a run another process is writing, until it
        finishes or :meth:`stop` is called (the state changes at once).
        ``run_dir`` may be ``zoo:NAME``, as wherever a run is taken."""
        self._begin(RunState.FOLLOWING)
        return self._follow(run_dir, poll_seconds)

    def _follow(self, run_dir: str | Path, poll_seconds: float) -> Iterator[Event]:
        from ebm_engine.runs import zoo
        from ebm_engine.runs.follow import RunFollower

        try:
            run_dir = zoo.resolve(run_dir)
            follower = RunFollower(run_dir)
            cfg = follower.run.read_config()
        except BaseException:
            self.state = RunState.IDLE  # nothing was followed
            raise
        try:
            self._config = cfg
            self.run_dir = Path(run_dir)
            self.target = cfg.train.iterations
            yield RunStarted(str(run_dir), "elsewhere", 0, cfg.train.iterations,
                             cfg.data.source, "", cfg.train.method)
            news, said = time.monotonic(), False
            scene = _FollowedScene(run_dir, cfg) if self.display else None
            # A run that diverged or was stopped may go back and go on (--on-diverge
            # rollback; the app's Go back): its "finished" line comes just before the
            # "rollback" or "resumed" one.
            ending: tuple[Finished, float] | None = None
            missing = 0  # polls in a row that found no config.json
            while not self._stop.is_set():
                for event in follower.events():
                    news, said = time.monotonic(), False
                    if isinstance(event, TrainStep):
                        self.iteration = event.iteration
                    elif isinstance(event, SamplesReady) and scene is not None:
                        event = scene.dress(event)
                    elif isinstance(event, Checkpointed) and scene is not None:
                        scene.stale = True  # the landscape follows the new checkpoint
                    if isinstance(event, Finished) and event.reason in ("diverged", "stopped"):
                        ending = event, time.monotonic() + FOLLOW_ROLLBACK_SECONDS
                        continue
                    yield event
                    if isinstance(event, Finished):
                        return
                if follower.went_on:
                    ending = None
                if ending is not None and time.monotonic() >= ending[1]:
                    yield ending[0]
                    return
                # config.json is replaced atomically: never absent while the run is there
                missing = missing + 1 if _absent(follower.run.config_path) else 0
                if missing >= GONE_POLLS:
                    yield Warned(self.iteration, f"{run_dir} is gone (deleted, or moved or "
                                 "renamed): following ends; follow it again where it is now")
                    yield Finished(self.iteration, "gone")
                    return
                quiet = time.monotonic() - news
                if quiet >= FOLLOW_SILENT_SECONDS and not said:  # a killed writer says nothing
                    said = True
                    took = f"{quiet:.0f} s" if quiet < 120 else f"{quiet / 60:.0f} min"
                    yield Warned(self.iteration, f"nothing new in {run_dir} for {took}: the "
                                 "process writing it may have stopped (or be paused); Stop "
                                 "ends following")
                self._stop.wait(poll_seconds)
            yield Finished(self.iteration, "stopped")
        finally:
            self.state = RunState.FINISHED

    def sample(self, path: str | Path, n: int = 64, n_steps: int | None = None,
               seed: int | None = None) -> Iterator[Event]:
        """Load the model of a run or checkpoint folder and draw ``n`` samples
        (no training); the chain of the first samples is recorded.

        ``seed`` fixes the chains' start; ``None`` draws fresh chains on each
        call (loading re-seeds from the run's training seed, which would
        otherwise give the same samples every time). With ``display``, a
        molecule model's snapshot carries its training molecules' properties
        (``data_logp``, ``data_qed``, ``data_mw``) where the data can be read.
        """
        self._begin(RunState.SAMPLING)
        return self._sample(path, n, n_steps, seed)

    def _sample(self, path: str | Path, n: int, n_steps: int | None,
                seed: int | None) -> Iterator[Event]:
        import secrets

        import torch

        from ebm_engine import precision
        from ebm_engine.learning.loading import load_model, persistent_chains
        from ebm_engine.learning.saved_config import collected_notes, forget_said
        from ebm_engine.sampling import interrupt

        forget_said()  # another model opened in this app: its notes are its own
        try:
            with collected_notes() as fitted:  # said in the log, below
                loaded = load_model(path, device="cpu")
        except BaseException:
            self.state = RunState.IDLE  # nothing was loaded
            raise
        try:
            cfg, spec = loaded.cfg, loaded.spec
            path = Path(path)
            self.run_dir = path if (path / "config.json").is_file() else None
            self._config = cfg
            it = int(loaded.checkpoint.iteration)
            self.iteration = it
            seed = secrets.randbits(31) if seed is None else seed
            loaded.method.rng.manual_seed(seed)
            torch.manual_seed(seed)
            steps = loaded.method.sample_steps if n_steps is None else n_steps
            cpu = torch.device("cpu")
            chosen, why = precision.resolve(cfg.train.precision, cpu, cfg.train.method)
            yield RunStarted(str(path), "CPU", it, it, cfg.data.source, spec.kind,
                             cfg.train.method, f"{chosen} ({why})")
            if loaded.note:  # a damaged latest checkpoint was passed over
                yield Warned(it, loaded.note)
            for line in fitted:  # options of an older version, fitted to this one
                yield Warned(it, line, note=True)
            chains = persistent_chains(loaded)
            if 0 < chains < n:  # more would repeat them: a grid of look-alikes
                yield Warned(it, f"this model keeps {chains} persistent chains: "
                                 f"{chains} samples drawn, each once", note=True)
                n = chains
            frames = []
            try:
                with interrupt.stop_on(self._stop), precision.autocast(chosen, cpu):
                    for frame in loaded.method.sample(n, steps, max(1, steps // 30)):
                        frames.append(frame)
            except interrupt.Interrupted:
                yield Finished(it, "stopped")
                return
            if not frames:
                raise EBMError("sampling produced no samples")
            last = frames[-1]
            recorded = tuple(frames[:-1]) + (dataclasses.replace(last, x=last.x[:8],
                                                                 energy=last.energy[:8]),)
            landscape = data_points = None
            if self.display and spec.kind == "points" and spec.item_shape == (2,):
                # the training points beside the samples, as in a training run; the view
                # spans both, so samples that strayed from the data are seen, not cut off
                data_points = training_points(cfg)
                shown = last.x if data_points is None else np.concatenate([data_points, last.x])
                landscape = energy_landscape(loaded.method.energy, points_bounds(shown), "cpu")
            # conditional samples (trajectories) carry their scenes in the last frame
            extras = {**spec.display_extras(), **last.extras}
            if self.display and spec.kind == "molecule":
                # the data's property histograms, as a training run's snapshots have them
                extras.update(self._molecule_properties(cfg))
            yield SamplesReady(it, spec.kind, spec.value_range, last.x, last.energy, recorded,
                               extras, landscape=landscape, data_points=data_points,
                               origin="sample")
            yield Finished(it, "sampled")
        finally:
            self.state = RunState.FINISHED

    def _molecule_properties(self, cfg: RunConfig) -> dict[str, np.ndarray]:
        """The training molecules' properties (empty without the data), kept for the
        next Sample of a model of the same data (reading them takes seconds); a file
        edited since is read again, and data that could not be read is tried again."""
        from ebm_engine.data.molecules import data_property_extras

        key = (cfg.data, _file_stamp(cfg.data.source))
        if self._molecule_reference is None or self._molecule_reference[0] != key:
            found = data_property_extras(cfg.data)
            if not found:  # not kept: the file may be back by the next Sample
                return found
            self._molecule_reference = (key, found)
        return self._molecule_reference[1]


def _file_stamp(source: str) -> tuple[str, int] | None:
    """The decoded-data cache's fingerprint of the data file or folder ``source``
    (:func:`ebm_engine.data.cache.source_state`; None: a demo, or nothing there)."""
    from ebm_engine.data.cache import source_state

    try:
        return source_state(Path(source).expanduser())
    except (OSError, ValueError):
        return None


class _FollowedScene:
    """What a followed 2D run's snapshots lack for the view: the training points and the
    landscape of the run's latest checkpoint (read again after each new one)."""

    def __init__(self, run_dir: str | Path, cfg: RunConfig):
        self.run_dir, self.cfg = run_dir, cfg
        self.points: np.ndarray | None = None
        self.points_read = False  # read once, also when the data are gone (None)
        self.energy = None
        self.stale = True  # a newer checkpoint to read before the next picture

    def dress(self, snap: SamplesReady) -> SamplesReady:
        if snap.kind != "points" or np.asarray(snap.samples).shape[1:] != (2,):
            return snap
        if not self.points_read:
            self.points, self.points_read = training_points(self.cfg), True
        if self.stale:
            from ebm_engine.learning.loading import load_model

            self.stale = False
            try:
                self.energy = load_model(self.run_dir, device="cpu").method.energy
            except (EBMError, OSError):  # no checkpoint yet, or unreadable: keep the last
                pass
        shown = snap.samples if self.points is None else np.concatenate([self.points,
                                                                         snap.samples])
        landscape = (energy_landscape(self.energy, points_bounds(shown), "cpu")
                     if self.energy is not None else None)
        return dataclasses.replace(snap, data_points=self.points, landscape=landscape)


def _absent(path: Path) -> bool:
    """``path`` is known not to exist (no such file, or its folder is gone). A mount that
    cannot answer now (ENOTCONN, ESTALE, EIO) does not say so: False."""
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return False


def _before_edit(keys: tuple[str, ...]) -> str:
    """``"before your edit of train.lr"`` (``"… edits of a, b"`` for several)."""
    return f"before your edit{'s' if len(keys) > 1 else ''} of {', '.join(keys)}"


def _value_of(cfg: RunConfig, key: str) -> Any:
    """The value of ``key`` in ``cfg``; an unset method knob has its default."""
    prefix = "train.options."
    if key.startswith(prefix) and key.count(".") == 2:
        name = key[len(prefix):]
        if name in cfg.train.options:
            return cfg.train.options[name]
        try:
            knobs = {k.name: k.default for k in method_class(cfg.train.method).knobs()}
        except ConfigError:
            return None
        return knobs.get(name)
    try:
        return cfg.get_value(key)
    except (AttributeError, KeyError):
        return None


def _with_edit(cfg: RunConfig, key: str, value: Any) -> RunConfig:
    """``cfg`` with the edit, validated; choosing another method keeps only
    the options that method knows."""
    if key == "train.method":
        value = method_class(str(value)).name
    return cfg.with_value(key, value)
