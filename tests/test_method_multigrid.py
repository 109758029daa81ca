"""Multi-grid learning and sampling: pyramid maths, learning, structure, exact resume."""

from __future__ import annotations

import pytest
import torch

from ebm_engine.config import RunConfig
from ebm_engine.errors import ConfigError
from ebm_engine.learning._quality import moment_distance, pixel_mmd
from ebm_engine.learning.events import SamplesReady
from ebm_engine.learning.loading import load_model
from ebm_engine.learning.trainer import Trainer
from ebm_engine.methods._pyramid import default_pyramid, downsample, upsample


def tiny_config(**train) -> RunConfig:
    raw = {
        "data": {"source": "digits", "max_items": 256},
        "model": {"name": "convnet", "width": 8, "depth": 1},
        "sampler": {"n_steps": 10, "step_size": 0.01, "grad_scale": 20000.0, "clamp": True},
        "train": {"method": "multigrid", "batch_size": 32, "lr": 2e-3, "beta1": 0.0,
                  "energy_l2": 1.0, "device": "cpu", "sample_every": 1000, "seed": 0,
                  "checkpoint_every": 0, "options": {"grids": [4, 8, 16], "steps_per_grid": 10},
                  **train},
    }
    return RunConfig.from_dict(raw)


def final_samples(method, n: int) -> torch.Tensor:
    return torch.from_numpy(list(method.sample(n))[-1].x)


