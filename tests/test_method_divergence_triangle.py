"""Divergence triangle: reconstruction through encoder → generator improves; exact resume."""

from __future__ import annotations

import pytest
import torch

from ebm_engine.learning.events import SamplesReady, TrainStep
from ebm_engine.learning.trainer import Trainer
from ebm_engine.presets import config_for


def _cfg(iterations: int, **extra):
    overrides = [("train.iterations", iterations), ("train.device", "cpu"), ("train.batch_size", 32),
                 ("model.width", 16), ("train.options.gen_width", 16), ("train.options.z_dim", 16),
                 ("train.sample_every", 10), ("train.checkpoint_every", 0),
                 ("train.options.refine_steps", 2)]
    overrides += list(extra.items())
    return config_for("digits", "digits-divergence-triangle", overrides)


def test_triangle_reconstruction_error_drops():
    trainer = Trainer(_cfg(40), None)
    events = list(trainer.events())
    steps = [e.metrics for e in events if isinstance(e, TrainStep)]
    start = steps[0]["recon_error"]
    end = sum(m["recon_error"] for m in steps[-5:]) / 5
    assert end < 0.5 * start, (start, end)
    # recomputed on held data: x → encoder → generator beats predicting the mean image
    items = trainer.items[:256]
    trainer.method.generator.eval()
    with torch.no_grad():
        err = (trainer.method.reconstruct(items) - items).pow(2).mean()
    baseline = (items - items.mean(0, keepdim=True)).pow(2).mean()
    assert err < baseline, (float(err), float(baseline))
    snap = [e for e in events if isinstance(e, SamplesReady)][-1]
    assert snap.extras["reconstructions"].shape == snap.samples.shape == (32, 1, 16, 16)


@pytest.fixture
def one_thread():
    """Bitwise resume needs one thread (threaded conv backward may reorder sums)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_triangle_exact_resume(tmp_path, one_thread):
    k = 3
    kw = {"train.options.refine_steps": 2}
    straight = Trainer(_cfg(2 * k, **kw), None)
    list(straight.events())
    first = Trainer(_cfg(k, **kw), tmp_path / "run")
    list(first.events())
    resumed = Trainer.resume(tmp_path / "run")
    list(resumed.events(2 * k))
    nets_a, nets_b = straight.method.networks(), resumed.method.networks()
    # the preset samples from averages: they resume exactly too
    assert set(nets_a) == {"energy", "generator", "encoder", "generator_average", "energy_average"}
    for name, net in nets_a.items():
        other = nets_b[name].state_dict()
        for key, value in net.state_dict().items():
            assert torch.equal(value, other[key]), (name, key)


def test_triangle_refinement_lowers_the_generator_samples_energy():
    """The preset refines g(z) by Langevin on E_θ: refined samples have lower energy
    than the generator's own, and sampling goes through the same refinement."""
    trainer = Trainer(_cfg(20, **{"train.options.refine_steps": 5}), None)
    snap = [e for e in trainer.events() if isinstance(e, SamplesReady)][-1]
    method = trainer.method
    with torch.no_grad():
        e_gen = method.energy(torch.as_tensor(snap.extras["generator samples"])).mean()
        e_refined = method.energy(torch.as_tensor(snap.samples)).mean()
    assert e_refined < e_gen, (float(e_refined), float(e_gen))
    frames = list(method.sample(8))
    assert frames[-1].step == 5 and frames[-1].x.shape == (8, 1, 16, 16)


def test_triangle_ebm_sees_jittered_data_with_data_noise():
    """``data_noise`` reaches the EBM's data term: one step from the same state scores
    the data batch differently with jitter than without (and the same without, twice)."""
    def energy_data(noise: float) -> float:
        cfg = _cfg(1).with_value("train.options.data_noise", noise)
        trainer = Trainer(cfg, None)
        step = next(e for e in trainer.events(1) if isinstance(e, TrainStep))
        return step.metrics["energy_data"]

    assert energy_data(0.0) == energy_data(0.0)
    assert energy_data(0.5) != energy_data(0.0)
