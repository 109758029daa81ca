"""The shipped ``shapes-points`` preset: its PointNet standardises over each
cloud's points (without it the samples stayed Gaussian blobs, issue 11), and
training with it resumes exactly."""

from __future__ import annotations

import torch

from ebm_engine.learning.trainer import Trainer
from ebm_engine.models.pointnet import PointNorm
from ebm_engine.presets import config_for

TINY = [("data.options", {"items": 8, "points": 64}), ("model.width", 8),
        ("sampler.n_steps", 4), ("train.batch_size", 4), ("train.device", "cpu"),
        ("train.sample_every", 1000), ("train.checkpoint_every", 3),
        ("train.checkpoint_minutes", 0)]


def test_preset_uses_point_norm_and_centred_points():
    trainer = Trainer(config_for("shapes-points", None, TINY), None)
    net = trainer.method.net
    assert net.centered and any(isinstance(m, PointNorm) for m in net.modules())


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
