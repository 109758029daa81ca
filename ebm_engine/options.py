"""Typed, bounded, documented knobs: one declaration serves the CLI, the app and the engine.

A knob is a dataclass field declared with :func:`knob`; its metadata says
its bounds, its choices and whether it may change while a run is going
(``live``). The config sections (:mod:`ebm_engine.config`) and every
learning method's ``Options`` dataclass are declared this way, so that

- :func:`parse_fields` turns a raw dict (JSON, ``--set``) into the
  dataclass, refusing unknown keys (with a suggestion), wrong types,
  non-finite numbers and values out of bounds, with one line naming the
  field;
- the session decides from :func:`knob_spec` whether an edit may be applied
  mid-run, and ``ebm sample --option`` which knobs a trained model's
  sampling reads (``sampling``);
- the app builds its editors (type, range, tooltip) from the same fields.

Field descriptions come from the dataclass's numpydoc ``Attributes``
section (:func:`field_docs`), so each knob is documented once.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import re
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ebm_engine.errors import ConfigError

MAX_MAGNITUDE = 1e18
"""Largest size a numeric knob without an upper bound of its own takes: its square is
still a finite float32 (the tensors' type; 1e150 passed and died in a tensor op)."""
MAX_LAYERS = 64
"""Most layers or blocks a network knob asks for (100 000 filled 24 GB before the first step)."""
MAX_UNITS = 8192
"""Most units, channels or latent dimensions a method's own network knob asks for."""
MAX_DRAWS = 10_000
"""Most extra chains or draws per item a method knob asks for."""
MIN_MAGNITUDE = 1e-18
"""Smallest non-zero size a float knob takes (its square is not rounded to 0 in float32)."""


@dataclass(frozen=True)
class KnobSpec:
    """What a knob accepts.

    Attributes
    ----------
    ge, gt, le, lt : float or None
        Bounds (``>=``, ``>``, ``<=``, ``<``).
    choices : tuple or None
        The allowed values (strings).
    live : bool
        May change between iterations of a running run.
    allow_inf : bool
        ``inf`` is a meaningful value (``sampler.reference_sigma``).
    unit : str
        Shown next to the description in tooltips.
    when : tuple of (str, tuple)
        Read only when each named knob of the same ``Options`` has one of
        the values (``(("condition", ("label",)),)``); the app hides it
        otherwise. Empty: always read.
    sampling : bool
        Drawing samples from a trained model reads it, so ``ebm sample
        --option`` may change it (if it is also ``live``). False: only
        training reads it (learning rates, loss weights, schedules).
    sizes : tuple of str
        The method's networks (their names in ``networks()``) that grow with
        this knob: running out of memory in one of them names the knob (a
        network no knob sizes is the ``model.width``/``model.depth`` one).
    """

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: tuple[Any, ...] | None = None
    live: bool = True
    allow_inf: bool = False
    unit: str = ""
    when: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    sampling: bool = False
    sizes: tuple[str, ...] = ()

    def applies(self, values: dict[str, Any]) -> bool:
        """Whether the knob is read under ``values`` (the other knobs, by name)."""
        return all(values.get(name) in allowed for name, allowed in self.when)

    def check(self, name: str, value: Any) -> None:
        """Raise :class:`ConfigError` naming ``name`` if ``value`` is out of bounds."""
        if self.choices is not None and value not in self.choices:
            raise ConfigError(f"{name} must be one of {list(self.choices)}, got {value!r}"
                              + did_you_mean(str(value), [str(c) for c in self.choices]))
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return
        if isinstance(value, float) and not math.isfinite(value):
            if not (self.allow_inf and value == math.inf):
                raise ConfigError(f"{name} must be a finite number, got {value!r}")
            return
        for bound, ok, word in ((self.ge, lambda b: value >= b, ">="),
                                (self.gt, lambda b: value > b, ">"),
                                (self.le, lambda b: value <= b, "<="),
                                (self.lt, lambda b: value < b, "<")):
            if bound is not None and not ok(bound):
                raise ConfigError(f"{name} must be {word} {bound:g}, got {value!r}")
        # Steps, scales and sigmas enter the maths squared (δ²/2, 1/2σ²): past these
        # sizes that square overflows or becomes 0 and the run would die mid-way.
        size = abs(value)
        if size > MAX_MAGNITUDE and self.le is None and self.lt is None:
            why = "" if isinstance(value, int) else ": its square must stay a finite number"
            raise ConfigError(f"{name} is too large, got {value!r} (at most "
                              f"{MAX_MAGNITUDE:g}{why})")
        if isinstance(value, float) and 0 < size < MIN_MAGNITUDE:
            raise ConfigError(f"{name} is too small, got {value!r} (at least {MIN_MAGNITUDE:g}, "
                              "or 0 where 0 is allowed: its square must not round to 0)")

    def describe(self) -> str:
        """``"> 0"``, ``"in [0, 1]"`` … for tooltips (empty when unbounded)."""
        lo = f"[{self.ge:g}" if self.ge is not None else f"({self.gt:g}" if self.gt is not None else None
        hi = f"{self.le:g}]" if self.le is not None else f"{self.lt:g})" if self.lt is not None else None
        if lo and hi:
            return f"in {lo}, {hi}"
        if lo:
            return (">= " if lo[0] == "[" else "> ") + lo[1:]
        if hi:
            return ("<= " if hi[-1] == "]" else "< ") + hi[:-1]
        return ""


def knob(default: Any, *, ge: float | None = None, gt: float | None = None,
         le: float | None = None, lt: float | None = None,
         choices: Iterable[Any] | None = None, live: bool = True,
         allow_inf: bool = False, unit: str = "",
         when: dict[str, Iterable[Any]] | None = None, sampling: bool = False,
         sizes: Iterable[str] = ()) -> Any:
    """A dataclass field that is a knob (see :class:`KnobSpec`).

    Lists and dicts get a ``default_factory`` (each instance its own copy).
    """
    spec = KnobSpec(ge, gt, le, lt, tuple(choices) if choices is not None else None,
                    live, allow_inf, unit,
                    tuple((k, tuple(v)) for k, v in (when or {}).items()), sampling,
                    tuple(sizes))
    meta = {"knob": spec}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def knob_spec(f: dataclasses.Field) -> KnobSpec:
    """The :class:`KnobSpec` of a field (a plain field is a live, unbounded knob)."""
    return f.metadata.get("knob", KnobSpec())


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest candidate, or ``""``."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --- parsing ----------------------------------------------------------------------
def parse_fields(cls: type, raw: Any, prefix: str) -> Any:
    """Build dataclass ``cls`` from ``raw`` and check every knob.

    Parameters
    ----------
    cls : dataclass type
        A config section or a method's ``Options``.
    raw : dict
        Values by field name (missing fields take their defaults).
    prefix : str
        Dotted name of the section for messages (``"train.options"``).

    Raises
    ------
    ConfigError
        Unknown key, wrong type, non-finite number or out-of-bounds value.
    """
    name = prefix or "config"
    if not isinstance(raw, dict):
        raise ConfigError(f"{name} must be an object, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in fields:
            where = f"{prefix}." if prefix else ""
            raise ConfigError(f"unknown config key {where + str(key)!r}"
                              + did_you_mean(str(key), fields))
    kwargs = {key: coerce(hints[key], value, f"{prefix}.{key}" if prefix else key)
              for key, value in raw.items()}
    obj = cls(**kwargs)
    check_knobs(obj, prefix)
    return obj


def check_knobs(obj: Any, prefix: str) -> None:
    """Check every knob of dataclass instance ``obj`` against its :class:`KnobSpec`."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            continue
        knob_spec(f).check(f"{prefix}.{f.name}" if prefix else f.name, value)
        _check_finite_nested(value, f"{prefix}.{f.name}" if prefix else f.name)


def _check_finite_nested(value: Any, name: str) -> None:
    if isinstance(value, float) and math.isnan(value):
        raise ConfigError(f"{name} must be a number, got NaN")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_finite_nested(v, f"{name}.{k}")
    elif isinstance(value, (list, tuple)):
        for v in value:
            _check_finite_nested(v, name)


def coerce(hint: Any, value: Any, name: str) -> Any:
    """``value`` as type ``hint`` (ints as floats, integral floats as ints), else ConfigError."""
    if dataclasses.is_dataclass(hint):
        return parse_fields(hint, value, name)
    origin = typing.get_origin(hint)
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{name} must be an object, got {type(value).__name__}")
        return dict(value)
    if origin is list or hint is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name} must be a list, got {value!r}")
        args = typing.get_args(hint)
        return [coerce(args[0], v, name) for v in value] if args else list(value)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            if arg is type(None):
                if value is None:
                    return None
                continue
            try:
                return coerce(arg, value, name)
            except ConfigError:
                continue
        raise ConfigError(f"{name} has the wrong type, got {value!r}")
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str) and value.strip().lower() in ("inf", "+inf", "infinity"):
            return math.inf
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name} must be a number, got {value!r}")
        try:
            out = float(value)
        except OverflowError:  # an int too large for a float
            raise ConfigError(f"{name} must be a finite number, got {value!r}") from None
        if math.isnan(out):
            raise ConfigError(f"{name} must be a number, got NaN")
        return out
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be a string, got {value!r}")
        return value
    return value


# --- documentation ------------------------------------------------------------------
def field_docs(cls: type) -> dict[str, str]:
    """``{field: description}`` from a numpydoc ``Attributes`` section."""
    doc = cls.__doc__ or ""
    out: dict[str, str] = {}
    current: list[str] = []
    for line in doc.splitlines():
        m = re.match(r"^    ([\w, ]+) : .+$", line)
        if m:
            current = [n.strip() for n in m.group(1).split(",")]
            for n in current:
                out[n] = ""
        elif line.startswith("        ") and current:
            for n in current:
                out[n] = (out[n] + " " + line.strip()).strip()
        elif line.strip() and not line.startswith("        "):
            current = []
    return out


@dataclass(frozen=True)
class KnobInfo:
    """One knob as the app and ``ebm methods`` show it."""

    name: str
    type: type
    default: Any
    spec: KnobSpec
    doc: str


def knobs_of(cls: type) -> list[KnobInfo]:
    """The knobs of a dataclass type, in declaration order."""
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    out = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        hint = hints[f.name]
        kind = typing.get_origin(hint) or hint
        if kind in (typing.Union, types.UnionType):
            kind = object
        out.append(KnobInfo(f.name, kind, default, knob_spec(f), docs.get(f.name, "")))
    return out
