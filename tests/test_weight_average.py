"""Moving averages of the sampler networks (``train.options.average``).

The averages must follow the trained weights with the stated warm-up and
decay, sampling must read them (not the trained networks) when the knob is
on, and checkpoints must carry them.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ebm_engine.learning.loading import load_model
from ebm_engine.learning.trainer import Trainer
from ebm_engine.methods._average import Averages, WeightAverage
from ebm_engine.presets import config_for


def test_average_warms_up_then_decays():
    torch.manual_seed(0)
    live = nn.Linear(3, 2)
    avg = WeightAverage(live)
    start = live.weight.detach().clone()
    decay = 0.9
    expected = start.clone()
    for t in range(40):
        with torch.no_grad():
            live.weight.add_(torch.randn_like(live.weight))
        avg.update(live, decay)
        d = min(decay, (1 + t) / (10 + t))
        expected = d * expected + (1 - d) * live.weight.detach()
        assert torch.allclose(avg.net.weight, expected, atol=1e-6), t
    assert not any(p.requires_grad for p in avg.parameters())
    # a network that stops moving is reached
    for _ in range(300):
        avg.update(live, decay)
    assert torch.allclose(avg.net.weight, live.weight, atol=1e-5)


def test_no_averages_when_the_decay_is_zero():
    live = nn.Linear(2, 2)
    averages = Averages({"generator": live}, 0.0)
    assert averages.networks() == {}
    assert averages.of("generator") is live
    averages.update()  # nothing to move


# (demo, preset, options that make the net tiny) per method with a network sampler
CASES = {
    "divergence_triangle": ("digits", "digits-divergence-triangle",
                            {"model.width": 8, "train.options.gen_width": 8, "train.options.z_dim": 8,
                             "train.options.refine_steps": 2}, ("generator", "energy")),
    "coopnets": ("8gaussians", "toy2d-coopnets", {"model.width": 16, "train.options.z_dim": 4},
                 ("generator", "energy")),
    "fce": ("8gaussians", "toy2d-fce", {"model.width": 16, "train.options.flow_width": 16,
                                        "train.options.flow_layers": 2}, ("flow", "energy")),
    "ml": ("digits", "digits", {"model.width": 8, "sampler.buffer_size": 64}, ("energy",)),
    "frame": ("texture-brick", "texture-frame", {"data.image_size": 16,
                                                 "sampler.buffer_size": 32}, ("energy",)),
    "latent_ebm": ("8gaussians", "toy2d-latent-ebm", {"model.width": 16, "train.options.z_dim": 2},
                   ("prior", "generator")),
    "recovery": ("digits", "digits-recovery", {"model.width": 8, "train.options.T": 2}, ("energy",)),
}


def _trainer(method: str, average: float, run=None, iterations: int = 6) -> Trainer:
    data, preset, sets, _ = CASES[method]
    overrides = [("train.iterations", iterations), ("train.device", "cpu"), ("train.batch_size", 16),
                 ("train.sample_every", 1000), ("train.checkpoint_every", 0),
                 ("train.options.average", average), *sets.items()]
    return Trainer(config_for(data, preset, overrides), run)


def _draw(method, seed: int = 5) -> np.ndarray:
    method.rng.manual_seed(seed)
    return list(method.sample(8, n_steps=2))[-1].x


def _jolt(net: nn.Module) -> None:
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p))


@pytest.mark.parametrize("name", sorted(CASES))
def test_sampling_reads_the_averages(name):
    """A jolt to the trained sampler networks after the last update must not
    reach the samples when averaging is on, and must when it is off."""
    for average, moved in ((0.9, False), (0.0, True)):
        trainer = _trainer(name, average)
        list(trainer.events())
        method = trainer.method
        assert bool(method.averages.networks()) == (average > 0)
        before = _draw(method)
        for net_name in CASES[name][3]:
            _jolt(method.networks()[net_name])
        after = _draw(method)
        assert (not np.allclose(before, after)) == moved, (name, average)


def test_checkpoints_carry_the_averages(tmp_path):
    trainer = _trainer("divergence_triangle", 0.9, run=tmp_path / "run", iterations=5)
    list(trainer.events())
    trained = trainer.method.networks()
    assert {"generator_average", "energy_average"} <= set(trained)
    loaded = load_model(tmp_path / "run", device="cpu").method.networks()
    for key in ("generator_average", "energy_average"):
        for (k, a), b in zip(trained[key].state_dict().items(), loaded[key].state_dict().values(),
                             strict=True):
            assert torch.equal(a, b), (key, k)
    assert int(loaded["generator_average"].updates) == 5
    # the average is not the trained generator (it lags it)
    diff = [float((a - b).detach().abs().max()) for a, b in zip(trained["generator"].parameters(),
                                                       trained["generator_average"].net.parameters())]
    assert max(diff) > 0
