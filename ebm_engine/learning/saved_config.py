"""A saved run's config, without the option keys nothing in it reads.

``data.options`` and ``model.options`` keys are checked when a run is set up
(:mod:`ebm_engine.data.option_keys`, :mod:`ebm_engine.methods.model_keys`).
Runs saved before that may carry a key that did nothing; refusing it would
lock the run away from resuming, sampling and evaluation, so it is dropped
with an :class:`IgnoredOptionWarning` instead.
"""

from __future__ import annotations

import warnings

from ebm_engine.config import RunConfig
from ebm_engine.data.option_keys import unknown_options
from ebm_engine.methods.model_keys import unknown_model_options


class IgnoredOptionWarning(UserWarning):
    """A saved run's option key that nothing in the run reads."""


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
