"""Configuration dataclasses for data, model, sampler and training.

One :class:`RunConfig` rebuilds a run: it is written to ``RUN/config.json``
and read back with :func:`RunConfig.from_dict`, which refuses unknown keys,
wrong types, non-finite numbers and out-of-range values, naming the bad field
(``sampler.step_size must be > 0, got -1``); the maths behind the sampler fields
is stated in docs/conventions.md. Every field is a knob
(:func:`ebm_engine.options.knob`): its bounds, and whether it may change
while a run is going (``live``), are declared once, here. Knobs of one
learning method live in ``train.options`` and are declared by that method's
``Options`` dataclass (:mod:`ebm_engine.methods`); ``model.options`` and
``data.options`` are validated by the network and the reader.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ebm_engine.errors import ConfigError, DataError
from ebm_engine.options import MAX_LAYERS, did_you_mean, knob, knob_spec, parse_fields
from ebm_engine.precision import PRECISIONS

CONFIG_VERSION = 1

CHAIN_INITS = ("noise", "persistent", "data", "generator")
DEVICES = ("auto", "cpu", "cuda", "mps")
# torch.manual_seed accepts seeds in [0, 2**64); one bound for every platform.
MAX_SEED = 2**63 - 1


@dataclass
class DataConfig:
    """Which data to learn from (fixed once a run started).

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
        Extra, data-kind specific settings (``reader`` to force a reader,
        ``frames`` for video …).
    """

    source: str = knob("8gaussians", live=False)
    image_size: int = knob(0, ge=0, live=False, unit="pixels")
    grayscale: bool = knob(False, live=False)
    crop: bool = knob(True, live=False)
    max_items: int = knob(0, ge=0, live=False)
    options: dict[str, Any] = knob({}, live=False)

    def validate(self) -> None:
        _check(bool(self.source), "data.source must name a demo or a path")


@dataclass
class ModelConfig:
    """The energy network (fixed once a run started).

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

    name: str = knob("mlp", live=False)
    width: int = knob(128, gt=0, live=False, unit="units or channels")
    depth: int = knob(3, gt=0, le=MAX_LAYERS, live=False)
    spectral_norm: bool = knob(False, live=False)
    options: dict[str, Any] = knob({}, live=False)

    def validate(self) -> None:
        from ebm_engine.models.registry import available_models

        models = available_models()
        _check(self.name in models, f"model.name must be one of {sorted(models)}, got "
                                    f"{self.name!r}{did_you_mean(self.name, models)}")


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

    n_steps: int = knob(30, ge=0, unit="steps")
    step_size: float = knob(0.05, gt=0, unit="δ, in data units")
    noise_scale: float = knob(1.0, ge=0)
    grad_scale: float = knob(1.0, ge=0)
    reference_sigma: float = knob(math.inf, gt=0, allow_inf=True,
                                  unit="in data units; 'inf' for no reference term")
    clamp: bool = knob(False)
    init: str = knob("noise", choices=CHAIN_INITS, live=False)
    init_noise: str = knob("gaussian", choices=("gaussian", "uniform"))
    init_scale: float = knob(1.0, gt=0, unit="in data units")
    buffer_size: int = knob(10000, gt=0, live=False, unit="chains")
    reinit_prob: float = knob(0.05, ge=0, le=1)

    def validate(self) -> None:
        """Bounds are checked by the knobs; nothing couples these fields."""


@dataclass
class TrainConfig:
    """The learning loop.

    Attributes
    ----------
    method : str
        Learning method (``ml`` = maximum likelihood; ``ebm methods`` lists all).
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
    precision : str
        ``fp32``, ``bf16`` (network passes in bfloat16; chains, weights and
        optimiser stay fp32) or ``auto`` (bf16 where the hardware runs it
        natively: AVX-512 BF16/AMX CPUs, bf16 GPUs).
    sample_every : int
        Emit a sample snapshot every this many iterations.
    record_every : int
        Record a chain frame every this many Langevin steps in snapshots (0 = off).
    checkpoint_every : int
        Write a checkpoint every this many iterations (0 = only by time and at the end).
    checkpoint_minutes : float
        Also write one when this many minutes passed since the last (0 = off),
        so a slow model loses little to a crash.
    keep_checkpoints : int
        Keep the newest this many checkpoints (older ones are deleted; the states
        saved just before the last three live edits are kept besides, for Go back) …
    milestone_every : int
        … except those at multiples of this many iterations (0 = none).
    snapshot_size : int
        Samples in a snapshot (at most 64).
    options : dict
        Method-specific knobs (``ebm methods`` lists them).
    """

    method: str = knob("ml", live=False)
    iterations: int = knob(1000, ge=0, unit="iterations")
    batch_size: int = knob(64, gt=0)
    lr: float = knob(1e-3, gt=0, unit="per optimiser step")
    beta1: float = knob(0.5, ge=0, lt=1)
    beta2: float = knob(0.999, ge=0, lt=1)
    weight_decay: float = knob(0.0, ge=0)
    energy_l2: float = knob(0.0, ge=0)
    grad_clip: float = knob(0.0, ge=0)
    seed: int = knob(0, ge=0, le=MAX_SEED, live=False)
    device: str = knob("auto", choices=DEVICES, live=False)
    precision: str = knob("fp32", choices=PRECISIONS)
    sample_every: int = knob(10, gt=0, unit="iterations")
    record_every: int = knob(0, ge=0, unit="Langevin steps")
    checkpoint_every: int = knob(200, ge=0, unit="iterations")
    checkpoint_minutes: float = knob(5.0, ge=0, unit="minutes")
    keep_checkpoints: int = knob(3, ge=1)
    milestone_every: int = knob(1000, ge=0, unit="iterations")
    snapshot_size: int = knob(64, ge=1, le=64)
    options: dict[str, Any] = knob({})

    def validate(self) -> None:
        """Bounds are checked by the knobs; ``options`` by the method (RunConfig.validate)."""


