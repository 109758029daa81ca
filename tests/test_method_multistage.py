"""Multi-stage expanding EBMs: stage schedule, expanding chains, learning, exact resume."""

from __future__ import annotations

import pytest
import torch

from ebm_engine.config import RunConfig
from ebm_engine.errors import ConfigError
from ebm_engine.learning._quality import moment_distance, pixel_mmd
from ebm_engine.learning.events import SamplesReady, TrainStep
from ebm_engine.learning.loading import load_model
from ebm_engine.learning.trainer import Trainer
from ebm_engine.methods._pyramid import downsample, upsample
from ebm_engine.methods.multistage import default_stages


def tiny_config(options: dict | None = None, **train) -> RunConfig:
    raw = {
        "data": {"source": "digits", "max_items": 256},
        "model": {"name": "convnet", "width": 8, "depth": 1},
        "sampler": {"n_steps": 10, "step_size": 0.01, "grad_scale": 20000.0, "clamp": True,
                    "init": "persistent", "buffer_size": 256, "init_noise": "uniform"},
        "train": {"method": "multistage", "batch_size": 32, "lr": 2e-3, "beta1": 0.0,
                  "energy_l2": 1.0, "device": "cpu", "sample_every": 1000, "seed": 0,
                  "checkpoint_every": 0,
                  "options": {"resolutions": [4, 8, 16], "stage_iterations": 20,
                              "fade_iterations": 5, **(options or {})}, **train},
    }
    return RunConfig.from_dict(raw)


def test_stage_schedule_and_fade():
    method = Trainer(tiny_config(), None).method
    assert [method.stage_at(i) for i in (0, 19)] == [(0, 1.0), (0, 1.0)]
    assert method.stage_at(20) == (1, 0.2) and method.stage_at(24) == (1, 1.0)
    assert method.stage_at(40)[0] == 2 and method.stage_at(10**6)[0] == 2  # the last stage stays
    assert default_stages(16) == [4, 8, 16] and default_stages(64) == [8, 16, 32, 64]


def test_chains_and_network_expand_with_the_stages(tmp_path):
    cfg = tiny_config({"stage_iterations": 2, "fade_iterations": 2}, sample_every=1, snapshot_size=8)
    trainer = Trainer(cfg, tmp_path / "run")
    seen = []
    for event in trainer.events(5):
        if isinstance(event, TrainStep):
            seen.append((event.metrics["resolution"], event.metrics["alpha"]))
        if isinstance(event, SamplesReady):
            assert event.samples.shape == (8, 1, 16, 16)
            assert set(event.extras) == {"chain start", "data at stage resolution"}
            assert all(v.shape == (8, 1, 16, 16) for v in event.extras.values())
    assert seen == [(4, 1.0), (4, 1.0), (8, 0.5), (8, 1.0), (16, 0.5)]
    buffer = trainer.method.buffer.states
    assert buffer.shape[-1] == 16
    # the 8x8 chains were up-sampled by repeating pixels; one 16x16 update since then
    loaded = load_model(tmp_path / "run", device="cpu")
    assert loaded.method.stage == 2
    frames = list(loaded.method.sample(12, record_every=5))
    assert frames[-1].x.shape == (12, 1, 16, 16) and frames[0].x.shape[0] == 8
    x = torch.rand(3, 1, 4, 4)
    torch.testing.assert_close(downsample(upsample(x, 16), 4), x)


def test_multistage_learns_digit_statistics():
    trainer = Trainer(tiny_config({"stage_iterations": 12, "fade_iterations": 4}, lr=3e-3), None)
    data = trainer.items

    def samples() -> torch.Tensor:
        return torch.from_numpy(list(trainer.method.sample(128))[-1].x)

    before = samples()
    list(trainer.events(45))
    assert trainer.method.stage == 2
    after = samples()
    assert moment_distance(after, data) < 0.8 * moment_distance(before, data)
    assert pixel_mmd(after, data) < 0.6 * pixel_mmd(before, data)


def test_multistage_resume_across_a_stage_change_is_exact(tmp_path):
    cfg = tiny_config({"stage_iterations": 2, "fade_iterations": 1})
    straight = Trainer(cfg, tmp_path / "a")
    list(straight.events(4))
    list(Trainer(cfg, tmp_path / "b").events(2))
    resumed = Trainer.resume(tmp_path / "b")
    assert resumed.method.stage == 1
    list(resumed.events(4))
    a, b = straight.method.net.state_dict(), resumed.method.net.state_dict()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    torch.testing.assert_close(straight.method.buffer.states, resumed.method.buffer.states,
                               rtol=0, atol=0)


def test_multistage_refuses_bad_schedules_and_2d_data():
    with pytest.raises(ConfigError, match="resolutions"):
        Trainer(tiny_config({"resolutions": [4, 8]}), None)
    with pytest.raises(ConfigError, match="stage_iterations"):
        Trainer(tiny_config({"stage_iterations": 0}), None)
    cfg = RunConfig.from_dict({"data": {"source": "8gaussians"},
                               "train": {"method": "multistage", "device": "cpu"}})
    with pytest.raises(ConfigError, match="square images"):
        Trainer(cfg, None)


def test_multistage_data_term_sees_jittered_data_with_data_noise():
    """``data_noise`` reaches the data term: one step from the same state scores the
    data batch differently with jitter than without (and the same without, twice)."""
    def energy_data(noise: float) -> float:
        trainer = Trainer(tiny_config({"data_noise": noise}), None)
        step = next(e for e in trainer.events(1) if isinstance(e, TrainStep))
        return step.metrics["energy_data"]

    assert energy_data(0.0) == energy_data(0.0)
    assert energy_data(0.5) != energy_data(0.0)
