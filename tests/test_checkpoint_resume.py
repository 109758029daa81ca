"""Run folders and checkpoints: exact resume, round trips, corrupt files."""

from __future__ import annotations

import json
import math

import pytest
import torch

from ebm_engine.config import RunConfig
from ebm_engine.errors import CheckpointError, ConfigError
from ebm_engine.learning.events import (
    Checkpointed,
    Finished,
    KnobApplied,
    SamplesReady,
    TrainStep,
    Warned,
)
from ebm_engine.learning.loading import load_model
from ebm_engine.learning.trainer import Trainer
from ebm_engine.presets import config_for
from ebm_engine.runs.checkpoint import load_checkpoint
from ebm_engine.runs.rundir import RunDir, parse_metrics
from ebm_engine.session import Session


def tiny_cfg(**sets) -> RunConfig:
    cfg = config_for("8gaussians", overrides=[
        ("model.width", 32), ("sampler.n_steps", 5), ("sampler.buffer_size", 256),
        ("train.batch_size", 32), ("train.sample_every", 3), ("train.record_every", 2),
        ("train.checkpoint_every", 4),
    ])
    for key, value in sets.items():
        cfg = cfg.with_value(key.replace("__", "."), value)
    return cfg


def weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in trainer.method.net.state_dict().items()}


def test_resume_is_exact(tmp_path):
    cfg = tiny_cfg()
    straight = Trainer(cfg, tmp_path / "a")
    list(straight.events(10))
    first = Trainer(cfg, tmp_path / "b")
    list(first.events(5))  # checkpoints at 4 and at the end (5)
    resumed = Trainer.resume(tmp_path / "b")
    assert resumed.iteration == 5
    list(resumed.events(10))
    for key, value in weights(straight).items():
        assert torch.equal(value, weights(resumed)[key]), key
    assert torch.equal(straight.method.buffer.states, resumed.method.buffer.states)
    rows = RunDir(tmp_path / "b").read_metrics()
    assert [int(r["iteration"]) for r in rows] == list(range(1, 11))


def test_events_and_run_folder_contents(tmp_path):
    trainer = Trainer(tiny_cfg(), tmp_path / "run")
    events = list(trainer.events(6))
    steps = [e for e in events if isinstance(e, TrainStep)]
    snaps = [e for e in events if isinstance(e, SamplesReady)]
    assert [e.iteration for e in steps] == [1, 2, 3, 4, 5, 6]
    assert [e.iteration for e in snaps] == [3, 6]
    assert snaps[0].samples.shape[1:] == (2,) and snaps[0].frames  # record_every=2
    assert isinstance(events[-1], Finished) and events[-1].reason == "completed"
    assert [e.iteration for e in events if isinstance(e, Checkpointed)] == [4, 6]
    run = RunDir(tmp_path / "run")
    assert run.read_config() == trainer.cfg
    assert run.read_samples()["iteration"] == 6
    assert run.latest_checkpoint().name == "iter_0000006"
    assert {"loss", "energy_data", "energy_sample", "grad_norm", "its"} <= set(run.read_metrics()[0])


def test_knob_edit_between_iterations_is_logged(tmp_path):
    session = Session(tiny_cfg())
    gen = session.train(tmp_path / "run", 4)
    next(gen)
    results = [session.edit("sampler.step_size", 0.05), session.edit("sampler.step_size", -3),
               session.edit("model.width", 64)]
    assert [type(r).__name__ for r in results] == ["Accepted", "Refused", "Refused"]
    rest = list(gen)
    applied = [e for e in rest if isinstance(e, KnobApplied)]
    assert len(applied) == 1 and applied[0].new == 0.05 and applied[0].old == 0.1
    assert session.trainer.cfg.sampler.step_size == 0.05
    assert RunDir(tmp_path / "run").read_config().sampler.step_size == 0.05
    events = RunDir(tmp_path / "run").read_events()
    assert [e["key"] for e in events if e["event"] == "knob"] == ["sampler.step_size"]


def test_stop_writes_a_checkpoint(tmp_path):
    trainer = Trainer(tiny_cfg(**{"train__checkpoint_every": 0}), tmp_path / "run")
    gen = trainer.events(100)
    for event in gen:
        if isinstance(event, TrainStep) and event.iteration == 2:
            trainer.stop()
    assert trainer.iteration == 2
    model = load_model(tmp_path / "run")
    assert model.checkpoint.iteration == 2
    out = list(model.method.sample(5, n_steps=3))
    assert out[-1].x.shape == (5, 2)


