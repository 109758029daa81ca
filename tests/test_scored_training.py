"""The quality benchmarks' training loop: scoring on the way leaves the run unchanged."""

from __future__ import annotations

import torch

from benchmarks.scored_training import train_and_score
from ebm_engine.learning.trainer import Trainer
from ebm_engine.presets import config_for


def test_scoring_on_the_way_does_not_change_the_training_run():
    """A run scored at iteration 3 ends with the same weights as the same run unscored
    (scoring seeds its own draws; it must not reseed the training's)."""
    cfg = config_for("8gaussians", overrides=[
        ("model.width", 16), ("sampler.n_steps", 5), ("sampler.buffer_size", 64),
        ("train.batch_size", 16), ("train.iterations", 6), ("train.checkpoint_every", 0),
        ("train.device", "cpu")])
    plain = Trainer(cfg, None)
    list(plain.events(6))
    scored = Trainer(cfg, None)
    scorings = train_and_score(scored, lambda s, it, k: it == 3 * k, evals=2, seed=7)
    assert [s.iteration for s in scorings] == [3, 6] and "kl_samples" in scorings[0].values
    for key, value in plain.method.net.state_dict().items():
        assert torch.equal(value, scored.method.net.state_dict()[key]), key


def test_a_run_that_diverges_is_scored_where_it_stopped_and_says_why():
    """A rate of 1e6 blows the energies up: the loop reports ``diverged`` through
    ``on_end`` and scores the last good model instead of ending without a scoring."""
    cfg = config_for("8gaussians", overrides=[
        ("model.width", 16), ("sampler.n_steps", 5), ("sampler.buffer_size", 64),
        ("train.batch_size", 16), ("train.iterations", 50), ("train.checkpoint_every", 0),
        ("train.device", "cpu"), ("train.lr", 1e6)])
    trainer = Trainer(cfg, None)
    ends = []
    scorings = train_and_score(trainer, lambda s, it, k: it == 40 * k, evals=1, seed=7,
                               on_end=ends.append)
    assert [e.reason for e in ends] == ["diverged"]
    assert [s.iteration for s in scorings] == [ends[0].iteration] and ends[0].iteration < 40
    assert "kl_samples" in scorings[0].values
