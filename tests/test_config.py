"""Config dataclasses: JSON round trip and validation that names the field."""

from __future__ import annotations

import json
import math

import pytest

from ebm_engine.config import RunConfig
from ebm_engine.errors import ConfigError
from ebm_engine.presets import available_presets, config_for, load_preset


def test_json_round_trip_preserves_every_field():
    cfg = RunConfig()
    cfg = cfg.with_value("sampler.step_size", 0.02).with_value("model.name", "convnet")
    cfg = cfg.with_value("model.options.leaky_slope", 0.1)
    cfg = cfg.with_value("data.source", "digits").with_value("sampler.reference_sigma", "1.5")
    again = RunConfig.from_json(cfg.to_json())
    assert again == cfg
    assert again.sampler.step_size == 0.02 and again.model.options == {"leaky_slope": 0.1}
    assert again.sampler.reference_sigma == 1.5


def test_infinite_sigma_survives_json():
    text = RunConfig().to_json()
    assert json.loads(text)["sampler"]["reference_sigma"] == "inf"
    assert math.isinf(RunConfig.from_json(text).sampler.reference_sigma)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("sampler.step_size", -1, "sampler.step_size must be > 0, got -1"),
        ("train.batch_size", 0, "train.batch_size must be > 0"),
        ("sampler.init", "magic", "sampler.init must be one of"),
        ("train.device", "tpu", "train.device must be one of"),
        ("sampler.clamp", "yes", "sampler.clamp must be true or false"),
        ("train.lr", "fast", "train.lr must be a number"),
    ],
)
def test_validation_names_the_bad_field(key, value, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        RunConfig().with_value(key, value)


def test_unknown_keys_and_wrong_types_are_refused():
    raw = RunConfig().to_dict()
    raw["sampler"]["stepsize"] = 0.1
    with pytest.raises(ConfigError, match="unknown config key 'sampler.stepsize'|sampler.'stepsize'"):
        RunConfig.from_dict(raw)
    raw = RunConfig().to_dict()
    raw["train"]["iterations"] = "many"
    with pytest.raises(ConfigError, match="train.iterations must be an integer"):
        RunConfig.from_dict(raw)
    with pytest.raises(ConfigError, match="not valid JSON"):
        RunConfig.from_json("{not json")
    with pytest.raises(ConfigError, match="unknown config key"):
        RunConfig().with_value("model.colour", 1)


def test_every_preset_builds_a_valid_config():
    names = available_presets()
    assert {"toy2d", "digits", "texture"} <= set(names)
    for name in names:
        raw = load_preset(name)
        assert set(raw) <= {"data", "model", "sampler", "train"}
        cfg = config_for("8gaussians", preset=name)
        assert cfg.data.source == "8gaussians"


def test_demo_preset_and_overrides():
    cfg = config_for("digits", overrides=[("train.iterations", "7")])
    assert cfg.model.name == "convnet" and cfg.train.iterations == 7


def test_method_picks_its_own_demo_preset():
    cfg = config_for("digits", method="recovery")
    assert cfg.train.method == "recovery"
    assert cfg == config_for("digits", "digits-recovery", method="recovery")
    assert cfg != config_for("digits").with_value("train.method", "recovery")
    assert config_for("8gaussians", method="fce").train.options == config_for(
        "8gaussians", "toy2d-fce").train.options
    # No such preset: the demo's own preset with the method set.
    cfg = config_for("digits", method="jem")
    assert cfg.train.method == "jem"
    cfg = config_for("texture-brick", method="ml")
    assert cfg.model.name == "convnet" and cfg.data.image_size == 0
    # The demo's preset is another method's: its method knobs stay behind.
    assert config_for("digits").train.options.get("data_noise", 0) > 0  # ML's own
    for method in ("patchwise", "symbol_vector", "conditional_coop"):
        cfg = config_for("digits", method=method)
        assert cfg.train.method == method and "data_noise" not in cfg.train.options


def test_every_method_loads_its_own_demo_preset():
    """Underscored method names find their hyphenated preset files (latent_ebm →
    digits-latent-ebm), so a method never silently runs on the plain preset."""
    from ebm_engine.methods import available_methods

    for name in available_methods():
        for demo, base in (("digits", "digits"), ("8gaussians", "toy2d")):
            preset = f"{base}-{name.replace('_', '-')}"
            if preset in available_presets():
                assert config_for(demo, method=name) == config_for(demo, preset, method=name)
    assert config_for("digits", method="latent_ebm").sampler.reference_sigma == 1.0


def test_method_presets_advertise_their_own_minutes():
    """digits + recovery takes its preset's time, not the digits demo's; the
    key is metadata and never reaches the config."""
    from ebm_engine.presets import demo_preset, preset_minutes

    assert demo_preset("digits", "latent_ebm") == "digits-latent-ebm"
    assert demo_preset("digits", "ml") == "digits"
    for name in available_presets():
        minutes = preset_minutes(name)
        assert minutes is None or minutes > 0
        config_for("digits", name)  # an expected_minutes key must not break loading
    assert preset_minutes("digits-recovery") is not None
    assert preset_minutes("no-such-preset") is None
