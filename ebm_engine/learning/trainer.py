"""The training loop, as a generator of events.

The CLI iterates :meth:`Trainer.events` with a progress bar; the app's
worker iterates it on a thread and checks pause/stop between events;
``torchrun`` runs it on every rank. The loop itself is the same everywhere:

    for each iteration:
        apply queued knob edits (accepted and validated by the session)
        batch ← random training items
        result ← method.train_step(batch)      # Langevin + loss + backward
        if loss or gradients are not finite: yield Diverged, change nothing
        method.apply_update()
        log metrics; maybe snapshot samples; maybe checkpoint (by count or time)

A stop request (:meth:`Trainer.stop`) is seen between Langevin steps too:
the interrupted iteration is discarded and the last complete one is
checkpointed. A diverged step changes nothing that lasts: not the weights,
the optimiser state, the replay buffer, nor the random stream (the retry
draws fresh chains from a stream derived from the seed, the iteration and
the attempt, so it is reproducible).
"""

from __future__ import annotations

import collections
import contextlib
import math
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError

from ebm_engine import distributed, precision, preflight
from ebm_engine.config import RunConfig
from ebm_engine.data import Dataset, check_recorded_source, load_dataset
from ebm_engine.data.scenes import DISPLAY_KEYS
from ebm_engine.data.tokens import SymbolSpec, in_vocabulary
from ebm_engine.errors import CheckpointError, ConfigError
from ebm_engine.export.samples import PANELS
from ebm_engine.learning.advice import failed_iteration
from ebm_engine.learning.events import (
    Checkpointed,
    Diverged,
    Event,
    Finished,
    KnobApplied,
    KnobEdit,
    SamplesReady,
    TrainStep,
    Warned,
)
from ebm_engine.learning.resolved import filled_note, resolved_config
from ebm_engine.learning.saved_config import collected_notes, config_file_agrees, saved_config
from ebm_engine.methods.base import DataSpec, LearningMethod, method_class, to_numpy
from ebm_engine.methods.model_keys import check_model_options
from ebm_engine.models.layers import options_read
from ebm_engine.runs import data_record, retention, run_lock
from ebm_engine.runs.checkpoint import (
    RANK_STATES,
    Checkpoint,
    load_checkpoint,
    rank_tensors,
    restore_network,
    restore_optimizer,
    save_checkpoint,
    with_rank_tensors,
)
from ebm_engine.runs.rundir import RunDir
from ebm_engine.runs.tensorboard import TensorBoardScalars
from ebm_engine.sampling import interrupt

# Consecutive diverged steps (each retried with fresh chains) before giving up.
MAX_DIVERGED_RETRIES = 3
# Checkpoints written just before live edits that are kept from pruning (the newest
# few: what "go back to before my edit" can reach).
KEEP_EDIT_POINTS = 3
# |mean energy| above this counts as exploding.
ENERGY_LIMIT = 1e7
# A parameter-gradient norm above this counts as exploding.
GRAD_LIMIT = 1e9


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA if present, else MPS, else CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind, _, index = str(name).partition(":")
    if kind not in ("cpu", "cuda", "mps") or (index and (kind != "cuda" or not index.isdigit())):
        raise ConfigError(f"device {name!r} is not one of auto, cpu, cuda, cuda:N, mps")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r}: no CUDA device is available on this machine")
    if kind == "cuda" and index and int(index) >= torch.cuda.device_count():
        raise ConfigError(f"device {name!r}: this machine has {torch.cuda.device_count()} "
                          "CUDA device(s), numbered from 0")
    if kind == "mps" and not (getattr(torch.backends, "mps", None)
                              and torch.backends.mps.is_available()):
        raise ConfigError(f"device {name!r}: Apple's MPS is not available on this machine")
    return torch.device(name)


def device_label(device: torch.device) -> str:
    """Human-readable device name for status bars."""
    if device.type == "cuda":
        return f"CUDA {torch.cuda.get_device_name(device)}"
    return device.type.upper()


def build_method(
    cfg: RunConfig, spec: DataSpec, dataset: Dataset | None, device: torch.device,
    rank: int = 0,
) -> tuple[LearningMethod, torch.Generator]:
    """Seed, then build the configured method (same seed → same initial weights).

    Under ``torchrun`` each ``rank`` seeds its own trainer RNG (so its chains,
    persistent buffer and batches differ); rank 0 uses the plain seed.
    """
    torch.manual_seed(cfg.train.seed)
    rng = torch.Generator(device=device)
    rng.manual_seed(distributed.rank_seed(cfg.train.seed + 1, rank))
    method = method_class(cfg.train.method)(cfg, spec, dataset, device, rng)
    return method, rng


