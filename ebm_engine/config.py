"""Configuration dataclasses for data, model, sampler and training.

One :class:`RunConfig` rebuilds a run: it is written to ``RUN/config.json``
and read back with :func:`RunConfig.from_dict`, which refuses unknown keys
and wrong types and names the bad field (``sampler.step_size must be > 0,
got -1``). Knobs that only one model or learning method uses live in the
free-form ``options`` dicts, validated by that model or method.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ebm_engine.errors import ConfigError

CONFIG_VERSION = 1

CHAIN_INITS = ("noise", "persistent", "data", "generator")
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass
class DataConfig:
    """Which data to learn from.

    Attributes
    ----------
    source : str
        A built-in demo name (``ebm demos``) or a path to a folder or file.
    image_size : int
        Side length images are resized to (0 keeps the file's size).
    grayscale : bool
        Convert images to one channel.
    crop : bool
        Centre-crop to a square before resizing (otherwise the image is squashed).
    max_items : int
        Use at most this many training items (0 = all).
    options : dict
        Extra, data-kind specific settings (e.g. ``frames`` for video).
    """

    source: str = "8gaussians"
    image_size: int = 0
    grayscale: bool = False
    crop: bool = True
    max_items: int = 0
    options: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        _check(bool(self.source), "data.source must name a demo or a path")
        _check(self.image_size >= 0, f"data.image_size must be >= 0, got {self.image_size}")
        _check(self.max_items >= 0, f"data.max_items must be >= 0, got {self.max_items}")


@dataclass
class ModelConfig:
    """The energy network.

    Attributes
    ----------
    name : str
        Registry name of the network (``mlp``, ``convnet`` …).
    width : int
        Hidden units (MLP) or base channel count (conv nets).
    depth : int
        Number of hidden layers / conv blocks.
    spectral_norm : bool
        Wrap weight layers in spectral normalisation.
    options : dict
        Network-specific extras.
    """

    name: str = "mlp"
    width: int = 128
    depth: int = 3
    spectral_norm: bool = False
    options: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        _check(self.width > 0, f"model.width must be > 0, got {self.width}")
        _check(self.depth > 0, f"model.depth must be > 0, got {self.depth}")


@dataclass
class SamplerConfig:
    """Langevin dynamics, ``x ← x − grad_scale·(δ²/2)∇E(x) + noise_scale·δ·ε``.

    Attributes
    ----------
    n_steps : int
        Langevin steps per sampling (short-run MCMC uses 10–100).
    step_size : float
        δ in the update above.
    noise_scale : float
        1 is exact Langevin, 0 gradient descent on the energy.
    grad_scale : float
        Multiplies the gradient term; many papers drop the δ²/2 (use 2/δ²).
    reference_sigma : float
        σ of the Gaussian reference q(x) = N(0, σ²I); ``inf`` for none.
    clamp : bool
        Clamp x to the data range after each step.
    init : str
        Chain start: ``noise``, ``persistent``, ``data`` or ``generator``.
    init_noise : str
        Distribution of noise starts: ``gaussian`` (std ``init_scale``) or
        ``uniform`` (in ``[-init_scale, init_scale]``).
    init_scale : float
        Spread of noise starts.
    buffer_size : int
        Persistent replay-buffer capacity.
    reinit_prob : float
        Probability a persistent chain is restarted from noise.
    """

    n_steps: int = 30
    step_size: float = 0.05
    noise_scale: float = 1.0
    grad_scale: float = 1.0
    reference_sigma: float = math.inf
    clamp: bool = False
    init: str = "noise"
    init_noise: str = "gaussian"
    init_scale: float = 1.0
    buffer_size: int = 10000
    reinit_prob: float = 0.05

    def validate(self) -> None:
        _check(self.n_steps >= 0, f"sampler.n_steps must be >= 0, got {self.n_steps}")
        _check(self.step_size > 0, f"sampler.step_size must be > 0, got {self.step_size}")
        _check(self.noise_scale >= 0, f"sampler.noise_scale must be >= 0, got {self.noise_scale}")
        _check(self.grad_scale >= 0, f"sampler.grad_scale must be >= 0, got {self.grad_scale}")
        _check(
            self.reference_sigma > 0,
            f"sampler.reference_sigma must be > 0 (inf for none), got {self.reference_sigma}",
        )
        _check(self.init in CHAIN_INITS, f"sampler.init must be one of {CHAIN_INITS}, got {self.init!r}")
        _check(
            self.init_noise in ("gaussian", "uniform"),
            f"sampler.init_noise must be 'gaussian' or 'uniform', got {self.init_noise!r}",
        )
        _check(self.init_scale > 0, f"sampler.init_scale must be > 0, got {self.init_scale}")
        _check(self.buffer_size > 0, f"sampler.buffer_size must be > 0, got {self.buffer_size}")
        _check(
            0.0 <= self.reinit_prob <= 1.0,
            f"sampler.reinit_prob must be in [0, 1], got {self.reinit_prob}",
        )


@dataclass
class TrainConfig:
    """The learning loop.

    Attributes
    ----------
    method : str
        Learning method (``ml`` = maximum likelihood; others by name).
    iterations : int
        Training iterations (``ebm train --steps`` overrides).
    batch_size : int
        Data items and chains per iteration.
    lr : float
        Adam learning rate of the energy network.
    beta1, beta2 : float
        Adam betas (EBMs like a small beta1).
    weight_decay : float
        L2 on weights.
    energy_l2 : float
        Penalty ``energy_l2 · mean(E(x_data)² + E(x_synth)²)`` that keeps energies small.
    grad_clip : float
        Clip the parameter gradient norm (0 = off).
    seed : int
        Seed of every random draw (exact reproduction on CPU).
    device : str
        ``auto``, ``cpu``, ``cuda`` or ``mps``.
    sample_every : int
        Emit a sample snapshot every this many iterations.
    record_every : int
        Record a chain frame every this many Langevin steps in snapshots (0 = off).
    checkpoint_every : int
        Write a checkpoint every this many iterations (0 = only at the end).
    snapshot_size : int
        Samples in a snapshot (at most 64).
    options : dict
        Method-specific knobs.
    """

    method: str = "ml"
    iterations: int = 1000
    batch_size: int = 64
    lr: float = 1e-3
    beta1: float = 0.5
    beta2: float = 0.999
    weight_decay: float = 0.0
    energy_l2: float = 0.0
    grad_clip: float = 0.0
    seed: int = 0
    device: str = "auto"
    sample_every: int = 10
    record_every: int = 0
    checkpoint_every: int = 200
    snapshot_size: int = 64
    options: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        _check(self.iterations >= 0, f"train.iterations must be >= 0, got {self.iterations}")
        _check(self.batch_size > 0, f"train.batch_size must be > 0, got {self.batch_size}")
        _check(self.lr > 0, f"train.lr must be > 0, got {self.lr}")
        _check(0 <= self.beta1 < 1, f"train.beta1 must be in [0, 1), got {self.beta1}")
        _check(0 <= self.beta2 < 1, f"train.beta2 must be in [0, 1), got {self.beta2}")
        _check(self.weight_decay >= 0, f"train.weight_decay must be >= 0, got {self.weight_decay}")
        _check(self.energy_l2 >= 0, f"train.energy_l2 must be >= 0, got {self.energy_l2}")
        _check(self.grad_clip >= 0, f"train.grad_clip must be >= 0, got {self.grad_clip}")
        _check(self.device in DEVICES, f"train.device must be one of {DEVICES}, got {self.device!r}")
        _check(self.sample_every > 0, f"train.sample_every must be > 0, got {self.sample_every}")
        _check(self.record_every >= 0, f"train.record_every must be >= 0, got {self.record_every}")
        _check(
            self.checkpoint_every >= 0,
            f"train.checkpoint_every must be >= 0, got {self.checkpoint_every}",
        )
        _check(
            0 < self.snapshot_size <= 64,
            f"train.snapshot_size must be in 1..64, got {self.snapshot_size}",
        )


@dataclass
class RunConfig:
    """Everything needed to rebuild a run; written to ``RUN/config.json``."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    version: int = CONFIG_VERSION

    def validate(self) -> RunConfig:
        """Check every section; raise :class:`ConfigError` naming the bad field."""
        _check(
            self.version == CONFIG_VERSION,
            f"config version {self.version} is not supported (expected {CONFIG_VERSION})",
        )
        for section in (self.data, self.model, self.sampler, self.train):
            section.validate()
        return self

    # --- JSON round trip -------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (``inf`` is written as the string ``"inf"``)."""
        return _encode(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, raw: Any) -> RunConfig:
        """Build and validate a config; unknown keys and wrong types are refused."""
        return _build(cls, raw, "").validate()

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"config is not valid JSON: {exc.msg} (line {exc.lineno})") from None
        return cls.from_dict(raw)

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from None
        return cls.from_json(text)

    def copy(self) -> RunConfig:
        return RunConfig.from_dict(self.to_dict())

    # --- dotted edits (CLI --set, app knobs) -----------------------------
    def with_value(self, key: str, value: Any) -> RunConfig:
        """Return a copy with ``key`` (``sampler.step_size``) set to ``value``.

        ``value`` may be a string as typed on a command line; it is parsed as
        JSON when it is not already of the field's type.
        """
        raw = self.to_dict()
        parts = key.split(".")
        node: Any = raw
        for part in parts[:-1]:
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(f"unknown config key {key!r}")
            node = node[part]
        last = parts[-1]
        in_options = len(parts) >= 3 and parts[-2] == "options"
        if not isinstance(node, dict) or (last not in node and not in_options):
            raise ConfigError(f"unknown config key {key!r}")
        node[last] = _parse_cli_value(value)
        return RunConfig.from_dict(raw)

    def get_value(self, key: str) -> Any:
        node: Any = self
        for part in key.split("."):
            node = node[part] if isinstance(node, dict) else getattr(node, part)
        return node


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _parse_cli_value(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def _encode(obj: Any) -> Any:
    if isinstance(obj, float) and math.isinf(obj):
        return "inf" if obj > 0 else "-inf"
    if isinstance(obj, dict):
        return {k: _encode(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_encode(v) for v in obj]
    return obj


def _build(cls: type, raw: Any, prefix: str) -> Any:
    name = prefix.rstrip(".") or "config"
    if not isinstance(raw, dict):
        raise ConfigError(f"{name} must be an object, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"unknown config key {prefix + unknown[0]!r}")
    kwargs = {}
    for key, value in raw.items():
        kwargs[key] = _coerce(hints[key], value, f"{prefix}{key}")
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, name: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, name + ".")
    origin = typing.get_origin(hint)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{name} must be an object, got {type(value).__name__}")
        return dict(value)
    if origin in (typing.Union, types.UnionType):
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{name} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str) and value.strip().lower() in ("inf", "+inf", "infinity"):
            return math.inf
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name} must be a number, got {value!r}")
        if math.isnan(value):
            raise ConfigError(f"{name} must be a number, got NaN")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be a string, got {value!r}")
        return value
    return value
