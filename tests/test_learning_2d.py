"""Learning check: an MLP EBM trained on the 8-Gaussians demo."""

from __future__ import annotations

import numpy as np
import torch

from ebm_engine.data.toy2d import eight_gaussian_modes
from ebm_engine.learning.trainer import Trainer
from ebm_engine.presets import config_for


def test_mlp_ebm_learns_eight_gaussians():
    cfg = config_for("8gaussians", overrides=[
        ("train.batch_size", 128), ("train.sample_every", 1000), ("train.checkpoint_every", 0),
    ])
    trainer = Trainer(cfg, None)
    list(trainer.events(500))

    modes = torch.tensor(eight_gaussian_modes(), dtype=torch.float32)
    angles = np.arange(8) * np.pi / 4 + np.pi / 8  # halfway between neighbouring modes
    between = torch.tensor(3.0 * np.stack([np.cos(angles), np.sin(angles)], 1), dtype=torch.float32)
    with torch.no_grad():
        e_modes, e_between = trainer.method.energy(modes), trainer.method.energy(between)
        e_centre = trainer.method.energy(torch.zeros(1, 2))
    # Every mode is lower than both of its gaps, and the empty centre is high.
    for i in range(8):
        assert e_modes[i] < e_between[i] and e_modes[i] < e_between[i - 1], i
    assert e_modes.max() < e_centre.item()

    # Samples of the trained model (settled persistent chains, as `ebm sample` takes them)
    # stay by the modes: under a heavy energy penalty (energy_l2 0.1) the empty plane is
    # a flat plateau, and 6 % of them wandered out across it, to radius 9.
    settled = list(trainer.method.sample(1000))[-1].x
    off = np.linalg.norm(settled[:, None] - eight_gaussian_modes()[None], axis=2).min(1) > 1.5
    assert off.mean() < 0.02, off.mean()

    # Short-run samples from fresh noise cover all 8 modes.
    cfg_noise = trainer.cfg.with_value("sampler.init", "noise")
    trainer.method.configure(cfg_noise)
    trainer.method.buffer = None
    samples = list(trainer.method.sample(2000, n_steps=100))[-1].x
    dist = np.linalg.norm(samples[:, None] - eight_gaussian_modes()[None], axis=2)
    near = dist.min(1) < 1.0
    counts = np.bincount(dist.argmin(1)[near], minlength=8)
    assert near.mean() > 0.5
    assert counts.min() > 0.04 * near.sum(), counts
