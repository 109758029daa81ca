"""``model.options`` keys that neither the network nor the method reads are refused.

``model.options.leaky_slop=0.1`` used to be accepted and ignored.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ebm_engine.cli import main
from ebm_engine.config import ModelConfig, RunConfig
from ebm_engine.errors import ConfigError
from ebm_engine.learning.saved_config import IgnoredOptionWarning, saved_run_config
from ebm_engine.methods.model_keys import check_model_options
from ebm_engine.models.registry import available_models, build_model, model_options

# An item shape each network builds for.
SHAPES = {"convnet": (1, 16, 16), "classifier": (1, 16, 16), "voxelnet": (1, 8, 8, 8),
          "pointnet": (32, 3), "stgconvnet": (1, 4, 16, 16), "mlp": (2,), "seqconv": (12, 2),
          "frame": (1, 32, 32), "patchnet": (3, 32, 32)}


def test_every_network_declares_each_option_it_reads(asked_keys) -> None:
    assert set(available_models()) == set(SHAPES), "a new network needs an item shape here"
    for name in available_models():
        options = asked_keys()
        build_model(ModelConfig(name=name, width=8, depth=1, options=options), SHAPES[name])
        assert options.asked <= set(model_options(name)), (name, options.asked)


def _cfg(model: str, method: str = "ml") -> RunConfig:
    return RunConfig().with_value("model.name", model).with_value("train.method", method)


def test_a_key_nothing_reads_is_refused_with_the_keys_there_are() -> None:
    with pytest.raises(ConfigError, match=r"^model\.options\.leaky_slop: the convnet network "
                                          r"with ml takes no such option \(did you mean "
                                          r"'leaky_slope'\?\); options: leaky_slope$"):
        _cfg("convnet").with_value("model.options.leaky_slop", 0.1)
    with pytest.raises(ConfigError, match="the mlp network with ml takes no model.options"):
        _cfg("mlp").with_value("model.options.leaky_slope", 0.1)
    # a method that builds its own pyramid of networks reads the slope whatever the network
    assert _cfg("mlp", "multigrid").with_value("model.options.leaky_slope", 0.1) \
        .model.options == {"leaky_slope": 0.1}
    # another network or method keeps only what the run reads, as train.options do
    cfg = _cfg("convnet").with_value("model.options.leaky_slope", 0.1)
    assert cfg.with_value("model.name", "mlp").model.options == {}
    assert cfg.with_value("model.name", "voxelnet").model.options == {"leaky_slope": 0.1}


def test_the_cli_refuses_it_from_set_and_from_a_config_file(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["train", "--data", "digits", "--out", str(out), "--steps", "1",
                 "--set", "model.options.leaky_slop=0.1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "did you mean 'leaky_slope'" in err and "\n" not in err and not out.exists()
    raw = _cfg("convnet").to_dict()
    raw["data"]["source"] = "digits"
    raw["model"]["options"] = {"extra": 3}
    (tmp_path / "c.json").write_text(json.dumps(raw))
    assert main(["train", "--config", str(tmp_path / "c.json"), "--out", str(out),
                 "--steps", "1"]) == 2
    assert "model.options.extra" in capsys.readouterr().err and not out.exists()


def test_a_saved_run_drops_the_key_with_a_warning() -> None:
    cfg = _cfg("convnet").replace_value("model.options", {"extra": 3, "leaky_slope": 0.1})
    with pytest.raises(ConfigError):
        check_model_options(cfg)
    with pytest.warns(IgnoredOptionWarning, match="model.options extra of this run"):
        kept = saved_run_config(cfg)
    assert kept.model.options == {"leaky_slope": 0.1}
    check_model_options(kept)
