"""A saved run's config: without the option keys nothing in it reads, and what its
``config.json`` says on resume.

``data.options`` and ``model.options`` keys are checked when a run is set up
(:mod:`ebm_engine.data.option_keys`, :mod:`ebm_engine.methods.model_keys`).
Runs saved before that may carry a key that did nothing; refusing it would
lock the run away from resuming, sampling and evaluation, so it is dropped
with an :class:`IgnoredOptionWarning` instead.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import math
import warnings
from collections.abc import Iterator
from typing import Any

from ebm_engine.config import RunConfig, all_keys
from ebm_engine.data.option_keys import unknown_options
from ebm_engine.errors import ConfigError, EBMError
from ebm_engine.methods.model_keys import unknown_model_options


class IgnoredOptionWarning(UserWarning):
    """A saved run's option key that nothing in the run reads."""


#: Lines already said since :func:`forget_said`: a command reads a run's config.json
#: and its checkpoint, and would say each twice.
_SAID: set[str] = set()
#: Where lines go instead of a warning while :func:`collected_notes` is open.
_COLLECT: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "saved_config_notes", default=None)


def forget_said() -> None:
    """Start a new command or run: what was said for the last one is said again."""
    _SAID.clear()


@contextlib.contextmanager
def collected_notes() -> Iterator[list[str]]:
    """Collect the lines :func:`fit_saved_options` says inside the block, instead of
    warning: a resumed run yields them as events, which the app's log shows.

    Yields
    ------
    list of str
        Filled in as saved configs are read.
    """
    lines: list[str] = []
    token = _COLLECT.set(lines)
    try:
        yield lines
    finally:
        _COLLECT.reset(token)


def _say_once(message: str) -> None:
    if message in _SAID:
        return
    _SAID.add(message)
    lines = _COLLECT.get()
    if lines is not None:
        lines.append(message)
    else:
        warnings.warn(message, IgnoredOptionWarning, stacklevel=3)


def fit_saved_options(raw: Any, recorded_only: bool = False) -> Any:
    """A saved config's parsed JSON with its ``train.options`` fitted to this version.

    A run writes out every knob of its method (:mod:`ebm_engine.learning.resolved`),
    so a knob a later version removes, or a bound it tightens, would otherwise lock
    every saved run of that method away from resuming, sampling and evaluation. A
    knob this version lacks is dropped; a value outside its range is brought to the
    nearest bound (the default where there is none to clamp to), except for a knob
    fixed by training, which shapes the weights and stays refused. Each is said once
    (:func:`forget_said`), in an :class:`IgnoredOptionWarning` or, inside
    :func:`collected_notes`, as a line. Anything else malformed is left for
    :meth:`RunConfig.from_dict` to refuse.

    Parameters
    ----------
    raw : Any
        Parsed JSON of a ``config.json`` or of a checkpoint's ``config``.
    recorded_only : bool
        Fit only a config a run wrote, one that holds every knob its method still
        has (``ebm train --config``: a hand-written file keeps refusing a typo).

    Returns
    -------
    Any
        ``raw`` itself where nothing needs fitting, else an amended copy.
    """
    from ebm_engine.methods import method_class

    try:
        name = str(raw["train"]["method"])
        options = raw["train"]["options"]
        knobs = {k.name: k for k in method_class(name).knobs()}
    except (TypeError, KeyError, EBMError):
        return raw
    if not isinstance(options, dict) or (recorded_only and not knobs.keys() <= options.keys()):
        return raw
    # a knob fixed by training (bins, widths) shapes the weights: not fitted, refused
    fitted = {k: _fit(f"train.options.{k}", v, knobs[k]) if knobs[k].spec.live else v
              for k, v in options.items() if k in knobs}
    gone = [k for k in options if k not in knobs]
    if gone:
        _say_once(f"ignoring train.options {', '.join(gone)} of this run: the {name} method "
                  "of this version has no such option")
    if not gone and fitted == options:
        return raw
    return {**raw, "train": {**raw["train"], "options": fitted}}


def _fit(key: str, value: Any, knob) -> Any:
    """``value`` of ``knob``, or the nearest this version accepts (said once)."""
    try:
        knob.spec.check(key, value)
        return value
    except ConfigError as exc:
        spec = knob.spec
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        fitted = knob.default
        # the knob's type, not the saved value's: a float saved as 0 is not int(0.01)
        whole = knob.type is int
        if number and spec.ge is not None and value < spec.ge:
            fitted = math.ceil(spec.ge) if whole else float(spec.ge)
        elif number and spec.le is not None and value > spec.le:
            fitted = math.floor(spec.le) if whole else float(spec.le)
        _say_once(f"{exc} in this version: this run's value is taken as {fitted!r}")
        return fitted


