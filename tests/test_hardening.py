"""Hardening: stops within 2 s even mid-chain, a diverged step changes
nothing, non-finite knobs are refused, long runs keep disk bounded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from ebm_engine.cli import main
from ebm_engine.config import RunConfig
from ebm_engine.errors import ConfigError
from ebm_engine.learning.events import Diverged, Finished, RunStarted, TrainStep
from ebm_engine.learning.trainer import Trainer
from ebm_engine.runs.rundir import RunDir
from ebm_engine.session import Session

HUGE_CHAIN = 10**6


def endless_chain_cfg(**sampler) -> RunConfig:
    return RunConfig.from_dict({
        "model": {"width": 16, "depth": 2},
        "sampler": {"n_steps": HUGE_CHAIN, "step_size": 0.01, **sampler},
        "train": {"batch_size": 16, "iterations": 5, "checkpoint_every": 0},
    })


def test_stop_reaches_inside_a_million_step_chain(tmp_path: Path):
    session = Session(endless_chain_cfg())
    events = session.train(tmp_path / "run")
    seen: list = []
    started = threading.Event()

    def consume():
        for event in events:
            if isinstance(event, RunStarted):
                started.set()
            seen.append(event)

    worker = threading.Thread(target=consume)
    worker.start()
    assert started.wait(60)
    worker.join(0.5)  # let the chain get going (it would run for many minutes)
    t0 = time.monotonic()
    session.stop()
    worker.join(30)
    took = time.monotonic() - t0
    assert not worker.is_alive() and took < 2.0
    assert isinstance(seen[-1], Finished) and seen[-1].reason == "stopped"
    assert not any(isinstance(e, TrainStep) for e in seen)  # the iteration was discarded
    # the checkpoint is the last complete iteration, and it resumes
    latest = RunDir(tmp_path / "run").latest_checkpoint()
    assert latest is not None and latest.name == "iter_0000000"
    assert Trainer.resume(tmp_path / "run").iteration == 0


def test_sigterm_stops_the_cli_within_2_s_mid_chain(tmp_path: Path):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "ebm_engine", "train", "--data", "8gaussians", "--out", str(run),
           "--set", "model.width=16", "--set", "model.depth=2", "--set", "train.batch_size=16",
           "--set", "sampler.n_steps=1000000000", "--quiet"]
    proc = subprocess.Popen(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        end = time.monotonic() + 120
        while not (run / "config.json").is_file():
            assert time.monotonic() < end and proc.poll() is None, proc.stderr.read().decode()
            try:
                proc.wait(0.05)
            except subprocess.TimeoutExpired:
                pass
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(1.0)  # well inside the first chain now
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read().decode()
    assert code == 143 and took < 2.0, err
    assert "terminated at iteration 0" in err and "Traceback" not in err
    assert RunDir(run).latest_checkpoint() is not None


def diverging_cfg() -> RunConfig:
    return RunConfig.from_dict({
        "model": {"width": 16, "depth": 2},
        "sampler": {"n_steps": 3, "step_size": 1e6, "init": "persistent", "buffer_size": 64},
        "train": {"batch_size": 16, "iterations": 3, "checkpoint_every": 0},
    })


def test_a_diverged_step_changes_nothing():
    trainer = Trainer(diverging_cfg(), None)
    method = trainer.method
    buffer = method.buffer.states.clone()
    weights = {k: v.clone() for k, v in method.net.state_dict().items()}
    events = trainer.events()
    first = next(events)
    assert isinstance(first, Diverged)
    assert torch.equal(method.buffer.states, buffer)  # NaN/huge chains never stored
    assert all(torch.equal(v, method.net.state_dict()[k]) for k, v in weights.items())
    assert not method.opt.state  # no optimiser step, no moments
    assert all(p.grad is None for p in method.net.parameters())


def test_a_failing_step_keeps_the_iterations_before_it(tmp_path: Path):
    # An unforeseen error inside iteration 5 (no checkpoint due) must leave a
    # checkpoint of iteration 4 that resumes, not an empty run folder.
    cfg = RunConfig.from_dict({
        "model": {"width": 16, "depth": 2}, "sampler": {"n_steps": 5, "step_size": 0.01},
        "train": {"batch_size": 16, "iterations": 10, "checkpoint_every": 0,
                  "checkpoint_minutes": 0},
    })
    trainer = Trainer(cfg, tmp_path / "run")
    step, calls = trainer.method.train_step, []

    def failing(batch, record_every):
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("a bug in a step")
        return step(batch, record_every)

    trainer.method.train_step = failing
    with pytest.raises(RuntimeError, match="a bug in a step"):
        for _ in trainer.events():
            pass
    resumed = Trainer.resume(tmp_path / "run")
    assert resumed.iteration == 4
    assert [type(e) for e in resumed.events(6)][-1] is Finished


def test_retries_after_a_divergence_are_reproducible():
    def run():
        trainer = Trainer(diverging_cfg(), None)
        [e for e in trainer.events()]
        return trainer.rng.get_state(), trainer.method.buffer.states.clone()

    (rng_a, buf_a), (rng_b, buf_b) = run(), run()
    assert torch.equal(rng_a, rng_b) and torch.equal(buf_a, buf_b)


@pytest.mark.parametrize("value", ["1e400", "-1e400", "NaN", "Infinity"])
def test_non_finite_numbers_are_refused_everywhere(tmp_path: Path, value: str, capsys):
    with pytest.raises(ConfigError, match="train.lr must be a"):
        RunConfig().with_value("train.lr", value)
    code = main(["train", "--data", "8gaussians", "--out", str(tmp_path / "r"),
                 "--set", f"sampler.step_size={value}"])
    err = capsys.readouterr().err
    assert code == 2 and "sampler.step_size" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()
    raw = RunConfig().to_dict()
    raw["train"]["lr"] = "inf"
    with pytest.raises(ConfigError, match="train.lr must be a"):
        RunConfig.from_dict(raw)


@pytest.mark.parametrize(("key", "value", "word"), [
    ("sampler.step_size", "1e300", "large"),  # δ²/2 overflows
    # float32 tensors: these passed the old 1e150 limit and died in a tensor op
    ("train.options.post_step_size", "1e100", "large"),
    ("sampler.reference_sigma", "1e-200", "small"),  # 1/2σ² divides by 0
    ("train.options.obs_sigma", "1e-200", "small"),  # a method's own sigma
])
def test_sizes_whose_square_breaks_the_maths_are_refused(tmp_path: Path, key, value, word, capsys):
    # "> 0" and finite, yet squared they overflow or round to 0: before the check
    # these ran until the first Langevin step and died with an internal error.
    code = main(["train", "--data", "8gaussians", "--method", "latent_ebm",
                 "--out", str(tmp_path / "r"), "--set", f"{key}={value}"])
    err = capsys.readouterr().err
    assert code == 2 and f"{key} is too {word}" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()
    assert RunConfig().with_value("sampler.step_size", "1e15").sampler.step_size == 1e15
    # a knob with a ceiling of its own is held to that, not to the float32 size rule
    assert RunConfig().with_value("train.seed", str(2**62)).train.seed == 2**62


def test_checkpoints_by_time_and_bounded_by_retention(tmp_path: Path):
    cfg = RunConfig.from_dict({
        "model": {"width": 8, "depth": 1}, "sampler": {"n_steps": 2},
        "train": {"batch_size": 8, "iterations": 7, "checkpoint_every": 0,
                  "checkpoint_minutes": 1e-9, "keep_checkpoints": 2, "milestone_every": 4},
    })
    list(Trainer(cfg, tmp_path / "run").events())
    folders = sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("iter_*"))
    # every iteration checkpointed by time; kept: the newest two and the milestone at 4
    assert folders == ["iter_0000004", "iter_0000006", "iter_0000007"]
    assert Trainer.resume(tmp_path / "run").iteration == 7


@pytest.mark.parametrize(("argv", "message"), [
    # a layer count with no ceiling filled 24 GB (OOM-killed, no message) or ran for minutes
    (["--data", "sequence-translation", "--set", "train.options.gen_blocks=100000"],
     "train.options.gen_blocks must be <= 64"),
    (["--data", "shapes-points", "--set", "model.options.head_depth=1000000"],
     "model.options.head_depth must be <= 64"),
    # past 2**63: "Overflow when unpacking long long"
    (["--data", "digits", "--method", "coopnets", "--set",
      "train.options.z_dim=100000000000000000000"], "train.options.z_dim must be <= 8192"),
    (["--data", "digits", "--set", "model.name=classifier", "--set",
      "model.options.n_classes=-5"], "model.options.n_classes must be >= 2"),
    (["--data", "digits", "--set", "model.options.leaky_slope=Infinity"],
     "model.options.leaky_slope must be a finite number"),
    (["--data", "grammar-text", "--set", "train.options.temperature=1e-100"],
     "train.options.temperature must be >= 0.01"),
    # trained, then every sampling of the run failed until --option sample_attribute=-1
    (["--data", "grammar-text-controlled", "--set", "train.options.sample_attribute=99"],
     "train.options.sample_attribute must be < 4"),
    (["--data", "grammar-text", "--set", "train.options.sample_attribute=2"],
     "this data has no attribute to sample by"),
    # trained as given: a noise schedule that decreases, classes no item is labelled with
    (["--data", "digits", "--method", "recovery", "--set",
      "train.options.schedule=[0.9,0.7,0.5,0.3,0.2,0.05]"], "schedule must not decrease"),
    (["--data", "digits-semi-supervised", "--set", "train.options.n_classes=20"],
     "has 10 classes, but symbol_vector's train.options.n_classes is 20"),
])
def test_network_and_method_knobs_without_a_ceiling_are_refused(tmp_path, capsys, argv, message):
    assert main(["train", *argv, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_sampling_cannot_change_a_knob_training_fixed(tmp_path, capsys):
    """--option T=3 on a six-level recovery model was an IndexError; z_dim and others
    were tracebacks or silently ignored. Knobs a running run may change still apply."""
    out = str(tmp_path / "x.png")
    assert main(["sample", "--run", "zoo:digits-recovery", "--n", "2", "--steps", "1",
                 "--option", "T=3", "--out", out]) == 2
    assert "train.options.T was fixed by training (6)" in capsys.readouterr().err
    assert main(["sample", "--run", "zoo:digits-recovery", "--n", "2", "--steps", "1",
                 "--option", "T=6", "--option", "step_scale=0.01", "--out", out]) == 0


def test_values_checked_together_are_taken_in_either_order():
    """--set sigma_min=0.8 --set sigma_max=0.9 was refused against the preset's 0.7;
    the other order worked."""
    from ebm_engine.presets import config_for

    pairs = [("train.options.sigma_min", "0.8"), ("train.options.sigma_max", "0.9")]
    for order in (pairs, pairs[::-1]):
        cfg = config_for("digits", "digits-recovery", order)
        assert (cfg.train.options["sigma_min"], cfg.train.options["sigma_max"]) == (0.8, 0.9)
    with pytest.raises(ConfigError, match="sigma_min/sigma_max"):  # no order makes it valid
        config_for("digits", "digits-recovery", [("train.options.sigma_min", "0.95")])
    twice = [("train.lr", "0.1"), ("train.lr", "0.2")]  # a key given twice: the last
    assert RunConfig().with_values(twice).train.lr == 0.2


def test_a_first_iteration_divergence_names_the_values_the_user_set(tmp_path, capsys):
    """Only "lower sampler.init_scale or sampler.step_size" was said, after three
    pointless rollbacks, when a typed value broke the first step."""
    code = main(["train", "--data", "8gaussians", "--set", "train.options.data_noise=1e12",
                 "--max-rollbacks", "0", "--quiet", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 1 and "diverged in iteration 1" in err
    assert "check the values you set (train.options.data_noise=1e12)" in err
