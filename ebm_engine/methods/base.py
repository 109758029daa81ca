"""What every learning method provides to the :class:`~ebm_engine.learning.trainer.Trainer`.

A method owns its networks, optimisers and chain state; the trainer owns
the loop, the data batches, the run directory, checkpoints and events. A new
method is a new file in this package with ``@register_method(name)``, an
``Options`` dataclass and :meth:`LearningMethod.build`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ebm_engine.config import RunConfig
from ebm_engine.data.dataset import Dataset
from ebm_engine.data.tokens import SymbolSpec
from ebm_engine.errors import ConfigError
from ebm_engine.methods._average import Averages
from ebm_engine.methods._memory import memory_culprit
from ebm_engine.options import KnobInfo, did_you_mean, knobs_of, parse_fields
from ebm_engine.plugins import import_submodules
from ebm_engine.sampling.buffer import PersistentBuffer
from ebm_engine.sampling.langevin import ChainFrame


@dataclass(frozen=True)
class DataSpec:
    """What a method needs to know of the data without loading it (saved in
    checkpoints, so a model samples without its training set).

    ``symbols`` is the vocabulary, checker and attribute of token data
    (text, molecules; ``None`` for arrays): plain JSON in ``state.json``.
    ``extent`` is the region trajectory views show (``xmin, xmax, ymin,
    ymax``; ``dataset.meta["extent"]``, :mod:`ebm_engine.data.scenes`).
    """

    kind: str
    item_shape: tuple[int, ...]
    value_range: tuple[float, float] | None
    symbols: SymbolSpec | None = None
    extent: tuple[float, float, float, float] | None = None

    @classmethod
    def of(cls, dataset: Dataset) -> DataSpec:
        extent = dataset.meta.get("extent")
        return cls(dataset.kind, dataset.item_shape, dataset.value_range,
                   dataset.meta.get("symbols"),
                   tuple(float(v) for v in extent) if extent is not None else None)

    def to_dict(self) -> dict:
        out = {"kind": self.kind, "item_shape": list(self.item_shape),
               "value_range": list(self.value_range) if self.value_range else None}
        if self.symbols is not None:
            out["symbols"] = self.symbols.to_dict()
        if self.extent is not None:
            out["extent"] = list(self.extent)
        return out

    @classmethod
    def from_dict(cls, raw: dict) -> DataSpec:
        vr = raw.get("value_range")
        symbols = raw.get("symbols")
        extent = raw.get("extent")
        return cls(str(raw["kind"]), tuple(int(s) for s in raw["item_shape"]),
                   (float(vr[0]), float(vr[1])) if vr else None,
                   SymbolSpec.from_dict(symbols) if symbols else None,
                   tuple(float(v) for v in extent) if extent else None)

    def display_extras(self) -> dict[str, np.ndarray]:
        """Arrays views need to show samples of this kind: for token data the
        vocabulary (``vocab``), ``joiner``, ``checker`` and the attribute's
        classes (``attribute_values``), so a view decodes ids to strings;
        for trajectories the region to show (``extent``)."""
        if self.extent is not None:
            return {"extent": np.asarray(self.extent, dtype=np.float32)}
        if self.symbols is None:
            return {}
        s = self.symbols
        return {"vocab": np.asarray(s.tokens, dtype=np.str_), "joiner": np.str_(s.joiner),
                "checker": np.str_(s.checker), "attribute": np.str_(s.attribute),
                "attribute_values": np.asarray(s.attribute_values, dtype=np.str_)}


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
    #: plots shown whole (not cut to the snapshot's samples): ``(K, 1 + L, P)``,
    #: row 0 the x values and rows 1… L lines, for K small plots (FRAME potentials)
    curves: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class NoOptions:
    """A method without knobs of its own."""


# Adam betas of generators and flows (CoopNets, latent EBM, divergence triangle, FCE).
GENERATOR_BETAS = (0.5, 0.999)


class LearningMethod:
    """Base class of learning methods.

    A method declares its knobs as a frozen ``Options`` dataclass of
    :func:`~ebm_engine.options.knob` fields (typed, bounded, documented,
    ``live`` or fixed during a run); the base class parses
    ``train.options`` through it into ``self.opts`` and then calls
    :meth:`build`. Code reads ``self.opts.name``.

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
    Options: type = NoOptions
    #: data kinds the method learns (token kinds need a sequence method)
    kinds: tuple[str, ...] = ("points", "image", "video", "voxel", "pointcloud")
    #: what to lower, besides ``train.lr``, when training diverges (the CLI and the
    #: app say it): the knob that sets this method's Langevin step
    step_advice = "sampler.step_size"
    #: ``model.options`` keys the method reads itself, besides its network's
    #: (a pyramid of networks it builds: ``leaky_slope``)
    model_options: tuple[str, ...] = ()
    #: what the main grid of a snapshot shows, in a few words, where the method's
    #: extras show something else beside it (the app labels the grid with it)
    samples_are = ""
    #: what each cell of the main grid holds where a cell is several pictures side by
    #: side (the app labels the grid with it, extras or not)
    cells_are = ""
    #: whether the EBM learns against Langevin chains of :attr:`sample_steps` steps (0
    #: steps then leaves its negatives at their starting noise: a run is warned)
    learns_from_chains = False

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
        self.opts = self.parse_options(cfg, spec)
        #: moving averages that sampling reads (``_average``); ``build`` may replace it
        self.averages = Averages({}, 0.0)
        #: optimiser steps taken before this run's optimisers started: a checkpoint
        #: shipped without optimiser state (a zoo entry) keeps its place in the rate
        #: schedules (:meth:`decay_rate`); the trainer saves and restores it
        self.schedule_offset = 0
        self.build()

    # --- options ---------------------------------------------------------------
    @classmethod
    def parse_options(cls, cfg: RunConfig, spec: DataSpec | None = None):
        """``cfg.train.options`` as this method's ``Options``; raise :class:`ConfigError`.

        ``spec`` (the data's shape) enables the checks that need it; without
        it (no data loaded yet) they wait for the run to start.
        """
        opts = parse_fields(cls.Options, cfg.train.options, "train.options")
        if spec is not None and spec.kind not in cls.kinds:
            able = sorted(n for n, m in available_methods().items() if spec.kind in m.kinds)
            raise ConfigError(f"method {cls.name!r} cannot learn {spec.kind} data; "
                              f"use --method {' or '.join(able) or '(none installed)'}")
        cls.check(opts, cfg, spec)
        return opts

    @classmethod
    def check(cls, opts, cfg: RunConfig, spec: DataSpec | None) -> None:
        """Checks that couple knobs with each other or with the data (override)."""

    @classmethod
    def knobs(cls) -> list[KnobInfo]:
        """This method's knobs (name, type, default, bounds, live, doc)."""
        return knobs_of(cls.Options)

    @classmethod
    def sampling_knobs(cls, opts) -> list[str]:
        """The knobs a trained model's sampling reads and may take new values of
        (``ebm sample --option``): declared ``sampling`` and ``live``, and read
        under the model's options ``opts`` (their ``when``)."""
        knobs = cls.knobs()
        values = {k.name: getattr(opts, k.name) for k in knobs}
        return [k.name for k in knobs
                if k.spec.sampling and k.spec.live and k.spec.applies(values)]

    @classmethod
    def summary(cls) -> str:
        """The first line of the method's docstring."""
        return (cls.__doc__ or cls.name).strip().splitlines()[0]

    # --- to implement ------------------------------------------------------
    def build(self) -> None:
        """Create networks, optimisers and chain state from ``self.cfg``/``self.opts``."""
        raise NotImplementedError

    def networks(self) -> dict[str, nn.Module]:
        """Networks saved in ``model.safetensors`` (``energy`` is the main EBM)."""
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def train_step(self, batch: torch.Tensor, record_every: int) -> StepResult:
        """One iteration on ``batch``; record chain frames every ``record_every`` steps.

        It prepares gradients and chain-state writes but changes nothing that
        lasts: :meth:`apply_update` commits them, :meth:`discard_update`
        drops them (a diverged or interrupted step).
        """
        raise NotImplementedError

    def sample(
        self, n: int, n_steps: int | None = None, record_every: int = 0, n_record: int = 8
    ) -> Iterator[ChainFrame]:
        """Draw ``n`` samples from the model; the last frame holds all ``n``."""
        raise NotImplementedError

    @property
    def sample_steps(self) -> int:
        """Langevin steps :meth:`sample` takes when ``n_steps`` is None (per grid or
        per level for methods that sample in stages)."""
        return self.cfg.sampler.n_steps

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """``E(x)`` of the main EBM (for landscapes and evaluation)."""
        raise NotImplementedError

    # --- optional ----------------------------------------------------------
    def batch_drawn(self, index: torch.Tensor) -> None:
        """The dataset rows of the batch the next :meth:`train_step` gets.

        Conditional methods look up per-item conditions here (trajectory
        scenes in ``dataset.meta``, :mod:`ebm_engine.data.scenes`); others
        ignore it.
        """

    def buffers(self) -> list[PersistentBuffer]:
        """Replay buffers whose writes :meth:`train_step` stages."""
        return []

    def apply_update(self) -> None:
        """Take the optimiser steps and buffer writes prepared by :meth:`train_step`.

        The trainer calls this only when the step's loss and gradients are
        finite, so a diverging step never reaches the weights or the chains.
        """
        for opt in self.optimizers().values():
            opt.step()
        for buffer in self.buffers():
            buffer.commit()
        self.averages.update()

    def snapshot_result(self, result: StepResult, n: int) -> StepResult:
        """What the live view shows of a step the trainer snapshots (``n`` samples;
        after :meth:`apply_update`). The default is the step's own samples; a method
        whose sampler does more than training's draws (FCE's resampling) shows that.
        Must not draw from ``self.rng``: snapshots would change the training run."""
        return result

    def discard_update(self) -> None:
        """Forget what :meth:`train_step` prepared (diverged or interrupted step)."""
        for opt in self.optimizers().values():
            opt.zero_grad(set_to_none=True)
        for buffer in self.buffers():
            buffer.discard()

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Chain state to checkpoint (persistent buffers …)."""
        return {}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore :meth:`state_tensors`."""

    def configure(self, cfg: RunConfig) -> None:
        """Take an edited config between iterations.

        The session accepted the edit (it validated it once, against the
        knobs' bounds, ``live`` flags and :meth:`check`), so nothing is
        checked again here: the options are rebuilt, learning rates follow,
        and :meth:`reconfigured` updates what derives from them.
        """
        self.cfg = cfg
        self.opts = self.Options(**cfg.train.options)
        for opt in self.optimizers().values():
            for group in opt.param_groups:
                group["lr"] = self.group_lr(group)
        self.reconfigured()

    def reconfigured(self) -> None:
        """Update state derived from ``self.opts`` after :meth:`configure` (override)."""

    def memory_culprit(self, objects: list[object]) -> tuple[str | None, list[str]]:
        """``(network, knobs)`` the out-of-memory line names when a call whose frames
        hold ``objects`` ran out: the running network and the knobs that size it
        (``key=value``), or ``None`` and the size knobs set above their defaults
        (:mod:`._memory`)."""
        return memory_culprit(self, objects)

    # --- shared helpers ------------------------------------------------------
    def adam(self, params, lr_knob: str | None = None,
             betas: tuple[float, float] | None = None,
             lr_scale_knob: str | None = None) -> torch.optim.Adam:
        """Adam at ``train.lr`` (or the knob ``lr_knob``, or ``train.lr`` times the
        knob ``lr_scale_knob``), ``train.beta1/beta2`` (or ``betas``) and
        ``train.weight_decay``; edits of these knobs take effect."""
        t = self.cfg.train
        group = {"params": list(params)}
        if lr_knob is not None:
            group["lr_knob"] = lr_knob
        if lr_scale_knob is not None:
            group["lr_scale_knob"] = lr_scale_knob
        opt = torch.optim.Adam([group], lr=t.lr, betas=betas or (t.beta1, t.beta2),
                               weight_decay=t.weight_decay)
        for g in opt.param_groups:
            g["lr"] = self.group_lr(g)
        return opt

    def backward(self, loss: torch.Tensor, opt: torch.optim.Optimizer,
                 nets: list[nn.Module], clip: bool = True) -> float:
        """Zero ``opt``, back-propagate ``loss``, clip ``nets`` to ``train.grad_clip``;
        return their gradient norm (before clipping). The step is :meth:`apply_update`'s."""
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = grad_norm(nets)
        if clip and self.cfg.train.grad_clip > 0:
            for net in nets:
                torch.nn.utils.clip_grad_norm_(net.parameters(), self.cfg.train.grad_clip)
        return norm

    def ml_backward(self, net: nn.Module, opt: torch.optim.Optimizer,
                    e_data: torch.Tensor, e_synth: torch.Tensor) -> dict[str, float]:
        """Gradients of :func:`contrastive_loss` into ``net``.

        Returns the metrics every maximum-likelihood method reports: ``loss``,
        ``energy_data``, ``energy_sample`` and ``grad_norm``.
        """
        loss = contrastive_loss(e_data, e_synth, self.cfg.train.energy_l2)
        norm = self.backward(loss, opt, [net])
        return {
            "loss": float(loss.detach()),
            "energy_data": float(e_data.detach().mean()),
            "energy_sample": float(e_synth.detach().mean()),
            "grad_norm": norm,
        }

    def dequantised(self, batch: torch.Tensor, noise: float) -> torch.Tensor:
        """``batch`` with fresh Gaussian jitter of std ``noise`` (the batch itself at 0).

        The data term of an EBM sees a slightly blurred data density: binary data
        (voxels) gets a density at a finite energy scale, and on digits the chains
        stop finding checkerboard textures the net rates above the data.
        """
        if noise <= 0:
            return batch
        x = batch + noise * torch.randn(batch.shape, device=batch.device, generator=self.rng)
        if self.cfg.sampler.clamp and self.spec.value_range is not None:
            # The chains live in the same box; reflect (not clamp) to keep a density.
            lo, hi = self.spec.value_range
            x = (hi - (hi - (lo + (x - lo).abs())).abs()).clamp(lo, hi)
        return x

    def decay_rate(self, opt: torch.optim.Optimizer, end: float) -> None:
        """Cosine decay of ``opt``'s rates to ``end`` × their start at ``train.iterations``
        (``end >= 1``: constant).

        The position comes from the optimiser's own step count, which checkpoints
        restore, plus :attr:`schedule_offset`, so a resumed run continues the same
        schedule, also from a checkpoint without optimiser state.
        """
        if end >= 1.0:
            return
        first = opt.param_groups[0]["params"][0]
        steps = float(opt.state.get(first, {}).get("step", 0)) + self.schedule_offset
        done = min(steps / max(self.cfg.train.iterations, 1), 1.0)
        share = end + (1 - end) * 0.5 * (1 + math.cos(math.pi * done))
        for group in opt.param_groups:
            group["lr"] = self.group_lr(group) * share

    def group_lr(self, group: dict) -> float:
        """Learning rate of an optimiser parameter group under the current config.

        A group may carry ``lr_knob`` (a method knob holding its absolute rate),
        ``lr_scale_knob`` (a knob scaling ``train.lr``) or a fixed ``lr_scale``;
        otherwise it uses ``train.lr``.
        """
        if "lr_knob" in group:
            return float(getattr(self.opts, group["lr_knob"]))
        if "lr_scale_knob" in group:
            return self.cfg.train.lr * float(getattr(self.opts, group["lr_scale_knob"]))
        return self.cfg.train.lr * group.get("lr_scale", 1.0)


