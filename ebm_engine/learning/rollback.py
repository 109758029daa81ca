"""Divergence rollback: back to the last good checkpoint, with gentler settings.

When EBM training blows up (non-finite or exploding energies or gradients)
the usual advice — from the JEM authors, and GPointNet's stability check — is
to restart from the last good state with a smaller learning rate and longer
(hence better-mixed) Langevin chains. The CLI does this automatically
(``ebm train --on-diverge rollback``, see :class:`ebm_engine.session.Session`);
the app pauses instead and lets the user decide. Each rollback is logged to ``RUN/events.jsonl`` as::

    {"event": "rollback", "iteration": 40, "diverged_at": 47, "checkpoint": "iter_0000040",
     "lr": [0.01, 0.005], "n_steps": [20, 30], "step_size": [0.1, 0.1], "reason": "..."}
"""

from __future__ import annotations

from dataclasses import dataclass

from ebm_engine.errors import ConfigError, DivergenceError
from ebm_engine.learning.trainer import Trainer


@dataclass(frozen=True)
class RollbackPolicy:
    """How to retry after a divergence.

    Attributes
    ----------
    lr_factor : float
        Multiplies ``train.lr`` at each rollback (in (0, 1]).
    extra_steps : int
        Added to ``sampler.n_steps`` at each rollback.
    step_size_factor : float
        Multiplies ``sampler.step_size`` at each rollback (1 = unchanged).
    max_rollbacks : int
        Give up (the run ends as diverged) after this many rollbacks.
    """

    lr_factor: float = 0.5
    extra_steps: int = 10
    step_size_factor: float = 1.0
    max_rollbacks: int = 3

    def __post_init__(self) -> None:
        if not 0.0 < self.lr_factor <= 1.0:
            raise ConfigError(f"rollback lr factor must be in (0, 1], got {self.lr_factor}")
        if self.extra_steps < 0:
            raise ConfigError(f"rollback extra Langevin steps must be >= 0, got {self.extra_steps}")
        if not 0.0 < self.step_size_factor <= 1.0:
            raise ConfigError(
                f"rollback step size factor must be in (0, 1], got {self.step_size_factor}")
        if self.max_rollbacks < 0:
            raise ConfigError(f"max rollbacks must be >= 0, got {self.max_rollbacks}")


def roll_back(trainer: Trainer, policy: RollbackPolicy, reason: str = "") -> Trainer:
    """A new trainer at ``trainer``'s last good checkpoint, with gentler settings.

    The learning rate, Langevin steps and step size are derived from the
    diverged trainer's *current* values, so repeated rollbacks compound.
    Without any checkpoint yet, the run restarts from its initial weights.

    Parameters
    ----------
    trainer : Trainer
        The trainer whose run diverged (it is not used afterwards).
    policy : RollbackPolicy
        How much gentler to be.
    reason : str
        The divergence message, for the log.

    Returns
    -------
    Trainer
        Ready to continue with :meth:`Trainer.events`.

    Raises
    ------
    DivergenceError
        The trainer writes no run folder (nothing to roll back to) on rank 0.
    """
    cfg = trainer.cfg
    new_cfg = (cfg.with_value("train.lr", cfg.train.lr * policy.lr_factor)
               .with_value("sampler.n_steps", cfg.sampler.n_steps + policy.extra_steps)
               .with_value("sampler.step_size", cfg.sampler.step_size * policy.step_size_factor))
    diverged_at = trainer.iteration
    run_path = _run_path(trainer)
    if run_path is None:
        raise DivergenceError("training diverged and there is no run folder to roll back in")
    from ebm_engine.runs.rundir import RunDir

    checkpoint = RunDir(run_path).latest_checkpoint()
    if checkpoint is not None:
        fresh = Trainer.resume(run_path, checkpoint, dataset=trainer.dataset, gate=trainer._gate)
    else:  # diverged before the first checkpoint: start over from the initial weights
        fresh = Trainer(new_cfg, run_path, trainer.dataset, gate=trainer._gate, _create=False)
        if fresh.run is not None:
            fresh.run.truncate_metrics(0)
    fresh.reconfigure(new_cfg)
    if fresh.run is not None:
        fresh.run.append_event(
            "rollback", iteration=fresh.iteration, diverged_at=diverged_at,
            checkpoint=checkpoint.name if checkpoint is not None else None,
            lr=[cfg.train.lr, new_cfg.train.lr],
            n_steps=[cfg.sampler.n_steps, new_cfg.sampler.n_steps],
            step_size=[cfg.sampler.step_size, new_cfg.sampler.step_size],
            reason=reason,
        )
    return fresh


def _run_path(trainer: Trainer):
    """The run folder (also on ranks > 0, which read it but never write it)."""
    if trainer.run is not None:
        return trainer.run.path
    return trainer.run_path
