"""FRAME: the filter bank, piecewise-linear potentials, histogram matching, resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ebm_engine.config import RunConfig
from ebm_engine.errors import ConfigError
from ebm_engine.learning.events import SamplesReady
from ebm_engine.learning.trainer import Trainer
from ebm_engine.methods.frame import histogram_tv
from ebm_engine.models.frame import KERNEL, FrameEnergy


def tiny_config(**train) -> RunConfig:
    raw = {
        "data": {"source": "frame-texture", "image_size": 24},
        "model": {"name": "frame"},
        "sampler": {"n_steps": 8, "step_size": 0.05, "noise_scale": 1.0, "clamp": True,
                    "init": "persistent", "init_noise": "uniform", "buffer_size": 4,
                    "reinit_prob": 0.0},
        "train": {"method": "frame", "batch_size": 4, "lr": 0.05, "beta1": 0.5, "energy_l2": 0.0,
                  "device": "cpu", "sample_every": 1000, "seed": 0, "checkpoint_every": 0,
                  "options": {"bins": 16, "orientations": 2, "scales": 1}, **train},
    }
    return RunConfig.from_dict(raw)


def test_fft_responses_are_circular_convolutions_and_potentials_interpolate():
    torch.manual_seed(0)
    net = FrameEnergy(2, bins=8)
    x = torch.rand(3, 2, 16, 20) * 2 - 1
    pad = KERNEL // 2
    ref = F.conv2d(F.pad(x.reshape(6, 1, 16, 20), (pad,) * 4, mode="circular"), net.bank)
    torch.testing.assert_close(net.responses(x), ref.reshape(3, -1, 16, 20), atol=1e-5, rtol=0)
    net.fit_range(x)
    with torch.no_grad():
        net.potentials.normal_()
    knots = net.knots().numpy()
    lam = net.potentials.detach().numpy()
    r = ref.reshape(3, -1, 16, 20).numpy()
    inside = (r >= knots[None, :, :1, None]) & (r <= knots[None, :, -1:, None])
    assert inside.all()  # fitted range covers the data
    phi = sum(np.interp(r[:, k], knots[k], lam[k]).sum((1, 2)) for k in range(net.n_potentials))
    np.testing.assert_allclose(-net(x).detach().numpy(), phi, rtol=1e-4)
    # ∂(−f)/∂λ are the soft counts: each response adds weight 1 over its two knots
    net.zero_grad()
    (-net(x).sum()).backward()
    np.testing.assert_allclose(net.potentials.grad.sum(1).numpy(), 3 * 16 * 20, rtol=1e-5)
    # the x-gradient (hand-written backward) matches finite differences
    xr = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(net(xr).sum(), xr)
    d = torch.zeros_like(x)
    d[1, 0, 5, 7] = 1e-3
    fd = (net(x + d).sum() - net(x - d).sum()).detach() / 2e-3
    assert float(g[1, 0, 5, 7]) == pytest.approx(float(fd), rel=0.05, abs=0.05)


def test_learned_potentials_bring_sample_histograms_to_the_data():
    trainer = Trainer(tiny_config(), None)
    method, data = trainer.method, trainer.dataset.items
    before = histogram_tv(method.net, torch.from_numpy(list(method.sample(4))[-1].x), data)
    list(trainer.events(40))
    assert method.net.potentials.abs().max() > 0.1  # the potentials learned something
    after = histogram_tv(method.net, torch.from_numpy(list(method.sample(4, n_steps=30))[-1].x),
                         data)
    assert after < 0.3 * before, (before, after)


def test_snapshot_shows_the_bank_and_whole_curves(tmp_path):
    trainer = Trainer(tiny_config(sample_every=2, record_every=4, snapshot_size=2), tmp_path / "r")
    snap = [e for e in trainer.events(2) if isinstance(e, SamplesReady)][-1]
    k = trainer.method.net.n_potentials  # 1 + 2 ∇ + 1 DoG + 2·2 Gabor = 8, more than the 2 samples
    assert k == 8 and len(trainer.method.filter_names()) == 8
    assert snap.extras["potential curves"].shape == (k, 2, 16)
    hist = snap.extras["response histogram curves"]
    assert hist.shape == (k, 3, 16)
    np.testing.assert_allclose(hist[:, 1:].sum(-1), 1.0, rtol=1e-5)
    assert snap.extras["filter bank"].ndim == 4


def test_resume_is_exact(tmp_path):
    straight = Trainer(tiny_config(), tmp_path / "a")
    list(straight.events(4))
    half = Trainer(tiny_config(), tmp_path / "b")
    list(half.events(2))
    resumed = Trainer.resume(tmp_path / "b")
    list(resumed.events(4))
    torch.testing.assert_close(resumed.method.net.potentials, straight.method.net.potentials)
    torch.testing.assert_close(resumed.method.buffer.states, straight.method.buffer.states)


def test_too_small_images_are_refused():
    cfg = RunConfig.from_dict({"data": {"source": "frame-texture", "image_size": 8},
                               "model": {"name": "frame"}, "train": {"method": "frame"}})
    with pytest.raises(ConfigError, match="at least 13x13"):
        Trainer(cfg, None)


def test_the_bank_has_nearest_neighbour_differences():
    """∇x, ∇y (Zhu et al.'s gradient filters) see pixel-level noise, which the
    band-pass filters barely do: without them the samples come out speckled."""
    net = FrameEnergy(1, bins=8)
    names = net.filter_names
    ix, iy = names.index("∇x"), names.index("∇y")
    ramp = torch.arange(20.0).repeat(16, 1)[None, None] * 0.01  # rises 0.01 per column
    r = net.responses(ramp)[0, :, 4:-4, 4:-4]  # away from the wrap-around seam
    torch.testing.assert_close(r[ix], torch.full_like(r[ix], 0.005))  # unit L1 norm: slope / 2
    torch.testing.assert_close(r[iy], torch.zeros_like(r[iy]))
    g = torch.Generator().manual_seed(0)
    smooth = torch.nn.functional.avg_pool2d(torch.rand(1, 1, 36, 36, generator=g), 5, 1)
    noise = torch.rand(1, 1, 32, 32, generator=g) * (smooth.max() - smooth.min()) + smooth.min()
    fine = [i for i, n in enumerate(names) if n.startswith("DoG σ=0.8")][0]
    ratio_grad = net.responses(noise)[0, ix].std() / net.responses(smooth)[0, ix].std()
    ratio_dog = net.responses(noise)[0, fine].std() / net.responses(smooth)[0, fine].std()
    assert ratio_grad > ratio_dog  # ∇x separates noise from smooth structure best