def contrastive_loss(e_data: torch.Tensor, e_synth: torch.Tensor, energy_l2: float) -> torch.Tensor:
    """``mean E(x) − mean E(x̃) + energy_l2 · mean(E(x)² + E(x̃)²)``.

    Its θ-gradient is minus the log-likelihood gradient
    ``E_data[∇θ f] − E_model[∇θ f]`` (docs/conventions.md; ``x̃`` the
    Langevin samples), plus the penalty that keeps energies small.
    """
    loss = e_data.mean() - e_synth.mean()
    if energy_l2 > 0:
        loss = loss + energy_l2 * (e_data.pow(2).mean() + e_synth.pow(2).mean())
    return loss


def grad_norm(modules: list[nn.Module]) -> float:
    """Euclidean norm of all parameter gradients."""
    total = 0.0
    for module in modules:
        for p in module.parameters():
            if p.grad is not None:
                total += float(p.grad.detach().pow(2).sum())
    return math.sqrt(total)


def to_numpy(x: torch.Tensor) -> np.ndarray:
    """A CPU copy; floating point as float32, integers (token ids) and booleans as they are."""
    x = x.detach()
    if x.is_floating_point():
        x = x.float()
    return x.cpu().numpy().copy()


_METHODS: dict[str, type[LearningMethod]] = {}


def register_method(name: str) -> Callable[[type[LearningMethod]], type[LearningMethod]]:
    """Class decorator registering a learning method under ``name``."""

    def deco(cls: type[LearningMethod]) -> type[LearningMethod]:
        cls.name = name
        _METHODS[name] = cls
        return cls

    return deco


def _load_all() -> None:
    import_submodules("ebm_engine.methods")


def available_methods() -> dict[str, type[LearningMethod]]:
    """All registered learning methods by name."""
    _load_all()
    return dict(_METHODS)


def method_class(name: str) -> type[LearningMethod]:
    methods = available_methods()
    if name not in methods:
        raise ConfigError(f"train.method must be one of {sorted(methods)}, got {name!r}"
                          + did_you_mean(name, methods))
    return methods[name]

