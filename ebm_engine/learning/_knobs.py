"""Typed reading of method knobs (``train.options``), naming the bad field."""

from __future__ import annotations

from ebm_engine.errors import ConfigError
from ebm_engine.methods.base import LearningMethod


def knob_float(method: LearningMethod, key: str, minimum: float | None = None) -> float:
    """``train.options.<key>`` as a float (ints accepted), optionally ``>= minimum``."""
    value = method.option(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"train.options.{key} must be a number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"train.options.{key} must be >= {minimum:g}, got {value!r}")
    return float(value)


def knob_int(method: LearningMethod, key: str, minimum: int | None = None) -> int:
    """``train.options.<key>`` as an int, optionally ``>= minimum``."""
    value = method.option(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"train.options.{key} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"train.options.{key} must be >= {minimum}, got {value!r}")
    return value