SECTIONS: dict[str, type] = {"data": DataConfig, "model": ModelConfig,
                             "sampler": SamplerConfig, "train": TrainConfig}


@dataclass
class RunConfig:
    """Everything needed to rebuild a run; written to ``RUN/config.json``."""

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    sampler: SamplerConfig = dataclasses.field(default_factory=SamplerConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    version: int = CONFIG_VERSION

    def validate(self) -> RunConfig:
        """Check every section and the method's options; raise :class:`ConfigError`."""
        _check(
            self.version == CONFIG_VERSION,
            f"config version {self.version} is not supported (expected {CONFIG_VERSION})",
        )
        from ebm_engine.options import check_knobs

        for name, section in (("data", self.data), ("model", self.model),
                              ("sampler", self.sampler), ("train", self.train)):
            check_knobs(section, name)
            section.validate()
        from ebm_engine.methods import method_class

        method_class(self.train.method).parse_options(self)
        return self

    # --- JSON round trip -------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (``inf`` is written as the string ``"inf"``)."""
        return _encode(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, raw: Any) -> RunConfig:
        """Build and validate a config; unknown keys and wrong types are refused."""
        return parse_fields(cls, raw, "").validate()

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    @classmethod
    def from_json(cls, text: str, prepare: Callable[[Any], Any] | None = None) -> RunConfig:
        """Parse ``text``; ``prepare`` may amend the parsed JSON first (a saved run's
        config drops the options its method no longer has)."""
        try:
            raw = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            msg = f"{exc.msg} (line {exc.lineno})" if isinstance(exc, json.JSONDecodeError) \
                else "nested too deeply"
            raise ConfigError(f"config is not valid JSON: {msg}") from None
        return cls.from_dict(raw if prepare is None else prepare(raw))

    @classmethod
    def load(cls, path: str | Path, prepare: Callable[[Any], Any] | None = None) -> RunConfig:
        """Read the config file ``path`` (``prepare`` as in :meth:`from_json`)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from None
        try:
            return cls.from_json(text, prepare)
        except ConfigError as exc:  # which file: a run's, a --config, a preset
            raise ConfigError(f"{path}: {exc}") from None

    def copy(self) -> RunConfig:
        return RunConfig.from_dict(self.to_dict())

    # --- dotted edits (CLI --set, app knobs) -----------------------------
    def with_value(self, key: str, value: Any) -> RunConfig:
        """Return a validated copy with ``key`` (``sampler.step_size``) set to ``value``.

        ``value`` may be a string as typed on a command line; it is parsed as
        JSON when it is not already of the field's type. Keys inside an
        ``options`` dict (``data.options.reader``) may be new. Another
        ``train.method`` keeps only the options that method knows (a preset's
        ML ``data_noise`` means nothing to patchwise), less the defaults a run wrote
        out (the new method's defaults apply there); another ``train.method`` or
        ``model.name`` keeps only the ``model.options`` the run reads. A
        ``data.options`` or ``model.options`` key must be one the data, network
        or method reads.
        """
        raw = _set_path(self.to_dict(), key, value)
        if key == "train.method" and raw["train"]["method"] != self.train.method:
            from ebm_engine.methods import method_class

            known = {k.name for k in method_class(str(raw["train"]["method"])).knobs()}
            recorded = _recorded_defaults(self)  # the old method's: no one chose them
            raw["train"]["options"] = {k: v for k, v in raw["train"]["options"].items()
                                       if k in known and k not in recorded}
        cfg = RunConfig.from_dict(raw)
        if key in ("train.method", "model.name") and cfg.model.options:
            from ebm_engine.methods.model_keys import known_model_options

            keep = known_model_options(cfg)
            cfg = cfg.replace_value("model.options", {k: v for k, v in cfg.model.options.items()
                                                      if k in keep})
        if key.startswith("model.options."):
            from ebm_engine.methods.model_keys import check_model_options

            check_model_options(cfg)
        if key.startswith("data.options."):
            from ebm_engine.data.option_keys import check_options

            try:
                check_options(cfg.data)
            except DataError as exc:  # a refused edit, like any other key's
                raise ConfigError(str(exc)) from None
        return cfg

    def with_values(self, pairs: list[tuple[str, Any]]) -> RunConfig:
        """:meth:`with_value` for each ``(key, value)``, in an order that works: two
        values checked against each other (``sigma_min`` below ``sigma_max``) are
        taken in either order on a command line; the first refusal that no order
        avoids is raised."""
        last = {key: value for key, value in pairs}  # a key given twice: the last one
        cfg, waiting = self, list(last.items())
        while waiting:
            refused: list[tuple[tuple[str, Any], ConfigError]] = []
            for key, value in waiting:
                try:
                    cfg = cfg.with_value(key, value)
                except ConfigError as exc:
                    refused.append(((key, value), exc))
            if not refused:
                return cfg
            if len(refused) == len(waiting):  # no progress: a value no order makes valid
                raise refused[0][1]
            waiting = [pair for pair, _ in refused]
        return cfg

    def replace_value(self, key: str, value: Any) -> RunConfig:
        """A copy with ``key`` set to an already validated ``value`` (no checks).

        For the session, which validated the edit when it accepted it.
        """
        raw = _set_path(dataclasses.asdict(self), key, value)
        return RunConfig(**{name: cls(**raw[name]) for name, cls in SECTIONS.items()},
                         version=self.version)

    def get_value(self, key: str) -> Any:
        node: Any = self
        for part in key.split("."):
            node = node[part] if isinstance(node, dict) else getattr(node, part)
        return node


def field_of(key: str) -> dataclasses.Field | None:
    """The dataclass field behind a dotted key (``sampler.step_size``), or ``None``
    for keys inside an ``options`` dict (those belong to a method, network or reader)."""
    parts = key.split(".")
    if len(parts) != 2 or parts[0] not in SECTIONS:
        return None
    fields = {f.name: f for f in dataclasses.fields(SECTIONS[parts[0]])}
    return fields.get(parts[1])


def is_live(key: str) -> bool:
    """May ``key`` (a section field) change during a run? Options keys: see the method."""
    f = field_of(key)
    if f is None:
        parts = key.split(".")
        return not (len(parts) >= 3 and parts[0] in ("data", "model"))
    return knob_spec(f).live


def all_keys() -> list[str]:
    """Every dotted section key (for suggestions)."""
    return [f"{s}.{f.name}" for s, cls in SECTIONS.items() for f in dataclasses.fields(cls)]


def _suggest_key(key: str) -> str:
    return did_you_mean(key, all_keys())


def _recorded_defaults(cfg: RunConfig) -> set[str]:
    """The ``train.options`` of a run's config that hold its method's defaults.

    A run writes out every knob of its method (:mod:`ebm_engine.learning.resolved`);
    those at their default were no one's choice, so another method takes its own
    defaults for them. A config that does not hold every knob (a preset's, a
    user's) was written by hand: each value in it is kept. A value set to the old
    method's default just before the switch reads as recorded too: set it after.
    """
    from ebm_engine.methods import method_class

    try:
        knobs = method_class(cfg.train.method).knobs()
    except ConfigError:
        return set()
    given = cfg.train.options
    if any(k.name not in given for k in knobs):
        return set()
    return {k.name for k in knobs if _encode(given[k.name]) == _encode(k.default)}


def _set_path(raw: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """Set dotted ``key`` in the nested dict ``raw`` (new keys only inside ``options``)."""
    parts = key.split(".")
    node: Any = raw
    for part in parts[:-1]:
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"unknown config key {key!r}" + _suggest_key(key))
        node = node[part]
    last = parts[-1]
    in_options = len(parts) >= 3 and parts[-2] == "options"
    if not isinstance(node, dict) or (last not in node and not in_options):
        raise ConfigError(f"unknown config key {key!r}" + _suggest_key(key))
    node[last] = _parse_cli_value(value)
    return raw


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _parse_cli_value(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except (ValueError, RecursionError):  # also ints of > 4300 digits
        return value


def _encode(obj: Any) -> Any:
    if isinstance(obj, float) and math.isinf(obj):
        return "inf" if obj > 0 else "-inf"
    if isinstance(obj, dict):
        return {k: _encode(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_encode(v) for v in obj]
    return obj
