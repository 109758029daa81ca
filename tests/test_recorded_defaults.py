"""A run writes out every option it takes, defaults included, so that another
version's defaults do not change it when it is resumed or sampled.

A run's config.json used to hold only the options a preset or the user set:
a later default for ``train.options.lr_end`` or ``model.options.leaky_slope``
silently went into a resumed run.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from torch import nn

from ebm_engine.config import RunConfig
from ebm_engine.learning.events import Warned
from ebm_engine.learning.loading import load_model
from ebm_engine.learning.resolved import resolved_config
from ebm_engine.learning.trainer import Trainer
from ebm_engine.methods import method_class
from ebm_engine.models import convnet
from ebm_engine.models.layers import option, options_read
from ebm_engine.models.registry import build_model
from ebm_engine.options import knob
from ebm_engine.presets import config_for
from ebm_engine.runs import zoo
from ebm_engine.runs.fork import fork_run
from ebm_engine.runs.rundir import RunDir
from ebm_engine.session import Session

ML_DEFAULT_LR_END = 1.0


def tiny_cfg() -> RunConfig:
    return config_for("8gaussians", overrides=[
        ("model.width", 16), ("sampler.n_steps", 3), ("sampler.buffer_size", 64),
        ("train.batch_size", 16), ("train.checkpoint_every", 2)])


def tiny_digits() -> RunConfig:
    return config_for("digits", overrides=[
        ("model.width", 4), ("model.depth", 1), ("sampler.n_steps", 1),
        ("train.batch_size", 4), ("data.max_items", 16), ("train.snapshot_size", 4),
        ("train.checkpoint_every", 2)])


def saved_configs(run: Path) -> list[dict]:
    """config.json and each checkpoint's config, as saved."""
    found = [json.loads((run / "config.json").read_text())]
    for state in sorted((run / "checkpoints").glob("*/state.json")):
        found.append(json.loads(state.read_text())["config"])
    return found


def change_ml_default(monkeypatch, **defaults: float) -> None:
    """Give maximum likelihood's knobs other defaults, as a later version might."""
    ml = method_class("ml")
    fields = {name: knob(value, gt=0, le=1) for name, value in defaults.items()}
    changed = dataclasses.dataclass(frozen=True)(
        type("MaximumLikelihoodOptions", (ml.Options,),
             {"__annotations__": {name: float for name in defaults}, **fields,
              "__doc__": ml.Options.__doc__}))
    monkeypatch.setattr(ml, "Options", changed)


def change_slope_default(monkeypatch, slope: float) -> None:
    """Give the convnet's ``leaky_slope`` another default, as a later version might."""
    def read(options, key, default, kind, **bounds):
        return option(options, key, slope if key == "leaky_slope" else default, kind, **bounds)

    monkeypatch.setattr(convnet, "option", read)


def slopes(net: nn.Module) -> set[float]:
    return {m.negative_slope for m in net.modules() if isinstance(m, nn.LeakyReLU)}


def test_a_new_run_writes_out_the_defaults_its_preset_left_out(tmp_path):
    cfg = tiny_cfg()
    assert "lr_end" not in cfg.train.options  # the preset leaves it to the method
    trainer = Trainer(cfg, tmp_path / "run")
    list(trainer.events(3))
    saved = saved_configs(tmp_path / "run")
    assert len(saved) >= 2  # config.json and the checkpoints
    for raw in saved:
        assert raw["train"]["options"]["lr_end"] == ML_DEFAULT_LR_END
        assert set(raw["train"]["options"]) == {k.name for k in method_class("ml").knobs()}
    assert RunDir(tmp_path / "run").read_config() == trainer.cfg
    # set values stay as they were; the defaults are the ones the run used anyway
    assert trainer.cfg.train.options["data_noise"] == cfg.train.options.get("data_noise", 0.0)
    assert trainer.method.opts == method_class("ml").parse_options(cfg)


def test_a_network_writes_out_the_options_it_read():
    cfg = RunConfig().with_value("model.name", "convnet")
    with options_read(cfg.model.options) as read:
        build_model(cfg.model, (1, 16, 16))
    assert read == {"leaky_slope": 0.2}
    assert resolved_config(cfg, read).model.options == {"leaky_slope": 0.2}
    # a set value is kept, and an options dict a method makes up itself is not watched
    given = cfg.with_value("model.options.leaky_slope", 0.1)
    with options_read(given.model.options) as read:
        build_model(cfg.model, (1, 16, 16))
    assert read == {}
    assert resolved_config(given, {"leaky_slope": 0.2}).model.options == {"leaky_slope": 0.1}


