"""Name → energy-network constructor, filled by the modules of this package.

Every network maps a batch ``x`` of shape ``(B, *data_shape)`` to ``f_θ(x)`` of
shape ``(B,)``; the energy is ``E_θ(x) = -f_θ(x) + |x|²/(2σ²)`` (see
:mod:`ebm_engine.sampling.energy`). Modules in this package are imported on
first use, so a new network only needs a new file with ``@register``.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ebm_engine.config import ModelConfig
from ebm_engine.errors import ConfigError
from ebm_engine.plugins import import_submodules

Builder = Callable[[ModelConfig, tuple[int, ...]], nn.Module]
_BUILDERS: dict[str, Builder] = {}
_OPTIONS: dict[str, tuple[str, ...]] = {}
_READS: dict[str, tuple[str, ...]] = {}
#: The sizing knobs of ``model`` (besides its name and options).
SIZING = ("width", "depth", "spectral_norm")


def register(name: str, options: tuple[str, ...] = (),
             reads: tuple[str, ...] = SIZING) -> Callable[[Builder], Builder]:
    """Decorator: register ``builder(cfg, data_shape) -> nn.Module`` as ``name``,
    a network that reads the ``model.options`` keys ``options`` and the ``SIZING``
    knobs ``reads`` (the app hides the others)."""

    def deco(builder: Builder) -> Builder:
        _BUILDERS[name] = builder
        _OPTIONS[name] = tuple(options)
        _READS[name] = tuple(reads)
        return builder

    return deco


def model_reads(name: str) -> tuple[str, ...]:
    """The ``SIZING`` knobs network ``name`` reads (all of them for an unknown name)."""
    _load_all()
    return _READS.get(name, SIZING)


def model_options(name: str) -> tuple[str, ...]:
    """The ``model.options`` keys network ``name`` reads (``()`` for an unknown name)."""
    _load_all()
    return _OPTIONS.get(name, ())


def _load_all() -> None:
    import_submodules("ebm_engine.models")


def available_models() -> list[str]:
    """Names of all registered networks."""
    _load_all()
    return sorted(_BUILDERS)


def build_model(cfg: ModelConfig, data_shape: tuple[int, ...]) -> nn.Module:
    """Build the network ``cfg.name`` for items of shape ``data_shape``."""
    _load_all()
    if cfg.name not in _BUILDERS:
        raise ConfigError(f"model.name must be one of {available_models()}, got {cfg.name!r}")
    return _BUILDERS[cfg.name](cfg, tuple(data_shape))
