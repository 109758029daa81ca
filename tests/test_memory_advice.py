"""Running out of memory names the knobs that size the network that ran out.

The line advised ``model.width`` and ``train.batch_size`` also when a
method's own network (a generator made huge by ``train.options.gen_width``)
was the one too big.
"""

from __future__ import annotations

import pytest
import torch

from ebm_engine.cli import main
from ebm_engine.config import RunConfig
from ebm_engine.errors import out_of_memory
from ebm_engine.methods.base import DataSpec
from ebm_engine.methods.coopnets import CoopNets
from ebm_engine.models.conv_flow import ConvCoupling
from ebm_engine.models.flow import AffineCoupling


def _allocate(*_args, **_kwargs):
    raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: "
                       "can't allocate memory: you tried to allocate 102400000000 bytes.")


@pytest.mark.parametrize("method, layer, says, not_says", [
    # only the generator has transposed convolutions: the generator ran out
    ("coopnets", (torch.nn.ConvTranspose2d, "forward"),
     "in the generator network: ask for less (smaller train.options.z_dim=32 or "
     "train.options.gen_width=32, fewer samples", "model.width"),
    ("fce", (AffineCoupling, "_scale_shift"), "in the flow network: ask for less "
     "(smaller train.options.flow_layers=8 or train.options.flow_width=224,", "model.width"),
    ("fce --set train.options.flow_net=conv", (ConvCoupling, "_scale_shift"),
     "in the flow network: ask for less (smaller train.options.flow_layers=8 or "
     "train.options.flow_width=224,", "model.width"),
    ("ml", (torch.nn.Conv2d, "forward"), "in the energy network: ask for less (smaller "
     "model.width=", "train.options"),
])
def test_a_network_that_runs_out_names_its_own_size_knobs(tmp_path, capsys, monkeypatch, method,
                                                          layer, says, not_says):
    monkeypatch.setattr(*layer, _allocate)
    assert main(["train", "--data", "digits", "--method", *method.split(), "--steps", "1",
                 "--quiet", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("ebm: error: out of memory (102 GB asked for)")
    assert says in err and not_says not in err


@pytest.mark.parametrize("zoo, layer", [("digits-coopnets", (torch.nn.ConvTranspose2d, "forward")),
                                        ("digits-ml", (torch.nn.Conv2d, "forward"))])
def test_sampling_a_trained_model_that_runs_out_asks_for_fewer_samples(tmp_path, capsys,
                                                                       monkeypatch, zoo, layer):
    """Sampling named the generator's z_dim and gen_width, which training fixed, and
    train.batch_size, which sampling does not use."""
    monkeypatch.setattr(*layer, _allocate)
    assert main(["sample", "--run", f"zoo:{zoo}", "--n", "2", "--steps", "1",
                 "--out", str(tmp_path / "x.png")]) == 2
    assert capsys.readouterr().err == ("ebm: error: out of memory (102 GB asked for): ask for "
                                       "less (fewer samples with --n, a smaller --scale)\n")


def test_a_network_too_big_to_build_names_the_size_knobs_set_above_their_defaults(monkeypatch):
    """Building the generator fails before it is one of the method's networks."""
    monkeypatch.setattr(torch.nn.ConvTranspose2d, "__init__", _allocate)
    cfg = RunConfig.from_dict({"model": {"width": 8, "depth": 1},
                               "train": {"method": "coopnets",
                                         "options": {"gen_width": 4096, "z_dim": 64}}})
    with pytest.raises(RuntimeError) as caught:
        CoopNets(cfg, DataSpec("image", (1, 16, 16), (-1.0, 1.0)), None, torch.device("cpu"),
                 torch.Generator())
    line = out_of_memory(caught.value)
    assert line.startswith("out of memory (102 GB asked for): ask for less (smaller "
                           "train.options.gen_width=4096 or train.options.z_dim=64, fewer")
    assert "model.width" not in line
    # nothing to tell (no method among the frames): the plain advice
    assert "model.width or train.batch_size" in out_of_memory(RuntimeError(
        "DefaultCPUAllocator: can't allocate memory: you tried to allocate 1000 bytes"))
