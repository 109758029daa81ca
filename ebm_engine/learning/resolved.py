"""A run's config with every option it uses written out, defaults included.

``train.options`` and ``model.options`` hold what a preset or the user set;
every other option takes the default the method's ``Options`` or the
network's code declares. Were only the set ones saved, a later version with
another default would resume, sample and evaluate an old run with the new
value, and the run would change under its user. So a run writes the defaults
it takes too, in ``config.json`` and in every checkpoint: a recorded value is
a given value, and given values win over the code's defaults.

Runs saved before this hold only what was set. They load as they did (a
sampled or evaluated run gets its defaults from the code, as before); a
resumed one writes the defaults it goes on with from then on, and says so
once (:func:`filled_note`).

``data.options`` are not written out: readers tell a missing key from any
value (``per_file``, ``value_range``: detect it), the decoded-data cache is
keyed by them, and ``RUN/data.json`` already says when the data a run reads
differs from what it was trained on (:mod:`ebm_engine.runs.data_record`).
"""

from __future__ import annotations

from typing import Any

from ebm_engine.config import RunConfig
from ebm_engine.methods.base import method_class
from ebm_engine.methods.model_keys import known_model_options

#: The option dicts whose defaults a run writes out.
SECTIONS = ("train", "model")


def resolved_config(cfg: RunConfig, model_read: dict[str, Any]) -> RunConfig:
    """``cfg`` with every knob of its method in ``train.options`` and the
    ``model.options`` its networks read in ``model.options``.

    Parameters
    ----------
    cfg : RunConfig
        A validated config; its values are kept.
    model_read : dict
        What the networks resolved from ``cfg.model.options`` while they were
        built (:func:`ebm_engine.models.layers.options_read`): set values and
        defaults.

    Returns
    -------
    RunConfig
        ``cfg`` itself when nothing was missing, else a copy as ``config.json``
        reads back (so that comparing it with a saved config is fair).
    """
    defaults = {k.name: k.default for k in method_class(cfg.train.method).knobs()}
    known = known_model_options(cfg)  # what check_model_options will accept back
    train = {**defaults, **cfg.train.options}  # declaration order, set values in place
    model = {**{k: v for k, v in model_read.items() if k in known}, **cfg.model.options}
    if train.keys() == cfg.train.options.keys() and model.keys() == cfg.model.options.keys():
        return cfg
    filled = cfg.replace_value("train.options", train).replace_value("model.options", model)
    return RunConfig.from_dict(filled.to_dict())  # inf as "inf", tuples as lists


def filled_keys(before: RunConfig, after: RunConfig) -> list[str]:
    """The dotted option keys ``after`` writes out that ``before`` left to the code."""
    return [f"{s}.options.{k}" for s in SECTIONS for k in getattr(after, s).options
            if k not in getattr(before, s).options]


def filled_note(before: RunConfig, after: RunConfig, checkpoint: str) -> str:
    """One line for a resumed run saved without its defaults (``""`` when it had them).

    Parameters
    ----------
    before : RunConfig
        The checkpoint's settings, as saved.
    after : RunConfig
        The settings the run goes on with (:func:`resolved_config` of ``before``).
    checkpoint : str
        The checkpoint's name.

    Returns
    -------
    str
        The line, naming up to four of the options written out.
    """
    keys = filled_keys(before, after)
    if not keys:
        return ""
    shown = ", ".join(f"{k}={after.get_value(k)}" for k in keys[:4])
    return (f"checkpoint {checkpoint} did not record {len(keys)} option"
            f"{'s' if len(keys) > 1 else ''} this version reads (an older version saved "
            f"only those set, or had no such option); the run goes on with this version's "
            f"defaults, now written in its config: {shown}{' …' if len(keys) > 4 else ''}")
