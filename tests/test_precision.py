"""train.precision: bf16 network passes keep fp32 chains close to fp32 ones;
``auto`` resolves to something valid; runs record it and still resume."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ebm_engine import precision
from ebm_engine.config import RunConfig, SamplerConfig
from ebm_engine.errors import ConfigError
from ebm_engine.learning.trainer import Trainer
from ebm_engine.sampling import energy_of, frozen, run_langevin

MEAN = torch.tensor([1.0, -2.0])
STD = torch.tensor([0.5, 1.0])


class GaussianNet(nn.Module):
    """``f(x) = −|(x − μ)/s|²/2`` through a Linear layer, so autocast runs it in bf16."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)
        with torch.no_grad():
            self.lin.weight.copy_(torch.diag(1.0 / STD))
            self.lin.bias.copy_(-MEAN / STD)

    def forward(self, x):
        return -0.5 * self.lin(x).pow(2).sum(1)


def chain_stats(chosen: str) -> tuple[torch.Tensor, torch.Tensor, torch.dtype]:
    net = GaussianNet()
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(4000, 2, generator=gen)
    cfg = SamplerConfig(n_steps=600, step_size=0.25)
    with frozen(net), precision.autocast(chosen, torch.device("cpu")):
        x, _ = run_langevin(energy_of(net), x0, cfg, generator=gen)
    return x.mean(0), x.std(0), x.dtype


def test_bf16_chains_reach_the_gaussian_like_fp32():
    mean32, std32, dtype32 = chain_stats("fp32")
    mean16, std16, dtype16 = chain_stats("bf16")
    assert dtype16 == dtype32 == torch.float32  # the chain state stays fp32
    for mean, std in ((mean32, std32), (mean16, std16)):
        assert torch.allclose(mean, MEAN, atol=0.08)
        assert torch.allclose(std, STD, rtol=0.1)
    assert torch.allclose(mean16, mean32, atol=0.05) and torch.allclose(std16, std32, rtol=0.05)


def test_bf16_really_runs_the_network_in_bf16():
    net = nn.Linear(3, 1)
    with precision.autocast("bf16", torch.device("cpu")):
        assert net(torch.ones(2, 3)).dtype == torch.bfloat16
        assert energy_of(lambda x: net(x).squeeze(1))(torch.ones(2, 3)).dtype == torch.float32
    with precision.autocast("fp32", torch.device("cpu")):
        assert net(torch.ones(2, 3)).dtype == torch.float32


def test_auto_resolves_to_a_valid_choice_with_a_reason():
    for device in (torch.device("cpu"), torch.device("meta")):
        chosen, why = precision.resolve("auto", device)
        assert chosen in ("fp32", "bf16") and why.startswith("auto")
    assert precision.resolve("bf16", torch.device("cpu")) == ("bf16", "as configured")
    cpu = precision.resolve("auto", torch.device("cpu"))[0]
    assert cpu == ("bf16" if precision.cpu_has_fast_bf16() else "fp32")
    # a method whose bf16 quality was not measured keeps fp32 under auto
    assert precision.resolve("auto", torch.device("cpu"), "coopnets") == (
        "fp32", "auto: bf16 not yet verified for coopnets")
    with pytest.raises(ConfigError, match="train.precision must be one of"):
        RunConfig().with_value("train.precision", "fp16")


def test_a_bf16_run_trains_records_and_resumes(tmp_path):
    cfg = RunConfig.from_dict({
        "model": {"width": 16, "depth": 2}, "sampler": {"n_steps": 4},
        "train": {"batch_size": 16, "iterations": 4, "checkpoint_every": 2, "precision": "bf16"},
    })
    trainer = Trainer(cfg, tmp_path / "run")
    steps = [e for e in trainer.events() if type(e).__name__ == "TrainStep"]
    assert len(steps) == 4 and all(math.isfinite(e.metrics["loss"]) for e in steps)
    assert all(p.dtype == torch.float32 for p in trainer.method.net.parameters())
    assert "bf16" in trainer.precision_label()
    again = Trainer.resume(tmp_path / "run")
    assert again.cfg.train.precision == "bf16" and again.iteration == 4
