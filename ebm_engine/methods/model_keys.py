"""``model.options`` keys are checked against what the network and the method read.

Each network declares the keys it reads when it registers
(:func:`ebm_engine.models.registry.register`), and a method the keys it reads
itself (:attr:`LearningMethod.model_options`: ``leaky_slope`` for the
pyramids of networks it builds). Any other key would be a silent no-op
(``model.options.leaky_slop``), so a new setting with one is refused.
"""

from __future__ import annotations

from ebm_engine.config import RunConfig
from ebm_engine.errors import ConfigError
from ebm_engine.methods.base import method_class
from ebm_engine.models.registry import model_options
from ebm_engine.suggest import did_you_mean


def known_model_options(cfg: RunConfig) -> tuple[str, ...]:
    """The ``model.options`` keys that ``cfg``'s network or method reads."""
    try:
        own = method_class(cfg.train.method).model_options
    except ConfigError:  # an unknown method is reported where the method is built
        own = ()
    return tuple(dict.fromkeys(model_options(cfg.model.name) + own))


def unknown_model_options(cfg: RunConfig) -> list[str]:
    """The ``cfg.model.options`` keys nothing in the run reads."""
    known = known_model_options(cfg)
    return [k for k in cfg.model.options if k not in known]


def check_model_options(cfg: RunConfig) -> None:
    """Refuse ``cfg.model.options`` keys that the network and method do not read.

    Raises
    ------
    ConfigError
        One line naming the first unknown key and the keys there are.
    """
    known = known_model_options(cfg)
    key = next((k for k in cfg.model.options if k not in known), None)
    if key is None:
        return
    owner = f"the {cfg.model.name} network with {cfg.train.method}"
    if not known:
        raise ConfigError(f"model.options.{key}: {owner} takes no model.options")
    raise ConfigError(f"model.options.{key}: {owner} takes no such option"
                      f"{did_you_mean(key, known)}; options: {', '.join(known)}")