def test_a_changed_default_does_not_change_a_resumed_or_sampled_run(tmp_path, monkeypatch):
    list(Trainer(tiny_cfg(), tmp_path / "run").events(2))
    change_ml_default(monkeypatch, lr_end=0.25)
    assert method_class("ml").parse_options(tiny_cfg()).lr_end == 0.25  # a new run's
    resumed = Trainer.resume(tmp_path / "run", check_config=True)
    assert resumed.method.opts.lr_end == ML_DEFAULT_LR_END
    assert load_model(tmp_path / "run", device="cpu").method.opts.lr_end == ML_DEFAULT_LR_END
    list(resumed.events(4))
    for raw in saved_configs(tmp_path / "run"):
        assert raw["train"]["options"]["lr_end"] == ML_DEFAULT_LR_END
    # --set on resume still changes a recorded value
    session = Session(RunDir(tmp_path / "run").read_config())
    events = session.resume(tmp_path / "run", 1)
    next(events)
    assert session.edit("train.options.lr_end", 0.5).value == 0.5
    list(events)
    assert RunDir(tmp_path / "run").read_config().train.options["lr_end"] == 0.5


def test_a_changed_network_default_does_not_change_a_resumed_run(tmp_path, monkeypatch):
    list(Trainer(tiny_digits(), tmp_path / "run").events(2))
    change_slope_default(monkeypatch, 0.3)
    fresh = RunConfig().with_value("model.name", "convnet")
    assert slopes(build_model(fresh.model, (1, 16, 16))) == {0.3}  # a new run's
    resumed = Trainer.resume(tmp_path / "run")
    assert slopes(resumed.method.net) == {0.2}
    assert slopes(load_model(tmp_path / "run", device="cpu").method.net) == {0.2}


def strip_defaults(run: Path, keep: dict[str, dict]) -> None:
    """Make ``run`` look saved by an older version: only ``keep``'s options written."""
    path = run / "config.json"
    raw = json.loads(path.read_text())
    for section, options in keep.items():
        raw[section]["options"] = options
    path.write_text(json.dumps(raw))
    for state_path in (run / "checkpoints").glob("*/state.json"):
        state = json.loads(state_path.read_text())
        for section, options in keep.items():
            state["config"][section]["options"] = options
        state_path.write_text(json.dumps(state))


def test_an_old_run_without_its_defaults_loads_and_resumes_and_then_records_them(
        tmp_path, monkeypatch):
    cfg = tiny_cfg()
    list(Trainer(cfg, tmp_path / "run").events(2))
    strip_defaults(tmp_path / "run", {"train": dict(cfg.train.options), "model": {}})
    run = RunDir(tmp_path / "run")
    assert "lr_end" not in run.read_config().train.options
    # sampling reads it as it did: the code's defaults, and nothing written
    loaded = load_model(run.path, device="cpu")
    assert loaded.method.opts.lr_end == ML_DEFAULT_LR_END
    assert "lr_end" not in run.read_config().train.options
    # a resume goes on with this version's defaults, writes them and says so once
    change_ml_default(monkeypatch, lr_end=0.25)
    resumed = Trainer.resume(run.path, check_config=True)
    assert resumed.method.opts.lr_end == 0.25
    said = [e.message for e in resumed.events(4) if isinstance(e, Warned)]
    filled = [m for m in said if "did not record" in m]
    assert len(filled) == 1 and "train.options.lr_end=0.25" in filled[0], said
    assert not any("differed" in m for m in said), said
    assert run.read_config().train.options["lr_end"] == 0.25
    assert run.read_config() == resumed.cfg
    newest = json.loads((run.latest_checkpoint() / "state.json").read_text())["config"]
    assert newest["train"]["options"]["lr_end"] == 0.25


def test_the_zoo_records_its_defaults_and_continues_without_a_note(tmp_path):
    """The zoo was made before runs wrote their defaults: continuing any entry said it
    "did not record 2 options". Its entries record them now; the zoo is never written."""
    for found in zoo.entries().values():
        recorded = json.loads((found.path / "config.json").read_text())["train"]
        assert {k.name for k in method_class(recorded["method"]).knobs()} <= \
            recorded["options"].keys(), found.name
    entry = zoo.resolve("zoo:8gaussians-ml")
    zoo_cfg = json.loads((entry / "config.json").read_text())
    run = fork_run(entry, tmp_path / "run")
    resumed = Trainer.resume(run.path, check_config=True)
    said = [e.message for e in resumed.events(resumed.iteration + 1) if isinstance(e, Warned)]
    assert not any("did not record" in m for m in said), said
    assert json.loads((entry / "config.json").read_text()) == zoo_cfg  # read, never written


def test_another_method_takes_its_own_defaults_not_the_recorded_ones(tmp_path):
    """Maximum likelihood's data_noise default (0) written out by a run is no one's
    choice: FCE, whose default is 0.02, takes its own (the app's method box after
    opening a run)."""
    trained = Trainer(tiny_cfg(), tmp_path / "run").cfg
    assert trained.train.options["data_noise"] == 0.0
    fce = {k.name: k.default for k in method_class("fce").knobs()}["data_noise"]
    assert fce != 0.0
    assert "data_noise" not in trained.with_value("train.method", "fce").train.options
    # a config written by hand keeps what it says, default or not
    given = tiny_cfg().with_value("train.options.data_noise", 0.0)
    assert given.with_value("train.method", "fce").train.options["data_noise"] == 0.0


