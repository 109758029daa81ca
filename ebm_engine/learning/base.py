"""What every learning method provides to the :class:`~ebm_engine.learning.trainer.Trainer`.

A method owns its networks, optimisers and chain state; the trainer owns
the loop, the data batches, the run directory, checkpoints and events. A new
method is a new file in this package with ``@register_method(name)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ebm_engine.config import RunConfig, TrainConfig
from ebm_engine.data.dataset import Dataset
from ebm_engine.errors import ConfigError
from ebm_engine.plugins import import_submodules
from ebm_engine.sampling.langevin import ChainFrame


@dataclass(frozen=True)
class DataSpec:
    """What a method needs to know of the data without loading it (saved in
    checkpoints, so a model samples without its training set)."""

    kind: str
    item_shape: tuple[int, ...]
    value_range: tuple[float, float] | None

    @classmethod
    def of(cls, dataset: Dataset) -> DataSpec:
        return cls(dataset.kind, dataset.item_shape, dataset.value_range)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "item_shape": list(self.item_shape),
                "value_range": list(self.value_range) if self.value_range else None}

    @classmethod
    def from_dict(cls, raw: dict) -> DataSpec:
        vr = raw.get("value_range")
        return cls(str(raw["kind"]), tuple(int(s) for s in raw["item_shape"]),
                   (float(vr[0]), float(vr[1])) if vr else None)


@dataclass
class StepResult:
    """What one training iteration reports back.

    ``samples``/``energy`` are the synthesized batch (kept on the device;
    the trainer copies a few for snapshots only when it emits one).
    """

    metrics: dict[str, float]
    samples: torch.Tensor
    energy: torch.Tensor
    frames: list[ChainFrame] = field(default_factory=list)
    extras: dict[str, torch.Tensor] = field(default_factory=dict)


class LearningMethod:
    """Base class of learning methods.

    Parameters
    ----------
    cfg : RunConfig
        The run's configuration (``cfg.train.options`` holds method knobs).
    spec : DataSpec
        Data kind, item shape and value range.
    dataset : Dataset or None
        Training data (``None`` when only sampling from a checkpoint).
    device : torch.device
        Where networks and chains live.
    rng : torch.Generator
        The run's single source of randomness (saved in checkpoints).
    """

    name = "base"
    #: method-specific knobs and their defaults (shown in the app when selected)
    option_defaults: dict[str, object] = {}
    #: knobs that shape the networks, fixed for the lifetime of a run
    fixed_options: tuple[str, ...] = ()

    def __init__(
        self,
        cfg: RunConfig,
        spec: DataSpec,
        dataset: Dataset | None,
        device: torch.device,
        rng: torch.Generator,
    ):
        self.cfg = cfg
        self.spec = spec
        self.dataset = dataset
        self.device = device
        self.rng = rng
        unknown = sorted(set(cfg.train.options) - set(self.option_defaults))
        if unknown:
            raise ConfigError(
                f"train.options.{unknown[0]} is not a knob of method {self.name!r} "
                f"(knobs: {sorted(self.option_defaults) or 'none'})"
            )

    def adam(self, params) -> torch.optim.Adam:
        """Adam with ``train.lr``, ``train.beta1/beta2`` and ``train.weight_decay``."""
        t = self.cfg.train
        return torch.optim.Adam(params, lr=t.lr, betas=(t.beta1, t.beta2), weight_decay=t.weight_decay)

    def option(self, key: str) -> object:
        """A method knob from ``train.options`` or its default."""
        return self.cfg.train.options.get(key, self.option_defaults[key])

    # --- to implement ------------------------------------------------------
    def networks(self) -> dict[str, nn.Module]:
        """Networks saved in ``model.safetensors`` (``energy`` is the main EBM)."""
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def train_step(self, batch: torch.Tensor, record_every: int) -> StepResult:
        """One iteration on ``batch``; record chain frames every ``record_every`` steps."""
        raise NotImplementedError

    def sample(
        self, n: int, n_steps: int | None = None, record_every: int = 0, n_record: int = 8
    ) -> Iterator[ChainFrame]:
        """Draw ``n`` samples from the model; the last frame holds all ``n``."""
        raise NotImplementedError

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """``E(x)`` of the main EBM (for landscapes and evaluation)."""
        raise NotImplementedError

    # --- optional ----------------------------------------------------------
    def apply_update(self) -> None:
        """Take the optimiser steps prepared by :meth:`train_step`.

        The trainer calls this only when the step's loss and gradients are
        finite, so a diverging step never reaches the weights.
        """
        for opt in self.optimizers().values():
            opt.step()

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Chain state to checkpoint (persistent buffers …)."""
        return {}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore :meth:`state_tensors`."""

    def check_options(self) -> None:
        """Validate ``train.options`` and derive what depends on them; raise
        :class:`ConfigError` naming the knob. :meth:`configure` calls it."""

    def configure(self, cfg: RunConfig) -> None:
        """Take a changed config (knob edit) between iterations.

        A change of a :attr:`fixed_options` knob, or a value that
        :meth:`check_options` refuses, raises :class:`ConfigError` and leaves
        the method as it was.
        """
        for key in self.fixed_options:
            default = self.option_defaults[key]
            if cfg.train.options.get(key, default) != self.cfg.train.options.get(key, default):
                raise ConfigError(f"train.options.{key} cannot change during a run; start a new run")
        old, self.cfg = self.cfg, cfg
        try:
            self.check_options()
        except ConfigError:
            self.cfg = old
            self.check_options()  # re-derive from the config in force
            raise
        for opt in self.optimizers().values():
            for group in opt.param_groups:
                group["lr"] = self.group_lr(group)

    def group_lr(self, group: dict) -> float:
        """Learning rate of an optimiser parameter group under the current config.

        A group may carry ``lr_knob`` (a method knob holding its absolute rate),
        ``lr_scale_knob`` (a knob scaling ``train.lr``) or a fixed ``lr_scale``;
        otherwise it uses ``train.lr``.
        """
        if "lr_knob" in group:
            return float(self.option(group["lr_knob"]))
        if "lr_scale_knob" in group:
            return self.cfg.train.lr * float(self.option(group["lr_scale_knob"]))
        return self.cfg.train.lr * group.get("lr_scale", 1.0)


def contrastive_loss(e_data: torch.Tensor, e_synth: torch.Tensor, energy_l2: float) -> torch.Tensor:
    """``mean E(x) − mean E(x̃) + energy_l2 · mean(E(x)² + E(x̃)²)``.

    Its θ-gradient is minus the log-likelihood gradient
    ``E_data[∇θ f] − E_model[∇θ f]`` (DESIGN.md §1, ``x̃`` the Langevin
    samples), plus the penalty that keeps energies small.
    """
    loss = e_data.mean() - e_synth.mean()
    if energy_l2 > 0:
        loss = loss + energy_l2 * (e_data.pow(2).mean() + e_synth.pow(2).mean())
    return loss


def ml_backward(
    net: nn.Module,
    opt: torch.optim.Optimizer,
    e_data: torch.Tensor,
    e_synth: torch.Tensor,
    train: TrainConfig,
) -> dict[str, float]:
    """Gradients of :func:`contrastive_loss` into ``net`` (clipped to
    ``train.grad_clip``); the optimiser step is left to ``apply_update``.

    Returns the metrics every maximum-likelihood method reports: ``loss``,
    ``energy_data``, ``energy_sample`` and ``grad_norm``.
    """
    loss = contrastive_loss(e_data, e_synth, train.energy_l2)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if train.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(net.parameters(), train.grad_clip)
    return {
        "loss": float(loss.detach()),
        "energy_data": float(e_data.detach().mean()),
        "energy_sample": float(e_synth.detach().mean()),
        "grad_norm": grad_norm([net]),
    }


def grad_norm(modules: list[nn.Module]) -> float:
    """Euclidean norm of all parameter gradients."""
    total = 0.0
    for module in modules:
        for p in module.parameters():
            if p.grad is not None:
                total += float(p.grad.detach().pow(2).sum())
    return math.sqrt(total)


def to_numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach().float().cpu().numpy().copy()


_METHODS: dict[str, type[LearningMethod]] = {}


def register_method(name: str) -> Callable[[type[LearningMethod]], type[LearningMethod]]:
    """Class decorator registering a learning method under ``name``."""

    def deco(cls: type[LearningMethod]) -> type[LearningMethod]:
        cls.name = name
        _METHODS[name] = cls
        return cls

    return deco


def _load_all() -> None:
    import_submodules("ebm_engine.learning")


def available_methods() -> dict[str, type[LearningMethod]]:
    """All registered learning methods by name."""
    _load_all()
    return dict(_METHODS)


def method_class(name: str) -> type[LearningMethod]:
    methods = available_methods()
    if name not in methods:
        raise ConfigError(f"train.method must be one of {sorted(methods)}, got {name!r}")
    return methods[name]
