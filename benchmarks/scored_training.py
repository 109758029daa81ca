"""Train while scoring like ``ebm eval`` on the way, with the clock paused for scoring.

The quality benchmarks (:mod:`benchmarks.quality`, :mod:`benchmarks.quality_3d`,
:mod:`benchmarks.quality_digits_methods`) share this loop; they differ only in
when a scoring is due and what they keep of it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ebm_engine.learning.events import Finished, TrainStep
from ebm_engine.learning.trainer import Trainer
from ebm_engine.metrics.evaluate import eval_count, score_method


@dataclass(frozen=True)
class Scoring:
    """One scoring on the way: training seconds so far, iteration, metrics."""

    seconds: float
    iteration: int
    values: dict[str, float]
    better: dict[str, str]


def train_and_score(trainer: Trainer, due: Callable[[float, int, int], bool], evals: int,
                    seed: int, clock: str = "cpu",
                    on_step: Callable[[TrainStep], None] | None = None,
                    on_score: Callable[[Scoring], None] | None = None,
                    on_end: Callable[[Finished], None] | None = None) -> list[Scoring]:
    """Train ``trainer``, scoring whenever ``due(seconds, iteration, k)`` says so.

    Parameters
    ----------
    trainer : Trainer
        A fresh trainer; it is stopped after the ``evals``-th scoring (or ends
        at its own iterations).
    due : callable
        ``(training seconds, iteration, k) -> bool``, ``k`` the 1-based number
        of the coming scoring.
    evals : int
        Scorings wanted.
    seed : int
        Seed of the scoring's samples.
    clock : {"cpu", "wall"}
        Seconds of the process's CPU time (far less sensitive to other load) or
        wall time.
    on_step : callable, optional
        Sees every training step (energy curves).
    on_score : callable, optional
        Sees each scoring as it comes (progress of a long run).
    on_end : callable, optional
        Sees the run's :class:`Finished` when it ends on its own (its iterations
        done, or ``diverged``). A run that ends before its last scoring is
        scored once more where it stopped.

    Returns
    -------
    list of Scoring
    """
    now_s = time.process_time if clock == "cpu" else time.perf_counter
    out: list[Scoring] = []
    train_s, start = 0.0, now_s()
    for event in trainer.events():
        if isinstance(event, Finished):
            if on_end is not None:
                on_end(event)
            if out and out[-1].iteration == trainer.iteration or trainer.iteration == 0:
                break
            now = train_s + now_s() - start  # ended early: score where it stopped
        elif not isinstance(event, TrainStep):
            continue
        else:
            if on_step is not None:
                on_step(event)
            now = train_s + now_s() - start
            if not due(now, trainer.iteration, len(out) + 1):
                continue
        train_s = now
        ds = trainer.dataset
        # Scoring seeds its own draws; put the training's random state back afterwards,
        # so the run goes on exactly as a user's unscored run would.
        states = trainer.method.rng.get_state(), torch.get_rng_state()
        values, better = score_method(trainer.method, ds, eval_count(trainer.method, ds),
                                      trainer.method.sample_steps, seed)
        trainer.method.rng.set_state(states[0])
        torch.set_rng_state(states[1])
        out.append(Scoring(train_s, trainer.iteration, values, better))
        if on_score is not None:
            on_score(out[-1])
        if len(out) >= evals or isinstance(event, Finished):
            trainer.stop()
            break
        start = now_s()  # scoring time is not training time
    return out
