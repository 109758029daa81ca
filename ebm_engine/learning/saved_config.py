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
import warnings
from typing import Any

from ebm_engine.config import RunConfig, all_keys
from ebm_engine.data.option_keys import unknown_options
from ebm_engine.errors import EBMError
from ebm_engine.methods.model_keys import unknown_model_options


class IgnoredOptionWarning(UserWarning):
    """A saved run's option key that nothing in the run reads."""


def without_gone_knobs(raw: Any) -> Any:
    """A saved config's parsed JSON less the ``train.options`` its method no longer has
    (said in one :class:`IgnoredOptionWarning`).

    A run writes out every knob of its method (:mod:`ebm_engine.learning.resolved`),
    so a knob a later version removes would otherwise lock every saved run of that
    method away from resuming, sampling and evaluation. Anything else malformed is
    left for :meth:`RunConfig.from_dict` to refuse.
    """
    from ebm_engine.methods import method_class

    try:
        name = str(raw["train"]["method"])
        options = raw["train"]["options"]
        known = {k.name for k in method_class(name).knobs()}
    except (TypeError, KeyError, EBMError):
        return raw
    if not isinstance(options, dict) or options.keys() <= known:
        return raw
    gone = [k for k in options if k not in known]
    warnings.warn(f"ignoring train.options {', '.join(gone)} of this run: the {name} method "
                  "of this version has no such option", IgnoredOptionWarning, stacklevel=2)
    return {**raw, "train": {**raw["train"],
                             "options": {k: v for k, v in options.items() if k in known}}}


def saved_config(raw: Any) -> RunConfig:
    """The settings a checkpoint's ``state.json`` records (its ``config``), less the
    options nothing in this version reads (:func:`without_gone_knobs`,
    :func:`saved_run_config`)."""
    return saved_run_config(RunConfig.from_dict(without_gone_knobs(raw)))


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
    if written == goes_on_with:
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