def test_existing_run_is_not_overwritten(tmp_path):
    list(Trainer(tiny_cfg(), tmp_path / "run").events(2))  # a run with a checkpoint
    before = (tmp_path / "run" / "config.json").read_bytes()
    with pytest.raises(ConfigError, match="already holds a run"):
        Trainer(tiny_cfg(**{"model__width": 8}), tmp_path / "run")
    assert (tmp_path / "run" / "config.json").read_bytes() == before


def test_corrupt_checkpoints_are_refused(tmp_path):
    trainer = Trainer(tiny_cfg(), tmp_path / "run")
    list(trainer.events(2))
    ckpt = RunDir(tmp_path / "run").latest_checkpoint()
    assert load_checkpoint(ckpt).iteration == 2
    (ckpt / "model.safetensors").write_bytes(b"\x00\x01garbage")
    with pytest.raises(CheckpointError, match="corrupt safetensors"):
        load_checkpoint(ckpt)
    (ckpt / "state.json").write_text("{}")
    with pytest.raises(CheckpointError, match="not an EBM Studio checkpoint"):
        load_checkpoint(ckpt)
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        load_checkpoint(tmp_path)
    pt = tmp_path / "model.pt"
    pt.write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(CheckpointError, match="refusing a pickle"):
        load_checkpoint(pt)


def test_checkpoint_of_other_architecture_is_refused(tmp_path):
    trainer = Trainer(tiny_cfg(), tmp_path / "run")
    list(trainer.events(1))
    ckpt = RunDir(tmp_path / "run").latest_checkpoint()
    state = json.loads((ckpt / "state.json").read_text())
    state["config"]["model"]["width"] = 64
    (ckpt / "state.json").write_text(json.dumps(state))
    with pytest.raises(CheckpointError, match="does not fit"):
        load_model(ckpt)


def test_metrics_parser_skips_a_torn_line():
    rows = parse_metrics("iteration,wall_time,loss\n1,0.1,0.5\n2,0.2,0.4\n3,0.3")
    assert [r["iteration"] for r in rows] == [1.0, 2.0]


@pytest.mark.parametrize("damage", ["no header", "not text"])
def test_a_damaged_metrics_file_is_moved_aside_on_resume(tmp_path, damage):
    """Without its header row, resume wrote empty rows under the first data row's
    numbers; a binary file gave a traceback. It is moved aside now (kept, never
    deleted), said once, and the resumed rows go into a new file with its header."""
    list(Trainer(tiny_cfg(), tmp_path / "run").events(4))
    run = RunDir(tmp_path / "run")
    if damage == "no header":
        run.metrics_path.write_text(run.metrics_path.read_text().split("\n", 1)[1])
    else:
        run.metrics_path.write_bytes(bytes(range(256)))
    spoilt = run.metrics_path.read_bytes()
    resumed = Trainer.resume(run.path)
    events = list(resumed.events(6))
    said = [e.message for e in events if isinstance(e, Warned)]
    assert len([m for m in said if "was not a metrics file" in m]) == 1
    assert (run.path / "metrics.csv.damaged").read_bytes() == spoilt
    assert [int(r["iteration"]) for r in RunDir(run.path).read_metrics()] == [5, 6]
    assert {"loss", "energy_data"} <= set(RunDir(run.path).read_metrics()[0])  # named columns


def test_an_event_after_a_torn_line_starts_a_line_of_its_own(tmp_path):
    """A writer killed mid-append left half a line; the next event was glued to it
    and lost to every reader."""
    run = RunDir(tmp_path / "run").create(tiny_cfg())
    run.append_event("checkpoint", iteration=3)
    with open(run.events_path, "a", encoding="utf-8") as fh:
        fh.write('{"time": 1, "event": "checkp')
    run.append_event("resumed", iteration=3)
    assert [e["event"] for e in run.read_events()] == ["checkpoint", "resumed"]


def test_method_knob_edits_use_defaults_and_refuse_unknown_knobs(tmp_path):
    cfg = config_for("8gaussians", "toy2d-fce", overrides=[
        ("train.batch_size", 16), ("train.checkpoint_every", 0), ("train.sample_every", 100)])
    session = Session(cfg)
    gen = session.train(None, 3)
    next(gen)
    results = [session.edit("train.options.refine_steps", 2),
               session.edit("train.options.flow_lr_scale", 0.25),
               session.edit("train.options.bogus", 1),
               session.edit("train.options.flow_mle", -1.0)]
    rest = list(gen)
    trainer = session.trainer
    applied = [e for e in rest if isinstance(e, KnobApplied)]
    assert [(e.key, e.old, e.new) for e in applied] == [("train.options.refine_steps", 0, 2),
                                                         ("train.options.flow_lr_scale", 0.5, 0.25)]
    # the knob scales the flow's learning rate from now on
    assert trainer.method.flow_opt.param_groups[0]["lr"] == pytest.approx(trainer.cfg.train.lr * 0.25)
    refused = [r.reason for r in results if type(r).__name__ == "Refused"]
    assert any("unknown config key 'train.options.bogus'" in m for m in refused)
    assert any("train.options.flow_mle must be >= 0" in m for m in refused)
    assert trainer.cfg.train.options["refine_steps"] == 2
    assert trainer.cfg.train.options.get("flow_mle", 1.0) == 1.0 and trainer.method.opts.flow_mle == 1.0
    assert trainer.method.opts.refine_steps == 2  # the options follow the config in force


