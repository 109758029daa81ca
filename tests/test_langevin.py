"""Statistical checks of the Langevin sampler on energies with known laws."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ebm_engine.config import SamplerConfig
from ebm_engine.sampling import PersistentBuffer, energy_of, langevin, run_langevin
from ebm_engine.sampling.buffer import SETTLED_AGE

MEAN = torch.tensor([1.0, -2.0])
STD = torch.tensor([0.5, 1.0])


def gaussian_energy(x: torch.Tensor) -> torch.Tensor:
    """E(x) = Σ (x - μ)² / (2 s²): the law exp(-E) is N(μ, diag s²)."""
    return ((x - MEAN) ** 2 / (2 * STD**2)).sum(1)


def run_chains(cfg: SamplerConfig, n_chains: int = 4000, n_steps: int = 3000) -> np.ndarray:
    gen = torch.Generator().manual_seed(0)
    x0 = torch.zeros(n_chains, 2)
    x, _ = run_langevin(gaussian_energy, x0, cfg, n_steps=n_steps, generator=gen)
    return x.numpy()


def test_langevin_reaches_gaussian_mean_and_variance():
    x = run_chains(SamplerConfig(step_size=0.1))
    np.testing.assert_allclose(x.mean(0), MEAN.numpy(), atol=0.05)
    # Unadjusted Langevin's bias at δ = 0.1 is about 1 %; 4000 chains give ~2 % error.
    np.testing.assert_allclose(x.var(0), (STD**2).numpy(), rtol=0.07)


def test_wrong_drift_or_missing_noise_would_fail():
    """The tolerance above separates the right sampler from broken ones."""
    # Dropping δ²/2 (drift δ²) halves the stationary variance.
    doubled = run_chains(SamplerConfig(step_size=0.1, grad_scale=2.0))
    assert np.all(np.abs(doubled.var(0) / (STD**2).numpy() - 1) > 0.3)
    # Without noise the chains collapse onto the mode.
    silent = run_chains(SamplerConfig(step_size=0.1, noise_scale=0.0))
    assert np.all(silent.var(0) < 0.01)
    np.testing.assert_allclose(silent.mean(0), MEAN.numpy(), atol=0.05)


def test_reference_sigma_alone_gives_its_gaussian():
    zero = torch.nn.Linear(2, 1)
    torch.nn.init.zeros_(zero.weight)
    torch.nn.init.zeros_(zero.bias)
    net = lambda x: zero(x).squeeze(1)  # noqa: E731 - f(x) = 0
    energy = energy_of(net, reference_sigma=0.7)
    gen = torch.Generator().manual_seed(1)
    x, _ = run_langevin(energy, torch.zeros(4000, 2), SamplerConfig(step_size=0.05), n_steps=1000,
                        generator=gen)
    np.testing.assert_allclose(x.numpy().var(0), [0.49, 0.49], rtol=0.07)
    assert math.isinf(SamplerConfig().reference_sigma)


def test_clamp_keeps_chains_in_range():
    cfg = SamplerConfig(step_size=0.5, clamp=True)
    x, _ = run_langevin(gaussian_energy, torch.zeros(500, 2), cfg, n_steps=50, value_range=(-1.0, 1.0))
    assert x.min() >= -1.0 and x.max() <= 1.0
    unclamped, _ = run_langevin(gaussian_energy, torch.zeros(500, 2), SamplerConfig(step_size=0.5),
                                n_steps=50)
    assert unclamped.abs().max() > 1.0


def test_frames_are_recorded_and_detached():
    cfg = SamplerConfig(step_size=0.1)
    frames = list(langevin(gaussian_energy, torch.zeros(32, 2), cfg, n_steps=20, record_every=5,
                           n_record=4))
    assert [f.step for f in frames] == [0, 5, 10, 15, 20]
    assert all(f.x.shape == (4, 2) for f in frames[:-1])
    assert frames[-1].x.shape == (32, 2) and frames[-1].energy.shape == (32,)
    assert isinstance(frames[0].x, np.ndarray)
    # Energy of a recorded frame is the energy of its state.
    expected = gaussian_energy(torch.from_numpy(frames[2].x)).numpy()
    np.testing.assert_allclose(frames[2].energy, expected, rtol=1e-5)
    # The chain moved toward the mean: energy fell.
    assert frames[-1].energy.mean() < frames[0].energy.mean()


def test_x0_is_not_modified():
    x0 = torch.zeros(8, 2)
    run_langevin(gaussian_energy, x0, SamplerConfig(), n_steps=5)
    assert torch.count_nonzero(x0) == 0


@pytest.mark.parametrize("reinit", [0.0, 1.0])
def test_persistent_buffer_reinitialises_with_probability(reinit: float):
    cfg = SamplerConfig(init_noise="uniform", init_scale=1.0, reinit_prob=reinit)
    gen = torch.Generator().manual_seed(0)
    buf = PersistentBuffer(100, (2,), cfg, "cpu", gen)
    buf.store(torch.arange(100), torch.full((100, 2), 5.0))
    idx, starts = buf.draw(50)
    stored = (starts == 5.0).all(1).float().mean().item()
    assert stored == pytest.approx(1.0 - reinit)
    assert idx.shape == (50,)


def test_frozen_relays_conv_weights_only_for_the_duration():
    from torch import nn

    from ebm_engine.sampling import frozen

    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(1))
    net(torch.zeros(1, 3, 8, 8))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    weight = net[0].weight
    with frozen(net):
        assert weight.is_contiguous(memory_format=torch.channels_last)
        assert not weight.requires_grad
    assert weight.is_contiguous() and weight.requires_grad
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_ml_samples_continue_the_buffer_without_fresh_noise_chains():
    """Training restarts buffer chains with reinit_prob; sampling a trained model
    must not (a fresh noise start given only n_steps stays a noise image)."""
    from ebm_engine.learning.trainer import Trainer
    from ebm_engine.presets import config_for

    cfg = config_for("8gaussians", None, [("sampler.init", "persistent"),
                                          ("sampler.reinit_prob", 1.0),
                                          ("sampler.buffer_size", 64)])
    method = Trainer(cfg, None).method
    method.buffer.states.fill_(0.25)
    x = list(method.sample(16, n_steps=0))[-1].x
    assert (x == 0.25).all()


def test_sampling_takes_settled_chains_at_random_not_the_oldest():
    """A chain restarted from noise a few visits ago is still noise, and the oldest
    chains drift furthest: sampling a trained model draws chains of at least
    SETTLED_AGE visits at random, the youngest only when too few are settled; ages
    survive a checkpoint."""
    cfg = SamplerConfig(init_noise="uniform", init_scale=1.0, reinit_prob=0.1)
    buf = PersistentBuffer(60, (2,), cfg, "cpu", torch.Generator().manual_seed(0))
    for _ in range(300):  # training visits: draw (with restarts), run, store back
        idx, starts = buf.draw(10)
        buf.store(idx, starts)
    settled = buf.ages >= SETTLED_AGE
    assert 20 < int(settled.sum()) < 60  # some chains are young
    idx, starts = buf.draw(20, reinit=False)
    assert (buf.ages[idx] >= SETTLED_AGE).all() and len(set(idx.tolist())) == 20
    assert torch.equal(starts, buf.states[idx])
    oldest = buf.ages.sort(descending=True).values[:20]
    assert buf.ages[idx].float().mean() < oldest.float().mean()  # not simply the oldest
    every, _ = buf.draw(60, reinit=False)  # all: the unsettled come last, oldest first
    tail = buf.ages[every[int(settled.sum()):]]
    assert (tail < SETTLED_AGE).all() and (tail[:-1] >= tail[1:]).all()
    copy = PersistentBuffer(60, (2,), cfg, "cpu")
    copy.load_state_tensors(buf.state_tensors())
    assert torch.equal(copy.ages, buf.ages)


def test_buffer_loads_float16_chains_back_as_its_own_float32():
    """A zoo entry may ship its persistent chains as float16: loading casts them back,
    so Langevin runs in float32 on the chains to float16 precision."""
    cfg = SamplerConfig(init_noise="uniform", init_scale=1.0)
    buf = PersistentBuffer(40, (3,), cfg, "cpu", torch.Generator().manual_seed(0))
    shipped = {k: v.half() if k == "states" else v for k, v in buf.state_tensors().items()}
    copy = PersistentBuffer(40, (3,), cfg, "cpu")
    copy.load_state_tensors(shipped)
    assert copy.states.dtype == torch.float32
    assert torch.allclose(copy.states, buf.states, atol=1e-3)