class Trainer:
    """One training run: model, optimiser, chains, run folder.

    Parameters
    ----------
    cfg : RunConfig
        The run's configuration (validated).
    run_dir : path or None
        Run folder to create (``None``: train without writing anything).
    dataset : Dataset, optional
        Pre-loaded data (otherwise ``cfg.data`` is loaded).

    Notes
    -----
    :meth:`apply` and :meth:`stop` may be called from another thread; they
    take effect between iterations.
    """

    def __init__(self, cfg: RunConfig, run_dir: str | Path | None = None,
                 dataset: Dataset | None = None, *, gate: Callable[[], None] | None = None,
                 _create: bool = True):
        self.cfg = cfg.validate()
        if _create:  # resumed (saved_config) and rolled-back runs were checked before
            check_model_options(cfg)
        self.device = resolve_device(cfg.train.device)
        if dataset is None:
            preflight.check_data(cfg.data)  # before anything is decoded
            dataset = load_dataset(cfg.data)
        self.dataset = dataset
        self.spec = DataSpec.of(self.dataset)
        # Before the networks and chains are allocated: one line instead of a failed malloc.
        preflight.check_resources(cfg, self.spec.item_shape, self.device, self.dataset.nbytes)
        # Items as stored (8-bit pixels, maybe a memory-mapped cache file shared
        # by every rank): on the CPU nothing is copied; batches are decoded in _batch.
        self.items = self.dataset.stored.to(self.device)
        # Under torchrun only rank 0 writes the run folder.
        self.dist = distributed.current()
        with options_read(cfg.model.options) as read:
            self.method, self.rng = build_method(cfg, self.spec, self.dataset, self.device,
                                                 rank=self.dist.rank)
        # The run records every option it takes, defaults included (config.json and
        # checkpoints): another version's defaults must not change it.
        self._model_read = dict(read)
        cfg = self.cfg = self.method.cfg = self.resolved(cfg)
        if self.dist.world_size > 1:
            distributed.broadcast_parameters(self.method.networks())
        self.iteration = 0
        self.wall_time = 0.0
        self.run_path = Path(run_dir) if run_dir is not None else None  # ranks > 0 read it
        self.run = RunDir(run_dir) if run_dir is not None and self.dist.is_main else None
        self._write_warnings: list[Warned] = []
        self._lock: run_lock.RunLock | None = None
        if self.run is not None:  # one writer per run folder, locked before anything is written
            made = self.run.make_folders() if _create else []
            try:
                self._hold_run_folder()
                if _create:
                    self.run.write_config(cfg)
            except BaseException as exc:  # nothing saved yet: nothing left in the --out's way
                if _create and self._lock is not None and self._lock.fresh:
                    self.run.unmake(made)
                if self._lock is not None:
                    self.release_run_folder()
                if isinstance(exc, OSError):  # a full disk, a read-only folder
                    raise ConfigError(f"cannot write {self.run.config_path}: "
                                      f"{exc.strerror or exc}") from None
                raise
            if _create:
                self._write("data record", data_record.record, self.run.path, self.dataset)
        # Edits the session accepted (already validated), applied between iterations.
        self._edits: collections.deque[KnobEdit] = collections.deque()
        self._stop = threading.Event()
        self._gate = gate
        # A viewer's first picture after one iteration, not after sample_every.
        self.snapshot_first = False
        self._last_checkpoint = -1
        # Under torchrun: the iteration whose ranks' state was last gathered for a
        # checkpoint (on every rank), and rank 0's copy of it while not written.
        self._gathered_at = -1
        self._gathered: list[dict[str, torch.Tensor]] | None = None
        self._edit_count = 0
        self._new_target: int | None = None  # a live edit of train.iterations, not yet taken
        # (iteration, keys edited there): the checkpoints holding the state just before
        # live edits, oldest first; kept from pruning, so an edit can be undone
        self.edit_points: list[tuple[int, tuple[str, ...]]] = []
        self._final_checkpoint = True  # stop(checkpoint=False) leaves the state unsaved
        self._tensorboard: TensorBoardScalars | None = None
        self._failed_writes: set[str] = set()
        if (self.spec.kind == "points" and self.dataset.value_range is None  # raw coordinates
                and cfg.sampler.init in ("noise", "persistent")):  # chains start at init_scale
            from ebm_engine.learning.data_scale import scale_warning

            far = scale_warning(self.dataset.items.cpu().numpy(), cfg.sampler.init_scale)
            if far is not None:
                self._write_warnings.append(Warned(0, far))
        if _create:  # a new run (a resumed one was warned when it began)
            from ebm_engine.learning.odd_settings import odd_settings

            self._write_warnings += [Warned(0, m) for m in odd_settings(self.method, self.spec)]

    def _hold_run_folder(self) -> None:
        """Take the run folder's lock (another process training it is refused), and
        tidy the half-written checkpoints a killed writer left there."""
        assert self.run is not None
        self._lock = run_lock.acquire(self.run.path)
        weakref.finalize(self, self._lock.release)
        if self._lock.note:
            self._write_warnings.append(Warned(self.iteration, self._lock.note))
        self._said_tidied(_tidy(self._lock, self.run))

    def _said_tidied(self, tidied: list[str]) -> None:
        if tidied:
            self._write_warnings.append(Warned(self.iteration, (
                f"tidied {len(tidied)} half-written checkpoint folder"
                f"{'s' if len(tidied) > 1 else ''} a stopped run left in "
                f"{self.run.checkpoints} ({', '.join(sorted(tidied)[:3])}"
                f"{' …' if len(tidied) > 3 else ''})"), note=True))

    def release_run_folder(self) -> None:
        """Let another process train this run folder (the session calls this when the
        run ends; :meth:`events` takes the folder again if called after)."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    # --- construction from disk ------------------------------------------------
    @classmethod
    def resume(cls, run_dir: str | Path, checkpoint: str | Path | None = None,
               dataset: Dataset | None = None, *,
               gate: Callable[[], None] | None = None, check_config: bool = False) -> Trainer:
        """Continue a run from its latest (or the given) checkpoint, exactly.

        ``check_config``: make ``config.json`` say the checkpoint's settings, and say
        so when it did not (a user's resume; a rollback writes its own settings).
        """
        run = RunDir(run_dir)
        # Taken before a checkpoint is chosen: what a killed writer left (a checkpoint
        # between its two renames) is put right first, and no one else writes meanwhile.
        early = (run_lock.acquire(run.path) if run.exists() and distributed.current().is_main
                 else None)
        try:
            tidied = _tidy(early, run) if early is not None else []
            if distributed.current().world_size > 1:
                distributed.barrier()  # ranks > 0 choose their checkpoint after the tidy
            with collected_notes() as fitted:  # options this version reads otherwise
                trainer, folder = cls._resumed(run, checkpoint, dataset, gate, check_config)
        finally:
            if early is not None:
                early.release()  # the trainer holds its own share
        trainer._said_tidied(tidied)
        # as events, so that the app's log says them too (not only a warning on stderr)
        trainer._write_warnings += [Warned(trainer.iteration, line, note=True) for line in fitted]
        return trainer

    @classmethod
    def _resumed(cls, run: RunDir, checkpoint: str | Path | None, dataset: Dataset | None,
                 gate: Callable[[], None] | None, check_config: bool) -> tuple[Trainer, Path]:
        note = ""
        if checkpoint:
            ckpt = load_checkpoint(checkpoint)
        elif run.latest_checkpoint() is None:
            raise CheckpointError(f"{run.path}: no checkpoint to resume from (the run stopped "
                                  "before its first, or is still starting); train again into "
                                  "a new folder (--out NEW)")
        else:  # a damaged latest checkpoint: the newest that reads, said in the log
            ckpt, note = run.load_latest()
        folder = ckpt.path
        cfg = saved_config(ckpt.state["config"])
        if dataset is None:
            check_recorded_source(cfg.data, run.path)
        recoded = None
        if (symbols := ckpt.state.get("data", {}).get("symbols")) is not None:
            # the model's ids name its own words: data whose vocabulary changed (a word
            # the grammar gained) is read in the model's, not sized past its embedding
            if dataset is None:
                preflight.check_data(cfg.data)
                dataset = load_dataset(cfg.data)
            dataset, recoded = in_vocabulary(dataset, SymbolSpec.from_dict(symbols))
        trainer = cls(cfg, run.path if run.exists() else None, dataset, gate=gate, _create=False)
        trainer.restore(ckpt)
        if recoded is not None:
            trainer._write_warnings.append(Warned(trainer.iteration, recoded))
        # "latest" names what was resumed: rollback and advice read it, and an older
        # checkpoint of this run given here is now where the run goes on from
        chosen = bool(checkpoint) and trainer.run is not None and (
            folder.parent.resolve() == trainer.run.checkpoints.resolve())
        if chosen:  # going back: what came after it leaves the run's line, kept aside
            trainer._set_aside_newer(folder)
        if trainer.run is not None:
            try:
                damaged = trainer.run.truncate_metrics(trainer.iteration)
            except OSError as exc:  # a read-only or full run folder cannot go on here
                raise CheckpointError(f"cannot continue {run.path} in place: "
                                      f"{exc.strerror or exc}; use --resume RUN --out NEW") from None
            if damaged:
                trainer._write_warnings.append(Warned(trainer.iteration, damaged))
            fresh = {"optimizers": "fresh (the checkpoint carries no optimiser state)"} \
                if ckpt.optimizer_dropped else {}
            trainer._write("events", trainer.run.append_event, "resumed",
                           iteration=trainer.iteration, checkpoint=folder.name, **fresh,
                           **({"passed_over": note} if note else {}))
        if note:
            trainer._write_warnings.append(Warned(trainer.iteration, note))
        if (said := _processes_changed(ckpt.state, trainer)) and trainer.dist.is_main:
            trainer._write_warnings.append(Warned(trainer.iteration, said))
        if (said := _ranks_not_saved(ckpt.state, trainer)) and trainer.dist.is_main:
            trainer._write_warnings.append(Warned(trainer.iteration, said, note=True))
        if trainer.run is not None and check_config:
            said = config_file_agrees(trainer.run, cfg, folder.name, trainer.cfg)
            filled = filled_note(cfg, trainer.cfg, folder.name)  # saved by an older version
            for line in (said, filled):
                if line:
                    trainer._write_warnings.append(Warned(trainer.iteration, line, note=True))
        if trainer.run is not None and (note or chosen):
            trainer._write("checkpoint pointer", trainer.run.mark_latest, folder)
        if (other := data_record.changed(run.path, trainer.dataset)) is not None:
            trainer._write_warnings.append(Warned(trainer.iteration, other))
            if trainer.run is not None:
                trainer._write("events", trainer.run.append_event, "data_changed", message=other)
        return trainer, folder

    def _set_aside_newer(self, folder: Path) -> None:
        """This run goes on from its checkpoint ``folder``: rename the newer ones
        (:func:`~ebm_engine.runs.retention.set_aside`) and, where there were any, copy
        their curves' rows to ``metrics.csv.abandoned`` (:meth:`RunDir.set_metrics_aside`)
        before resuming drops them; logged and said in a note."""
        assert self.run is not None
        moved = retention.set_aside(self.run.checkpoints, self.iteration)
        if not moved:  # a rollback to the latest: its rows past it are a retry's, not a branch
            return
        # a failed copy says so (_write); the rows then go with the truncation, as before
        rows = self._write("metrics aside", self.run.set_metrics_aside, self.iteration)
        old = [path.name for path, _ in moved]
        new = [path.name for _, path in moved]
        self._write("events", self.run.append_event, "set_aside", iteration=self.iteration,
                    checkpoint=folder.name, checkpoints=old, names=new,
                    metrics=rows.name if rows else None)
        shown = ", ".join(new[:3]) + (" …" if len(new) > 3 else "")
        curves = f", their curves in {rows.name}" if rows else ""
        self._write_warnings.append(Warned(self.iteration, (
            f"went back to {folder.name}: the {len(new)} newer checkpoint"
            f"{'s are' if len(new) > 1 else ' is'} kept aside in {self.run.checkpoints} as "
            f"{shown}{curves} (never resumed, pruned or overwritten); delete them when no "
            "longer needed"), note=True))

    def restore(self, ckpt: Checkpoint) -> None:
        """Load weights, optimisers, chain state and RNG from ``ckpt``."""
        for name, net in self.method.networks().items():
            restore_network(ckpt, name, net)
        for name, opt in self.method.optimizers().items():
            restore_optimizer(ckpt, name, opt)
        # Each rank goes on from its own chains and streams where the checkpoint holds
        # them for this many processes; else every rank from rank 0's (seeded apart below).
        exact = self.dist.world_size > 1 and ckpt.state.get(RANK_STATES) == self.dist.world_size
        tensors = rank_tensors(ckpt.tensors, self.dist.rank if exact else 0)
        rng_state = tensors.pop("rng.trainer", None)
        cpu_state = tensors.pop("rng.torch", None)
        cuda_state = tensors.pop("rng.cuda", None)
        offset = tensors.pop("schedule.offset", None)
        # Fresh optimisers count their steps from 0: the schedules go on from the
        # checkpoint's iteration, not from their start.
        self.method.schedule_offset = (ckpt.iteration if ckpt.optimizer_dropped else
                                       int(offset[0]) if offset is not None else 0)
        if rng_state is not None:
            self.rng.set_state(rng_state)
        if cpu_state is not None:
            torch.set_rng_state(cpu_state)
        if cuda_state is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(cuda_state, self.device)
        self.method.load_state_tensors(tensors)
        self.iteration = ckpt.iteration
        self.wall_time = float(ckpt.state.get("wall_time", 0.0))
        self._last_checkpoint = self._gathered_at = self.iteration
        if self.dist.rank > 0 and not exact:  # rank 0's RNG: keep the ranks' chains apart
            self.rng.manual_seed(distributed.rank_seed(self.cfg.train.seed + 1 + self.iteration,
                                                       self.dist.rank))

    # --- control (thread-safe) ---------------------------------------------------
    def apply(self, edit: KnobEdit) -> None:
        """Queue an edit the session accepted; it is applied before the next iteration.

        Edits reach the trainer only through :meth:`ebm_engine.session.Session.edit`,
        which validates them (once) against the knobs' bounds and ``live`` flags.
        """
        self._edits.append(edit)

    def stop(self, checkpoint: bool = True) -> None:
        """Ask the loop to finish: now if inside a chain (that iteration is
        discarded), else after the current iteration; then it checkpoints
        (``checkpoint=False``: not this state, e.g. one that diverged)."""
        self._final_checkpoint = checkpoint
        self._stop.set()

    @property
    def precision(self) -> str:
        """``fp32`` or ``bf16``: ``train.precision`` resolved on this device."""
        return precision.resolve(self.cfg.train.precision, self.device,
                                 self.cfg.train.method)[0]

    def precision_label(self) -> str:
        """The precision in force and why (for logs and status bars)."""
        chosen, why = precision.resolve(self.cfg.train.precision, self.device,
                                        self.cfg.train.method)
        return f"{chosen} ({why})"

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # --- the loop -------------------------------------------------------------------
    def events(self, iterations: int | None = None) -> Iterator[Event]:
        """Train until ``iterations`` (default ``cfg.train.iterations``) total iterations.

        Yields :class:`TrainStep` every iteration, :class:`SamplesReady`
        every ``train.sample_every``, :class:`Checkpointed`,
        :class:`KnobApplied`, :class:`Warned`, :class:`Diverged`, and a
        final :class:`Finished` (after a last checkpoint when writing a run).
        A diverged step is not applied and is retried with fresh chains; after
        ``MAX_DIVERGED_RETRIES`` in a row the run finishes with reason ``diverged``.
        """
        target = self.cfg.train.iterations if iterations is None else iterations
        reason = "completed"
        its = 0.0
        failures = 0
        last_checkpoint_time = time.monotonic()
        # Mid-chain stops would leave ranks in different collectives: under
        # torchrun the stop is seen between iterations only.
        stop_flag = self._stop if self.dist.world_size == 1 else None
        first = self.snapshot_first
        if self.run is not None and self._lock is None:  # released after an earlier call
            self._hold_run_folder()
        if self.run is not None:  # a follower's "iteration N / target" (resume --steps N)
            self._write("events", self.run.append_event, "target", iteration=self.iteration,
                        target=target)
        yield from self._drain_warnings()  # said before the first step (which may diverge)
        while self.iteration < target:
            if self._gate is not None:  # the session's pause/step gate
                self._gate()
            stopping = self._stop.is_set()
            if self.dist.world_size > 1:  # a signal may reach the ranks at different steps
                try:
                    stopping = distributed.any_rank(stopping, self.device)
                except RuntimeError as exc:  # another rank died between iterations
                    raise self._peer_failed(exc) from None
            if stopping:
                reason = "stopped"
                break
            yield from self._apply_edits()
            if self._new_target is not None:  # train.iterations edited: the run's new total
                target, self._new_target = self._new_target, None
                if self.iteration >= target:
                    break
            t0 = time.perf_counter()
            t = self.cfg.train
            want_snapshot = (first or (self.iteration + 1) % t.sample_every == 0
                             or self.iteration + 1 == target)
            rng_before = self._rng_state()
            try:
                with interrupt.stop_on(stop_flag), precision.autocast(self.precision, self.device):
                    batch = self._batch()
                    result = self.method.train_step(batch, t.record_every if want_snapshot else 0)
            except interrupt.Interrupted:
                self.method.discard_update()
                self._set_rng_state(rng_before)  # the checkpoint resumes exactly
                reason = "stopped"
                break
            except Exception:
                # An unforeseen failure inside a step must not cost the run: the step
                # is undone and the last complete iteration checkpointed, then it is
                # raised as before (the CLI and the app report it).
                self.method.discard_update()
                self._set_rng_state(rng_before)
                self._save_before_failing()
                raise
            if self.dist.world_size > 1:
                # Average gradients (and metrics, so all ranks agree on divergence).
                try:
                    distributed.allreduce_grads(self.method.networks())
                    result.metrics = distributed.average_metrics(result.metrics, self.device)
                except RuntimeError as exc:  # another rank died: keep what is complete
                    self.method.discard_update()
                    if isinstance(exc, torch.OutOfMemoryError):  # its own line (the CLI's)
                        raise
                    raise self._peer_failed(exc) from None
            problem = _divergence(result.metrics)
            if problem:
                self.method.discard_update()
                failures += 1
                self._retry_stream(rng_before, failures)
                if self.run is not None:
                    # iteration: complete ones (as every event); failed_at: the step that
                    # diverged, the number the terminal and the app say
                    self._write("events", self.run.append_event, "diverged",
                                iteration=self.iteration,
                                failed_at=failed_iteration(self.iteration), message=problem)
                    yield from self._drain_warnings()
                yield Diverged(self.iteration, problem, final=failures >= MAX_DIVERGED_RETRIES)
                if failures >= MAX_DIVERGED_RETRIES:
                    reason = "diverged"
                    break
                continue
            failures = 0
            first = False
            self.method.apply_update()
            self.iteration += 1
            dt = time.perf_counter() - t0
            self.wall_time += dt
            its = 1.0 / dt if its == 0.0 else 0.9 * its + 0.1 / dt
            metrics = {**result.metrics, "its": its, "edits": float(self._edit_count)}
            if self.run is not None:
                self._write("metrics", self.run.append_metrics,
                            {"iteration": self.iteration, "wall_time": self.wall_time, **metrics})
                self._scalars().add(self.iteration, metrics)
            yield TrainStep(self.iteration, self.wall_time, metrics)
            if want_snapshot:
                yield self._snapshot(self.method.snapshot_result(result, t.snapshot_size))
            yield from self._drain_warnings()
            due = bool(t.checkpoint_every and self.iteration % t.checkpoint_every == 0) or (
                t.checkpoint_minutes > 0
                and time.monotonic() - last_checkpoint_time >= 60.0 * t.checkpoint_minutes)
            if (self.dist.world_size > 1 and t.checkpoint_minutes > 0
                    and self.run_path is not None):
                # the ranks' clocks differ: they checkpoint together (they send rank 0 state)
                try:
                    due = distributed.any_rank(due, self.device)
                except RuntimeError as exc:
                    raise self._peer_failed(exc) from None
            if due and self.run_path is not None:
                saved = self._checkpoint()
                if saved is not None:
                    yield saved
                last_checkpoint_time = time.monotonic()
        # A diverged run is not checkpointed: its latest checkpoint stays the last good one.
        unsaved = ""
        if (self.run_path is not None and not self._state_kept()
                and reason != "diverged" and self._final_checkpoint):
            saved = self._checkpoint()
            if isinstance(saved, Warned) and self._last_checkpoint != self.iteration:
                # not "completed" without a word: the iterations since the last one are lost
                unsaved = self._unsaved(saved.message)
                saved = Warned(self.iteration, unsaved)
            if saved is not None:
                yield saved
        if self._tensorboard is not None:
            self._tensorboard.close()
            self._tensorboard = None
        if self.run is not None:  # followers learn that the run ended
            self._write("events", self.run.append_event, "finished",
                        iteration=self.iteration, reason=reason,
                        **({"unsaved": unsaved} if unsaved else {}))
        yield Finished(self.iteration, reason, unsaved)

    def _unsaved(self, why: str) -> str:
        """The line for a final checkpoint that could not be written (``why``)."""
        why = why.removesuffix("; training continues")
        last = self._last_checkpoint
        if last < 0:
            latest = self.run.latest_checkpoint() if self.run is not None else None
            last = (retention.checkpoint_iteration(latest.name) or 0) if latest is not None else 0
        lost = (f"iteration {self.iteration} was" if self.iteration == last + 1 else
                f"iterations {last + 1}–{self.iteration} were")
        first = (f"the last saved checkpoint is iteration {last}" if last > 0 else
                 "no checkpoint of this run was saved")
        return f"{first}; {lost} not saved: {why}"

    # --- randomness --------------------------------------------------------------
    def _rng_state(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.rng.get_state(), torch.get_rng_state()

    def _set_rng_state(self, state: tuple[torch.Tensor, torch.Tensor]) -> None:
        self.rng.set_state(state[0])
        torch.set_rng_state(state[1])

    def _retry_stream(self, before: tuple[torch.Tensor, torch.Tensor], attempt: int) -> None:
        """Undo a diverged step's draws, then move to a stream derived from
        (seed, iteration, attempt): fresh chains, the same on every replay."""
        self._set_rng_state(before)
        self.rng.manual_seed(distributed.rank_seed(
            hash((self.cfg.train.seed, self.iteration, attempt)) % (2**31), self.dist.rank))

    def _apply_edits(self) -> Iterator[Event]:
        from ebm_engine.learning.odd_settings import odd_settings

        said = set(odd_settings(self.method, self.spec)) if self._edits else set()
        if self._edits and self.run_path is not None and self.iteration > 0:
            # the state before the user's edits, to go back to if they break the run
            if not self._state_kept() and (saved := self._checkpoint()) is not None:
                yield saved
            if self.iteration == self._last_checkpoint:  # written (a failed write warned)
                self._add_edit_point(tuple(edit.key for edit in self._edits))
        while self._edits:
            edit = self._edits.popleft()
            old = self.current_value(edit.key)
            self.cfg = self.cfg.replace_value(edit.key, edit.value)
            self.method.configure(self.cfg)
            new = self.current_value(edit.key)
            self._edit_count += 1
            if self.run is not None:
                self._write("config", self.run.write_config, self.cfg)
                self._write("events", self.run.append_event, "knob", iteration=self.iteration,
                            key=edit.key, old=old, new=new)
            if edit.key == "train.iterations":
                self._new_target = int(new)
            yield KnobApplied(self.iteration, edit.key, old, new)
            for odd in odd_settings(self.method, self.spec):  # as a run started so is warned
                if odd not in said:
                    said.add(odd)
                    yield Warned(self.iteration, odd)

    def _add_edit_point(self, keys: tuple[str, ...]) -> None:
        if self.edit_points and self.edit_points[-1][0] == self.iteration:  # more edits, same state
            keys = tuple(dict.fromkeys(self.edit_points.pop()[1] + keys))
        self.edit_points = [*self.edit_points, (self.iteration, keys)][-KEEP_EDIT_POINTS:]

    def reconfigure(self, cfg: RunConfig, reason: str = "") -> None:
        """Replace the whole (validated) config between iterations, e.g. a
        rollback's gentler settings; the method takes it like an edit and the
        run folder records it."""
        self.cfg = cfg = self.resolved(cfg)
        self.method.configure(cfg)
        if self.run is not None:
            self.run.write_config(cfg)

    def resolved(self, cfg: RunConfig) -> RunConfig:
        """``cfg`` (this run's, maybe edited) with the defaults of the options it takes
        written out (:func:`~ebm_engine.learning.resolved.resolved_config`)."""
        return resolved_config(cfg, self._model_read)

    def current_value(self, key: str):
        """The value ``key`` has now; a method knob not set in the config has its default."""
        prefix = "train.options."
        if key.startswith(prefix) and key.count(".") == 2:
            return getattr(self.method.opts, key[len(prefix):])
        return self.cfg.get_value(key)

    def _batch(self) -> torch.Tensor:
        idx = torch.randint(len(self.dataset), (self.cfg.train.batch_size,),
                            generator=self.rng, device=self.device)
        self.method.batch_drawn(idx)  # conditional methods take the rows' conditions
        return self.dataset.decode(self.items[idx])  # only the batch becomes float32

    def _snapshot(self, result) -> SamplesReady:
        n = self.cfg.train.snapshot_size
        samples, energy = to_numpy(result.samples[:n]), to_numpy(result.energy[:n])
        extras = {k: to_numpy(v[:n]) for k, v in result.extras.items()}
        extras.update({k: to_numpy(v) for k, v in result.curves.items()})
        display = self.spec.display_extras()  # token data: what decodes the ids
        extras.update(display)
        # trajectories: each sample's scene (or observed past) goes to followers too, and a
        # translation's source and reconstruction (ebm export draws its three rows)
        display.update({k: extras[k] for k in (*DISPLAY_KEYS, *PANELS) if k in extras})
        if self.run is not None:
            self._write("samples", self.run.write_samples, self.iteration, self.spec.kind,
                        samples, energy, self.spec.value_range, display)
        return SamplesReady(self.iteration, self.spec.kind, self.spec.value_range, samples, energy,
                            tuple(result.frames), extras)

    def checkpoint_state(self) -> dict:
        return {
            "iteration": self.iteration,
            "wall_time": self.wall_time,
            "method": self.cfg.train.method,
            "config": self.cfg.to_dict(),
            "data": self.spec.to_dict(),
            "time": time.time(),
            "processes": self.dist.world_size,  # the effective batch is batch × processes
        }

    def rank_state(self) -> dict[str, torch.Tensor]:
        """What this process alone holds of the run's state: the method's chain state
        (persistent buffers …) and the random streams (trainer, torch CPU, and the
        CUDA one under torchrun on CUDA). Weights and optimisers are the same on every
        rank; nothing draws from numpy's or Python's global generators while training."""
        tensors = dict(self.method.state_tensors())
        tensors["rng.trainer"] = self.rng.get_state()
        tensors["rng.torch"] = torch.get_rng_state()
        if self.dist.world_size > 1 and self.device.type == "cuda":  # one process: as it was
            tensors["rng.cuda"] = torch.cuda.get_rng_state(self.device)
        return tensors

    def save_checkpoint(self, folder: str | Path | None = None,
                        ranks: list[dict[str, torch.Tensor]] | None = None) -> Path:
        """Write a checkpoint (default: ``RUN/checkpoints/iter_NNNNNNN``).

        ``ranks``: under torchrun, every rank's :meth:`rank_state` (rank order, from
        :func:`~ebm_engine.distributed.gather_tensors`), saved for an exact resume
        with as many processes; without it the checkpoint holds this rank's only.
        """
        if folder is None:
            if self.run is None:
                raise CheckpointError("no run folder to checkpoint into")
            folder = self.run.checkpoint_path(self.iteration)
        tensors = self.rank_state() if ranks is None else dict(ranks[0])
        tensors["schedule.offset"] = torch.tensor([self.method.schedule_offset], dtype=torch.int64)
        state = self.checkpoint_state()
        if ranks is not None and len(ranks) > 1:
            tensors = with_rank_tensors(tensors, ranks)
            state[RANK_STATES] = len(ranks)
        try:
            path = save_checkpoint(folder, networks=self.method.networks(),
                                   optimizers=self.method.optimizers(), tensors=tensors,
                                   state=state)
            if self.run is not None and Path(path).parent == self.run.checkpoints:
                self.run.mark_latest(Path(path))
        except OSError as exc:  # full disk, read-only or vanished folder
            raise CheckpointError(f"cannot write checkpoint {folder}: "
                                  f"{exc.strerror or type(exc).__name__}") from None
        except SafetensorError as exc:  # safetensors' own wrapper of the same I/O errors
            raise CheckpointError(f"cannot write checkpoint {folder}: {exc}") from None
        return Path(path)

    def _peer_failed(self, exc: RuntimeError) -> CheckpointError:
        """The line for a collective that failed because another torchrun process died,
        after checkpointing the last complete iteration (rank 0)."""
        self._save_before_failing()
        kept = ("the last checkpoint written is kept" if self.run is None else
                f"checkpoint at iteration {self._last_checkpoint} kept"
                if self._last_checkpoint > 0 else "no iteration was complete")
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return CheckpointError(f"another torchrun process failed during iteration "
                               f"{self.iteration + 1} ({why}); {kept}: resume with the same "
                               "command")

    def _save_before_failing(self) -> None:
        if self.run is None or self._last_checkpoint == self.iteration or self.iteration == 0:
            return
        with contextlib.suppress(Exception):  # the first error is the one to report
            self.save_checkpoint()
            self._last_checkpoint = self.iteration

    def _state_kept(self) -> bool:
        """Whether this iteration is checkpointed: written (rank 0, one process) or sent
        to rank 0 for it (ranks > 0). Every rank answering no calls :meth:`_checkpoint`
        together; rank 0 alone may also say no after a failed write (it writes again
        what it was sent, without the others)."""
        if self.run is not None:
            return self._last_checkpoint == self.iteration
        return self._gathered_at == self.iteration

    def _rank_states(self) -> list[dict[str, torch.Tensor]] | None:
        """Every rank's :meth:`rank_state` on rank 0 under torchrun (a collective, at each
        checkpoint; once per iteration), else ``None``."""
        if self.dist.world_size <= 1:
            return None
        if self._gathered_at != self.iteration:
            try:
                self._gathered = distributed.gather_tensors(self.rank_state(), self.device)
            except RuntimeError as exc:  # another rank died: keep what is complete
                if isinstance(exc, torch.OutOfMemoryError):
                    raise
                raise self._peer_failed(exc) from None
            self._gathered_at = self.iteration
        return self._gathered

    def _checkpoint(self) -> Checkpointed | Warned | None:
        """Checkpoint this iteration (``None`` on ranks > 0, which only send their state)."""
        ranks = self._rank_states()  # on every rank, before anything may return
        if self.run is None:
            return None
        # A failed write must not end hours of training: warn, keep going,
        # and try again at the next interval.
        if not self.run.config_path.is_file():  # deleted meanwhile: no half folder in its place
            return Warned(self.iteration, f"the run folder {self.run.path} is gone (deleted or "
                                          "moved while training): no checkpoint written")
        try:
            path = self.save_checkpoint(ranks=ranks)
        except CheckpointError as exc:
            return Warned(self.iteration, f"{exc}; training continues")
        self._last_checkpoint = self.iteration
        self._gathered = None  # written: rank 0 need not keep the ranks' copies
        t = self.cfg.train
        self._write("events", self.run.append_event, "checkpoint", iteration=self.iteration,
                    path=str(path))
        try:  # retention keeps disk bounded on long runs
            self.run.prune_checkpoints(t.keep_checkpoints, t.milestone_every,
                                       protect=[self.run.checkpoint_path(i)
                                                for i, _ in self.edit_points])
        except OSError as exc:
            return Warned(self.iteration, f"cannot remove old checkpoints: "
                                          f"{exc.strerror or type(exc).__name__}")
        return Checkpointed(self.iteration, str(path))

    def _scalars(self) -> TensorBoardScalars:
        """TensorBoard scalars in ``RUN/tensorboard`` (a no-op without tensorboard)."""
        if self._tensorboard is None:
            self._tensorboard = TensorBoardScalars(self.run.path / "tensorboard")
        return self._tensorboard

    def _write(self, what: str, fn, *args, **kwargs) -> Any:
        """Call a run-folder writer and return what it returns; an OSError becomes one
        Warned per kind of write (and None)."""
        try:
            return fn(*args, **kwargs)
        except OSError as exc:
            if what not in self._failed_writes:
                self._failed_writes.add(what)
                target = exc.filename or (self.run.path if self.run is not None else "")
                self._write_warnings.append(Warned(
                    self.iteration, f"cannot write {what} to {target}: "
                    f"{exc.strerror or type(exc).__name__}; training continues"))

    def _drain_warnings(self) -> Iterator[Warned]:
        while self._write_warnings:
            yield self._write_warnings.pop(0)


def _processes_changed(state: dict, trainer: Trainer) -> str:
    """A line when ``trainer`` goes on with another number of torchrun processes than
    the checkpoint's (older checkpoints did not record it): each process draws
    ``train.batch_size`` items, so the effective batch changes with it, and each
    process's own chains and random streams (saved for as many) cannot be given back."""
    before, now = state.get("processes"), trainer.dist.world_size
    if not isinstance(before, int) or before == now:
        return ""
    batch = trainer.cfg.train.batch_size
    return (f"trained so far with {before} process{'es' if before > 1 else ''} (an effective "
            f"batch of {before * batch}); it goes on with {now} ({now * batch}): scale "
            f"train.lr with the batch if the steps should stay alike; "
            + ("every process starts from process 0's persistent chains, with random "
               "streams of its own, so the run is close to, not the same as, one never "
               "stopped" if now > 1 else "it goes on from process 0's persistent chains"))


