"""CoopNets: learning on 2D data, MCMC revision lowers energy, checkpoints, exact resume."""

from __future__ import annotations

import pytest
import torch

from ebm_engine.data.toy2d import eight_gaussian_modes
from ebm_engine.errors import ConfigError
from ebm_engine.learning.events import SamplesReady
from ebm_engine.learning.loading import load_model
from ebm_engine.learning.trainer import Trainer
from ebm_engine.presets import config_for
from ebm_engine.runs.checkpoint import load_checkpoint


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny nets gain nothing from a second thread, and a busy machine makes
    two threads spin against each other (20x slower); restore afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def toy_cfg(**sets):
    cfg = config_for("8gaussians", "toy2d-coopnets", overrides=[
        ("model.width", 64), ("model.depth", 2), ("train.batch_size", 128),
        ("train.sample_every", 50), ("train.record_every", 5), ("train.checkpoint_every", 0),
        ("train.device", "cpu"),
    ])
    for key, value in sets.items():
        cfg = cfg.with_value(key.replace("__", "."), value)
    return cfg


def digits_cfg(**sets):
    cfg = config_for("digits", "digits-coopnets", overrides=[
        ("model.width", 8), ("sampler.n_steps", 3), ("train.batch_size", 8),
        ("train.sample_every", 2), ("train.record_every", 1), ("train.checkpoint_every", 0),
        ("train.device", "cpu"), ("data.max_items", 64),
        ("train.options", {"z_dim": 8, "gen_width": 8, "latent_steps": 2}),
    ])
    for key, value in sets.items():
        cfg = cfg.with_value(key.replace("__", "."), value)
    return cfg


def mode_distance(x: torch.Tensor) -> float:
    """Mean distance of points to the nearest of the 8 Gaussian modes."""
    modes = torch.tensor(eight_gaussian_modes(), dtype=torch.float32)
    return float(torch.cdist(x, modes).min(1).values.mean())


def test_coopnets_learns_8gaussians_and_revision_lowers_energy():
    trainer = Trainer(toy_cfg(), None)
    method = trainer.method
    with torch.no_grad():
        _, before = method.propose(512)
    snaps = [e for e in trainer.events(150) if isinstance(e, SamplesReady)]
    # The live view gets the generator's proposals next to the revised samples.
    assert snaps and snaps[-1].extras["generator proposals"].shape == snaps[-1].samples.shape
    revised = torch.from_numpy(list(method.sample(512))[-1].x)
    d_before, d_after = mode_distance(before), mode_distance(revised)
    assert d_before > 2.0
    assert d_after < 1.2, (d_before, d_after)
    # Langevin revision moves the proposals downhill: lower descriptor energy.
    with torch.no_grad():
        _, proposals = method.propose(512)
    from ebm_engine.sampling.langevin import run_langevin

    revised, _ = run_langevin(method.energy, proposals, method.cfg.sampler, generator=method.rng)
    with torch.no_grad():
        e_prop, e_rev = method.energy(proposals).mean(), method.energy(revised).mean()
    assert e_rev < e_prop - 0.1, (float(e_prop), float(e_rev))


def test_coopnets_checkpoint_holds_both_nets_and_samples(tmp_path):
    trainer = Trainer(digits_cfg(), tmp_path / "run")
    events = list(trainer.events(2))
    snap = next(e for e in events if isinstance(e, SamplesReady))
    assert snap.samples.shape == (8, 1, 16, 16)
    assert snap.extras["generator proposals"].shape == (8, 1, 16, 16)
    assert snap.frames and snap.frames[0].x.shape[1:] == (1, 16, 16)
    ckpt = load_checkpoint(trainer.run.latest_checkpoint())
    assert any(k.startswith("energy.") for k in ckpt.model)
    assert any(k.startswith("generator.") for k in ckpt.model)
    assert set(ckpt.state["optimizers"]) == {"energy", "generator"}
    loaded = load_model(tmp_path / "run", "cpu")
    final = list(loaded.method.sample(5, n_steps=2))[-1]
    assert final.x.shape == (5, 1, 16, 16) and final.x.min() >= -1.0 and final.x.max() <= 1.0


def test_coopnets_resume_is_exact(tmp_path):
    cfg = digits_cfg()
    straight = Trainer(cfg, tmp_path / "a")
    list(straight.events(4))
    first = Trainer(cfg, tmp_path / "b")
    list(first.events(2))
    resumed = Trainer.resume(tmp_path / "b")
    list(resumed.events(4))
    for name, net in straight.method.networks().items():
        other = resumed.method.networks()[name].state_dict()
        for key, value in net.state_dict().items():
            assert torch.equal(value, other[key]), f"{name}.{key}"
    for name, opt in straight.method.optimizers().items():
        a, b = opt.state_dict()["state"], resumed.method.optimizers()[name].state_dict()["state"]
        for pid in a:
            assert torch.equal(a[pid]["exp_avg"], b[pid]["exp_avg"]), f"{name}.{pid}"


def test_coopnets_rejects_bad_knobs():
    with pytest.raises(ConfigError, match="gen_sigma"):
        Trainer(toy_cfg(train__options={"gen_sigma": 0}), None)
    with pytest.raises(ConfigError, match="z_dim must be an integer"):
        Trainer(toy_cfg(train__options={"z_dim": "big"}), None)
    with pytest.raises(ConfigError, match="unknown config key 'train.options.obs_sigma'"):
        Trainer(toy_cfg(train__options={"obs_sigma": 0.3}), None)


def test_coopnets_knob_edits_mid_run():
    from ebm_engine.learning.events import KnobApplied
    from ebm_engine.session import Refused, Session

    session = Session(toy_cfg(train__batch_size=16))
    events = session.train(None, 3)
    next(events)
    results = [session.edit("train.options.gen_lr", 0.0005),
               session.edit("train.options.z_dim", 8),
               session.edit("train.options.gen_sigma", -1.0)]
    rest = list(events)
    trainer = session.trainer
    assert [e.key for e in rest if isinstance(e, KnobApplied)] == ["train.options.gen_lr"]
    assert [isinstance(r, Refused) for r in results] == [False, True, True]
    assert trainer.method.gen_opt.param_groups[0]["lr"] == 0.0005
    assert trainer.method.opts.gen_sigma == 0.3 and trainer.iteration == 3


def test_coopnets_rates_follow_their_cosine_decay(tmp_path):
    """``lr_end``: both rates fall from their start towards ``lr_end`` × start at
    ``train.iterations``; a resumed run continues the same schedule."""
    import math

    cfg = digits_cfg(train__iterations=4).with_value(
        "train.options", {"z_dim": 8, "gen_width": 8, "lr_end": 0.1})
    trainer = Trainer(cfg, tmp_path / "a")
    list(trainer.events(3))
    resumed = Trainer.resume(tmp_path / "a")
    list(resumed.events(4))
    share = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 3 / 4))  # set before the 4th step
    method = resumed.method
    assert method.opt.param_groups[0]["lr"] == pytest.approx(cfg.train.lr * share)
    assert method.gen_opt.param_groups[0]["lr"] == pytest.approx(method.opts.gen_lr * share)
