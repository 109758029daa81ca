"""Small helpers shared by the energy networks."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

from torch import nn

# (the options dict being watched, what option() resolved from it): set while a run
# builds its networks, so the run can write out the defaults it took
_WATCHED: contextvars.ContextVar[tuple[dict[str, Any], dict[str, Any]] | None] = \
    contextvars.ContextVar("watched_model_options", default=None)


def maybe_sn(layer: nn.Module, spectral_norm: bool) -> nn.Module:
    """Wrap ``layer`` in spectral normalisation when asked (keeps Lipschitz ≈ 1)."""
    return nn.utils.parametrizations.spectral_norm(layer) if spectral_norm else layer


def option(options: dict[str, Any], key: str, default: Any, kind: type, *,
           ge: float | None = None, le: float | None = None) -> Any:
    """Read ``options[key]`` with a type check (and bounds ``ge``/``le`` for numbers,
    finite and of a float32-safe size) that names the field."""
    import math

    from ebm_engine.errors import ConfigError
    from ebm_engine.options import KnobSpec

    value = options.get(key, default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value) and kind is float:
        raise ConfigError(f"model.options.{key} must be a finite number, got {value!r}")
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"model.options.{key} must be {kind.__name__}, got {value!r}")
    if kind in (int, float):
        KnobSpec(ge=ge, le=le).check(f"model.options.{key}", value)
    watched = _WATCHED.get()
    if watched is not None and watched[0] is options:  # not a dict a method made up
        watched[1][key] = value
    return value


@contextlib.contextmanager
def options_read(options: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Collect what :func:`option` resolves from ``options`` (a run's ``model.options``)
    inside the block: ``{key: value}``, defaults included, for every key read.

    The networks declare their defaults where they read them; watching the reads
    is how a run learns them without a second copy of each default.

    Parameters
    ----------
    options : dict
        The very dict the networks are built from (reads from a copy are not seen).

    Yields
    ------
    dict
        Filled in as the networks read their options.
    """
    read: dict[str, Any] = {}
    token = _WATCHED.set((options, read))
    try:
        yield read
    finally:
        _WATCHED.reset(token)