def test_upsample_keeps_shape_and_mean_and_inverts_downsample():
    x = torch.randn(5, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    up = upsample(x, 16)
    assert up.shape == (5, 3, 16, 16)
    torch.testing.assert_close(up.mean(dim=(2, 3)), x.mean(dim=(2, 3)))
    torch.testing.assert_close(downsample(up, 4), x)
    # each pixel became a 4×4 block
    torch.testing.assert_close(up[:, :, 4:8, 8:12], x[:, :, 1:2, 2:3].expand(5, 3, 4, 4))
    assert downsample(up, 1).shape == (5, 3, 1, 1)
    assert default_pyramid(16) == [4, 8, 16] and default_pyramid(64) == [4, 16, 64]


def test_multigrid_learns_digit_statistics():
    trainer = Trainer(tiny_config(), None)
    data = trainer.items
    before = final_samples(trainer.method, 128)
    for _ in trainer.events(40):
        pass
    after = final_samples(trainer.method, 128)
    assert after.shape == (128, 1, 16, 16)
    assert moment_distance(after, data) < 0.8 * moment_distance(before, data)
    assert pixel_mmd(after, data) < 0.7 * pixel_mmd(before, data)


def test_multigrid_snapshot_shows_every_grid_and_sampling_walks_them(tmp_path):
    cfg = tiny_config(sample_every=2, record_every=5, snapshot_size=8)
    trainer = Trainer(cfg, tmp_path / "run")
    snaps = [e for e in trainer.events(2) if isinstance(e, SamplesReady)]
    snap = snaps[-1]
    assert set(snap.extras) == {"grid 1x1", "grid 4x4", "grid 8x8"}
    for grid in snap.extras.values():
        assert grid.shape == snap.samples.shape == (8, 1, 16, 16)
    # the 4x4 grid's samples are whole 4x4 blocks
    g4 = torch.from_numpy(snap.extras["grid 4x4"])
    torch.testing.assert_close(upsample(downsample(g4, 4), 16), g4)
    assert [f.step for f in snap.frames] == [0, 5, 10, 15, 20, 25, 30]
    # sampling from the checkpoint alone (no dataset) starts at the data's mean
    loaded = load_model(tmp_path / "run", device="cpu")
    assert float(loaded.method.start_mean[0]) == pytest.approx(float(trainer.items.mean()), abs=1e-4)
    frames = list(loaded.method.sample(12, record_every=5))
    assert frames[-1].x.shape == (12, 1, 16, 16) and frames[-1].step == 30
    assert all(f.x.shape[0] <= 8 for f in frames[:-1])


def test_multigrid_resume_is_exact(tmp_path):
    straight = Trainer(tiny_config(), tmp_path / "a")
    list(straight.events(4))
    split = Trainer(tiny_config(), tmp_path / "b")
    list(split.events(2))
    resumed = Trainer.resume(tmp_path / "b")
    list(resumed.events(4))
    nets_a, nets_b = straight.method.networks(), resumed.method.networks()
    assert list(nets_a) == ["grid4", "grid8", "energy"]
    for name in nets_a:
        for key, value in nets_a[name].state_dict().items():
            torch.testing.assert_close(value, nets_b[name].state_dict()[key], rtol=0, atol=0)


def test_multigrid_refuses_bad_grids_and_2d_data():
    with pytest.raises(ConfigError, match="grids"):
        Trainer(tiny_config(options={"grids": [4, 6, 16]}), None)
    cfg = RunConfig.from_dict({"data": {"source": "8gaussians"},
                               "train": {"method": "multigrid", "device": "cpu"}})
    with pytest.raises(ConfigError, match="square images"):
        Trainer(cfg, None)


def test_start_noise_gives_chains_from_the_same_mean_image_different_ends():
    # With a large gradient step and noise 0.01 the chains are nearly deterministic:
    # started from one mean image they end alike (the preset's samples were all one
    # digit); start_noise makes the coarsest grid's starts, and so the ends, differ.
    def spread(start_noise: float) -> float:
        cfg = tiny_config(options={"grids": [4, 8, 16], "steps_per_grid": 5,
                                   "start_noise": start_noise})
        method = Trainer(cfg.with_value("sampler.grad_scale", 200000.0), None).method
        method.start_std.zero_()  # every chain starts from the same 1×1 image
        x = final_samples(method, 32)
        return float(x.std(0).mean())

    alike, varied = spread(0.0), spread(0.5)
    assert alike < 0.1  # only the Langevin noise, 0.01 a step
    assert varied > 3 * alike


def persistent_config(**train) -> RunConfig:
    cfg = tiny_config(**train)
    for key, value in (("sampler.init", "persistent"), ("sampler.buffer_size", 64),
                       ("sampler.reinit_prob", 0.0)):
        cfg = cfg.with_value(key, value)
    return cfg


def test_persistent_chains_start_from_the_coarser_grid_then_continue():
    method = Trainer(persistent_config(), None).method
    assert [tuple(b.states.shape) for b in method.buffers()] == [(64, 1, 4, 4), (64, 1, 8, 8),
                                                                 (64, 1, 16, 16)]
    buf = method.bufs["grid8"]
    buf.ages[:32] = 3  # half the chains have run; the others have never started
    start = torch.full((48, 1, 8, 8), 0.25)
    idx, x0 = method._continued("grid8", start)
    ran = buf.ages[idx] > 0
    assert 0 < int(ran.sum()) < 48
    torch.testing.assert_close(x0[~ran], start[~ran])  # new chains: the coarser grid's samples
    torch.testing.assert_close(x0[ran], buf.states[idx[ran]])  # the others continue
    frames = list(method.sample(10, n_steps=3))  # the finest grid's stored chains, 3 steps more
    assert frames[-1].x.shape == (10, 1, 16, 16) and frames[-1].step == 3


def test_persistent_multigrid_resume_is_exact(tmp_path):
    straight = Trainer(persistent_config(), tmp_path / "a")
    list(straight.events(4))
    split = Trainer(persistent_config(), tmp_path / "b")
    list(split.events(2))
    resumed = Trainer.resume(tmp_path / "b")
    list(resumed.events(4))
    for a, b in zip(straight.method.buffers(), resumed.method.buffers()):
        torch.testing.assert_close(a.states, b.states, rtol=0, atol=0)
        assert torch.equal(a.ages, b.ages) and int(a.ages.sum()) > 0
    for name, net in straight.method.networks().items():
        for key, value in net.state_dict().items():
            torch.testing.assert_close(value, resumed.method.networks()[name].state_dict()[key],
                                       rtol=0, atol=0)


def test_eval_and_sample_default_to_the_steps_per_grid(tmp_path):
    """Without --steps, `ebm eval` and the session's sampling walk each grid for
    ``steps_per_grid`` steps, not for ``sampler.n_steps``."""
    from ebm_engine.metrics.evaluate import evaluate_run

    cfg = tiny_config(options={"grids": [4, 8, 16], "steps_per_grid": 3})
    list(Trainer(cfg, tmp_path / "run").events(1))
    result = evaluate_run(tmp_path / "run", n=8, write=False)
    assert result["steps"] == 3 != cfg.sampler.n_steps
    loaded = load_model(tmp_path / "run", device="cpu")
    assert list(loaded.method.sample(4, n_steps=loaded.method.sample_steps))[-1].step == 9