def test_ml_rate_decay_follows_its_cosine_and_resumes_exactly(tmp_path):
    """``lr_end``: the energy net's rate falls towards ``lr_end · lr`` at ``train.iterations``,
    and a resumed run continues the same schedule (the weights match a straight run)."""
    cfg = tiny_cfg(train__iterations=8).with_value("train.options.lr_end", 0.1)
    straight = Trainer(cfg, tmp_path / "a")
    list(straight.events(8))
    share = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 7 / 8))  # set before the 8th step
    assert straight.method.opt.param_groups[0]["lr"] == pytest.approx(cfg.train.lr * share)
    first = Trainer(cfg, tmp_path / "b")
    list(first.events(4))
    resumed = Trainer.resume(tmp_path / "b")
    list(resumed.events(8))
    for key, value in weights(straight).items():
        assert torch.equal(value, weights(resumed)[key]), key


def test_a_checkpoint_without_optimiser_state_keeps_its_place_in_the_rate_schedule(tmp_path):
    """A zoo entry ships no optimiser state: resuming it starts fresh optimisers, but the
    rate schedule goes on from the checkpoint's iteration (not from its start), and so
    does a later resume of the continued run."""
    from benchmarks.build_zoo import strip_optimizer

    cfg = tiny_cfg(train__iterations=8).with_value("train.options.lr_end", 0.1)

    def lr_before(step: int) -> float:  # the rate set before optimiser step `step` + 1
        return cfg.train.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / 8)))

    list(Trainer(cfg, tmp_path / "run").events(4))
    strip_optimizer(RunDir(tmp_path / "run").latest_checkpoint())
    resumed = Trainer.resume(tmp_path / "run")
    assert resumed.method.schedule_offset == 4 and not resumed.method.opt.state
    list(resumed.events(6))
    assert resumed.method.opt.param_groups[0]["lr"] == pytest.approx(lr_before(5))
    again = Trainer.resume(tmp_path / "run")  # its own checkpoint, optimiser state and all
    assert again.method.schedule_offset == 4
    list(again.events(8))
    assert again.method.opt.param_groups[0]["lr"] == pytest.approx(lr_before(7))


def test_config_json_is_made_to_say_the_settings_a_resumed_run_goes_on_with(tmp_path):
    """An edited config.json was ignored on resume without a word (and went on saying the
    edit); a damaged one blocked `--resume` although the checkpoint holds the settings."""
    from ebm_engine.cli import main

    list(Trainer(tiny_cfg(), tmp_path / "run").events(4))
    run = RunDir(tmp_path / "run")
    trained = run.read_config()
    run.write_config(trained.with_value("model.width", 8))
    events = list(Trainer.resume(run.path, check_config=True).events(5))
    said = [e.message for e in events if isinstance(e, Warned)]
    assert any("model.width 8 → 32" in m for m in said)
    assert run.read_config() == trained
    run.config_path.write_text(run.config_path.read_text()[:100])
    assert main(["train", "--resume", str(run.path), "--steps", "1", "--quiet"]) == 0
    assert run.read_config() == trained
    assert [int(r["iteration"]) for r in run.read_metrics()] == list(range(1, 7))


def test_a_run_folder_deleted_while_training_is_not_recreated_half(tmp_path):
    """`rm -rf RUN` while it trained: the final checkpoint made RUN/checkpoints/iter_N again,
    without config.json, so the folder could not be resumed and looked like a run."""
    import shutil

    trainer = Trainer(tiny_cfg(), tmp_path / "run")
    said = []
    for event in trainer.events(3):
        if isinstance(event, TrainStep) and event.iteration == 1:
            shutil.rmtree(tmp_path / "run")
        if isinstance(event, Warned):
            said.append(event.message)
    assert not (tmp_path / "run").exists()
    assert any("is gone" in m and "no checkpoint written" in m for m in said)