def saved_config(raw: Any) -> RunConfig:
    """The settings a checkpoint's ``state.json`` records (its ``config``), fitted to
    this version (:func:`fit_saved_options`) and less the options nothing in it reads
    (:func:`saved_run_config`).

    Parameters
    ----------
    raw : Any
        The ``config`` a checkpoint's ``state.json`` holds.

    Returns
    -------
    RunConfig
        The settings a resumed, sampled or evaluated run takes.
    """
    return saved_run_config(RunConfig.from_dict(fit_saved_options(raw)))


def saved_run_config(cfg: RunConfig) -> RunConfig:
    """``cfg`` (a saved run's) without the option keys nothing in the run reads."""
    for section, unknown in (("data", unknown_options(cfg.data)),
                             ("model", unknown_model_options(cfg))):
        if not unknown:
            continue
        owner = cfg.data.source if section == "data" else f"the {cfg.model.name} network"
        warnings.warn(f"ignoring {section}.options {', '.join(unknown)} of this run: {owner} "
                      "does not read them (they did nothing when the run was made)",
                      IgnoredOptionWarning, stacklevel=2)
        options = getattr(cfg, section).options
        cfg = cfg.replace_value(f"{section}.options",
                                {k: v for k, v in options.items() if k not in unknown})
    return cfg


def config_file_agrees(run, cfg: RunConfig, checkpoint: str,
                       goes_on_with: RunConfig | None = None) -> str:
    """Make ``run``'s ``config.json`` say the settings a resumed run goes on with (its
    checkpoint's, ``cfg``); return a line when it said something else, else "".

    The checkpoint's settings are the run's: ``config.json`` may be damaged, edited
    by hand, or hold live edits made after the checkpoint (the run went back to it).

    Parameters
    ----------
    run : RunDir
        The run folder.
    cfg : RunConfig
        The checkpoint's settings.
    checkpoint : str
        The checkpoint's name, for the line.
    goes_on_with : RunConfig, optional
        ``cfg`` with the defaults it takes written out, where the checkpoint (saved
        by an older version) lacks them (:mod:`ebm_engine.learning.resolved`); what
        ``config.json`` is made to say. A file that says either agrees.
    """
    goes_on_with = cfg if goes_on_with is None else goes_on_with
    try:
        written = run.read_config()
    except EBMError as exc:
        written, unread = None, str(exc)
    if written == goes_on_with and not _fitted_on_reading(run.config_path):
        return ""
    with contextlib.suppress(OSError):  # a read-only folder: the next write says so
        run.write_config(goes_on_with)
    if written == cfg:
        return ""
    if written is None:
        return (f"config.json could not be read ({unread}); rewritten from checkpoint "
                f"{checkpoint}, whose settings the run goes on with")
    keys = [k for k in _keys(written, goes_on_with)
            if _value(written, k) != _value(goes_on_with, k)]
    shown = ", ".join(f"{k} {_value(written, k)} → {_value(goes_on_with, k)}" for k in keys[:3])
    return (f"config.json differed from checkpoint {checkpoint} ({shown}"
            f"{' …' if len(keys) > 3 else ''}); the run goes on with the checkpoint's "
            "settings, and config.json says so now (change one with --set KEY=VALUE)")


def _fitted_on_reading(path) -> bool:
    """Whether ``path`` (a ``config.json``) says an option this version drops or brings
    into range on reading (:func:`fit_saved_options`): rewritten, it stops saying so."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return fit_saved_options(raw) is not raw


def _keys(a: RunConfig, b: RunConfig) -> list[str]:
    """Every dotted key of ``a`` and ``b``, one per option inside an ``options`` dict
    (a run writes its defaults there: one changed option is one key, not the dict)."""
    out: list[str] = []
    for key in all_keys():
        if not key.endswith(".options"):
            out.append(key)
            continue
        names = dict.fromkeys([*a.get_value(key), *b.get_value(key)])
        out += [f"{key}.{name}" for name in names]
    return out


def _value(cfg: RunConfig, key: str) -> object:
    """``key``'s value in ``cfg``; ``(unset)`` for an option it does not hold."""
    section, _, rest = key.partition(".options.")
    if rest:
        return cfg.get_value(f"{section}.options").get(rest, "(unset)")
    return cfg.get_value(key)
