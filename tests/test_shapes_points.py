"""The shipped ``shapes-points`` preset: its PointNet standardises over each
cloud's points (without it the samples stayed Gaussian blobs, issue 11) and reads
a density grid of each cloud (``model.options.splat``), its
chains persist across iterations (short runs from noise all turned into alike
shells), and training with it resumes exactly."""

from __future__ import annotations

import torch

from ebm_engine.learning.trainer import Trainer
from ebm_engine.models.pointnet import PointNorm
from ebm_engine.models.voxelnet import GenerativeVoxelNet
from ebm_engine.presets import config_for

TINY = [("data.options", {"items": 8, "points": 64}), ("model.width", 8),
        ("sampler.n_steps", 4), ("train.batch_size", 4), ("train.device", "cpu"),
        ("train.sample_every", 1000), ("train.checkpoint_every", 3),
        ("train.checkpoint_minutes", 0)]


def test_preset_uses_point_norm_centred_points_and_a_density_view():
    trainer = Trainer(config_for("shapes-points", None, TINY), None)
    net = trainer.method.net
    assert net.centered and any(isinstance(m, PointNorm) for m in net.modules())
    assert net.splat > 0 and isinstance(net.density, GenerativeVoxelNet)


def test_preset_chains_persist_across_iterations():
    """Each iteration continues the chains it drew; the others are kept for later."""
    trainer = Trainer(config_for("shapes-points", None, TINY), None)
    buffer = trainer.method.buffer
    assert buffer is not None and buffer.states.shape[0] == 200
    start = buffer.states.clone()
    list(trainer.events(3))
    moved = int(((buffer.states - start).flatten(1).abs().amax(1) > 0).sum())
    assert 0 < moved <= 3 * 4, moved  # at most the chains drawn: 3 iterations of batch 4
    x = list(trainer.method.sample(8, n_steps=0))[-1].x
    # samples start at kept chains, not at a fresh draw from N(0, 0.3²)
    kept = buffer.states.flatten(1).cpu().numpy()
    assert all((abs(kept - row.reshape(1, -1)).max(1) < 1e-6).any() for row in x.reshape(8, -1))


def test_shapes_points_resume_is_exact(tmp_path):
    cfg = config_for("shapes-points", None, TINY)
    straight = Trainer(cfg, tmp_path / "a")
    list(straight.events(6))
    first = Trainer(cfg, tmp_path / "b")
    list(first.events(3))
    resumed = Trainer.resume(tmp_path / "b")
    assert resumed.iteration == 3
    list(resumed.events(6))
    a, b = straight.method.net.state_dict(), resumed.method.net.state_dict()
    for key, value in a.items():
        assert torch.equal(value, b[key]), key
