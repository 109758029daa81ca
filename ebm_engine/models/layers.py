"""Small helpers shared by the energy networks."""

from __future__ import annotations

from typing import Any

from torch import nn


def maybe_sn(layer: nn.Module, spectral_norm: bool) -> nn.Module:
    """Wrap ``layer`` in spectral normalisation when asked (keeps Lipschitz ≈ 1)."""
    return nn.utils.parametrizations.spectral_norm(layer) if spectral_norm else layer


def option(options: dict[str, Any], key: str, default: Any, kind: type) -> Any:
    """Read ``options[key]`` with a type check that names the field."""
    from ebm_engine.errors import ConfigError

    value = options.get(key, default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"model.options.{key} must be {kind.__name__}, got {value!r}")
    return value
