"""What a training generator yields: small, frozen, numpy-only events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ebm_engine.learning.landscape import Landscape
from ebm_engine.sampling.langevin import ChainFrame


@dataclass(frozen=True)
class TrainStep:
    """One training iteration finished.

    ``metrics`` holds ``loss``, ``energy_data``, ``energy_sample``,
    ``grad_norm``, ``its`` (iterations/s) and method-specific values.
    """

    iteration: int
    wall_time: float
    metrics: dict[str, float]


@dataclass(frozen=True)
class SamplesReady:
    """A snapshot of the current chains (model space; see ``data.to_display``).

    ``frames`` are the recorded Langevin steps of the first chains (empty
    unless ``train.record_every`` > 0). ``extras`` holds method-specific
    arrays (e.g. a generator's proposals next to the revised samples).
    For 2D data the session adds the energy ``landscape`` and a subsample
    of the training data (``data_points``). ``origin`` says where the
    samples come from: ``train``, ``sample``, ``follow``, ``preview``
    (the training data, shown before a run) or ``picture`` (a conditional
    model given the user's own picture or label).
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
class Checkpointed:
    """A checkpoint was written (atomically) to ``path``."""

    iteration: int
    path: str


@dataclass(frozen=True)
class KnobApplied:
    """A knob edit took effect before ``iteration``."""

    iteration: int
    key: str
    old: Any
    new: Any


@dataclass(frozen=True)
class Warned:
    """Something the user should know (rejected edit, slow step …).

    ``note`` marks what is worth knowing but not wrong (the app logs it without
    the status bar's warning sign).
    """

    iteration: int
    message: str
    note: bool = False


@dataclass(frozen=True)
class Diverged:
    """Energies or gradients became non-finite or exploded; the step was not applied.

    ``iteration`` counts the complete iterations; the step that failed is the
    next one (:func:`ebm_engine.learning.advice.failed_iteration`). ``final``:
    the retries are spent and the run ends (reason ``diverged``) after it.
    """

    iteration: int
    message: str
    final: bool = False


@dataclass(frozen=True)
class RolledBack:
    """After a divergence the run went back to ``iteration`` (its last good
    checkpoint) with gentler settings; curves after ``iteration`` are void.

    ``changes`` maps each changed key to ``[old, new]``.
    """

    iteration: int
    diverged_at: int
    message: str
    changes: dict[str, list[Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Rewound:
    """The run's metrics restart at ``iteration`` (a resumed run rewrote them)."""

    iteration: int


@dataclass(frozen=True)
class TargetSet:
    """A followed run goes on to ``target`` iterations from ``iteration`` (a job resumed
    with ``--steps N`` goes past its config's ``train.iterations``)."""

    iteration: int
    target: int


@dataclass(frozen=True)
class RunStarted:
    """A run (trained here, followed or sampled) begins: facts for the status bar
    (``precision`` says which precision is in force and why)."""

    run_dir: str
    device: str
    iteration: int
    target: int
    source: str
    kind: str
    method: str
    precision: str = ""


@dataclass(frozen=True)
class Finished:
    """The generator is done: ``reason`` is ``completed``, ``stopped``,
    ``diverged``, ``sampled``, ``error``, or ``gone`` (a followed run's folder was
    deleted or moved away). ``unsaved`` says, where the final checkpoint could not
    be written, which iterations were lost and why (``""``: all were saved)."""

    iteration: int
    reason: str
    unsaved: str = ""


Event = (TrainStep | SamplesReady | Checkpointed | KnobApplied | Warned | Diverged | RolledBack
         | Rewound | TargetSet | RunStarted | Finished)


@dataclass(frozen=True)
class KnobEdit:
    """A request to change ``key`` (dotted config path) to ``value`` between iterations."""

    key: str
    value: Any