def _ranks_not_saved(state: dict, trainer: Trainer) -> str:
    """A line when ``trainer`` goes on with as many torchrun processes as the checkpoint
    was written by, but it holds process 0's chains only (written by an older version,
    or as another process failed): the resume is not exact."""
    now = trainer.dist.world_size
    if now <= 1 or state.get("processes") != now or state.get(RANK_STATES) == now:
        return ""
    return ("this checkpoint holds process 0's persistent chains and random streams only "
            "(written by an older version, or as another process failed): every process "
            "starts from them, with streams of its own, so the run is close to, not the "
            "same as, one never stopped")


def _tidy(lock: run_lock.RunLock, run: RunDir) -> list[str]:
    """Tidy ``run``'s checkpoints when ``lock`` took the folder (not a share of this
    process's hold: it may be writing there; not an unheld one: another may be)."""
    return run_lock.tidy_checkpoints(run.checkpoints) if lock.fresh and lock.held else []


def _divergence(metrics: dict[str, float]) -> str | None:
    """A one-line reason if the step's numbers are not finite, else ``None``."""
    bad = [k for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        return f"non-finite {', '.join(bad)}; the update was not applied"
    huge = [k for k in ("energy_data", "energy_sample") if abs(metrics.get(k, 0.0)) > ENERGY_LIMIT]
    if huge:
        return f"exploding {', '.join(huge)} (|E| > {ENERGY_LIMIT:g}); the update was not applied"
    if metrics.get("grad_norm", 0.0) > GRAD_LIMIT:
        return f"exploding grad_norm (> {GRAD_LIMIT:g}); the update was not applied"
    return None


def snapshot_display(event: SamplesReady) -> np.ndarray:
    """The snapshot's samples in display space."""
    from ebm_engine.data.dataset import to_display

    return to_display(event.samples, event.kind, event.value_range)