def test_the_session_writes_them_and_a_hand_edit_of_one_is_named_on_resume(tmp_path):
    session = Session(tiny_cfg())
    list(session.train(tmp_path / "run", 2))
    run = RunDir(tmp_path / "run")
    trained = run.read_config()
    assert trained.train.options["lr_end"] == ML_DEFAULT_LR_END
    # one option changed by hand is named alone, not the whole options dict
    run.write_config(trained.with_value("train.options.lr_end", 0.5))
    said = [e.message for e in Trainer.resume(run.path, check_config=True).events(3)
            if isinstance(e, Warned)]
    assert any("(train.options.lr_end 0.5 → 1.0)" in m for m in said), said
    assert not any("did not record" in m for m in said), said
    assert run.read_config() == trained


def _record(run: Path, **options) -> None:
    """Write ``options`` into a run's config.json and every checkpoint, as an older
    version would have recorded them."""
    for path in [run / "config.json", *(run / "checkpoints").glob("*/state.json")]:
        raw = json.loads(path.read_text())
        raw.get("config", raw)["train"]["options"].update(options)
        path.write_text(json.dumps(raw))


def test_a_knob_a_later_version_removed_does_not_lock_the_run_away(tmp_path, capsys):
    """Every run records every knob now, so a knob a later version drops would make every
    saved run of that method refused ("unknown config key"): it is ignored, said once per
    command, and config.json stops holding it."""
    import pytest

    from ebm_engine.cli import main
    from ebm_engine.learning import saved_config

    run = tmp_path / "run"
    list(Trainer(tiny_cfg(), run).events(2))
    _record(run, retired_knob=0.5)
    saved_config.forget_said()
    with pytest.warns(saved_config.IgnoredOptionWarning, match="retired_knob"):
        assert load_model(run).cfg.train.options.keys() == tiny_cfg().train.options.keys() | {
            k.name for k in method_class("ml").knobs()}
    for args in (["sample", "--run", str(run), "--n", "2", "--out", str(tmp_path / "s.npz")],
                 ["train", "--resume", str(run), "--out", str(tmp_path / "new"), "--steps", "1",
                  "--quiet"],
                 ["train", "--config", str(run / "config.json"), "--steps", "1",
                  "--out", str(tmp_path / "again"), "--quiet"],
                 ["train", "--resume", str(run), "--steps", "1", "--quiet"]):
        assert main(args) == 0, args  # each command says it again, once
        assert capsys.readouterr().err.count("ignoring train.options retired_knob") == 1, args
    for folder in ("new", "again", "run"):
        assert "retired_knob" not in (tmp_path / folder / "config.json").read_text(), folder


def test_the_app_is_told_of_a_fitted_option_for_each_run_it_opens(qtbot, tmp_path):
    """The line was a Python warning on stderr, never in the app's log, and a second run
    with the same option in the same process said nothing at all."""
    import pytest

    from app.testing import WAIT_MS, make_window, shutdown
    from ebm_engine.errors import EBMError
    from ebm_engine.learning.loading import load_model as load

    line = "data_noise must be >= 0, got -1 in this version"
    window = make_window(qtbot, tmp_path / "app", knobs=())
    try:
        for i, name in enumerate(("a", "b"), start=1):
            run = tmp_path / name
            # 4 iterations in all: the app's resume goes on to the config's end (the preset's
            # 1500, a checkpoint every 2, took 20-45 s of the suite)
            list(Trainer(tiny_cfg().with_value("train.iterations", 4), run).events(2))
            _record(run, data_noise=-1)  # an int below ml's bound (>= 0): an older version's
            window.controller.resume(run)
            qtbot.waitUntil(lambda: window.controller.state == "finished", timeout=WAIT_MS)
            assert window.log.toPlainText().count(line) == i, name
            noise = RunDir(run).read_config().train.options["data_noise"]
            assert noise == 0.0 and isinstance(noise, float)  # the knob's type: not int(0.0)
    finally:
        shutdown(window)
    # a knob fixed by training shapes the weights: refused as before, not fitted
    _record(tmp_path / "a", average=2)
    with pytest.raises(EBMError, match="average must be < 1"):
        load(tmp_path / "a")


def test_a_bound_a_later_version_tightened_brings_the_value_to_it(tmp_path, capsys):
    """A recorded value a later version's bounds refuse (patchwise aspect 0.2 after the
    bound became 0.25) locked the run away; it is brought to the bound, and said."""
    from ebm_engine.cli import main
    from ebm_engine.learning import saved_config

    run = tmp_path / "run"
    list(Trainer(tiny_cfg(), run).events(2))
    _record(run, data_noise=-0.5)  # below ml's bound (>= 0)
    saved_config.forget_said()
    assert main(["sample", "--run", str(run), "--n", "2", "--out", str(tmp_path / "s.npz")]) == 0
    err = capsys.readouterr().err
    assert "data_noise must be >= 0, got -0.5 in this version" in err and "0.0" in err
    assert load_model(run).cfg.train.options["data_noise"] == 0.0
