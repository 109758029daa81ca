"""The 'pca' flow: a principal-basis whitening, then couplings on the leading components."""

from __future__ import annotations

import math

import pytest
import torch

from ebm_engine.errors import ConfigError
from ebm_engine.models.subspace_flow import SubspaceRealNVP, check_sizes


def _low_rank_items(n: int, dim: int, rank: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Items on a ``rank``-dimensional subspace (spreads 3, 2.5, … ) plus small noise,
    and their covariance."""
    g = torch.Generator().manual_seed(seed)
    directions = torch.linalg.qr(torch.randn(dim, rank, generator=g, dtype=torch.float64))[0]
    spreads = torch.linspace(3.0, 1.0, rank, dtype=torch.float64)
    cov = directions @ torch.diag(spreads ** 2) @ directions.T + 0.01 ** 2 * torch.eye(dim, dtype=torch.float64)
    mean = torch.linspace(-1, 1, dim, dtype=torch.float64)
    x = torch.distributions.MultivariateNormal(mean, cov).sample((n,))
    return x, cov


def _randomised(flow: SubspaceRealNVP, seed: int = 0) -> SubspaceRealNVP:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in flow.couplings.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.2)
    return flow


def test_round_trip_and_logdet_match_autograd_jacobian():
    items, _ = _low_rank_items(400, 12, 3)
    flow = SubspaceRealNVP((3, 4), components=4, n_layers=4, width=8).double()
    flow.initialise(items.view(-1, 3, 4), jitter=0.05)
    _randomised(flow)
    x = items[:3].view(3, 3, 4)
    z, ld = flow(x)
    back, ld_inv = flow.inverse(z)
    assert back.shape == (3, 3, 4)
    assert torch.allclose(back, x, atol=1e-9) and torch.allclose(ld, -ld_inv, atol=1e-9)
    jac = torch.autograd.functional.jacobian(lambda v: flow(v.view(1, 3, 4))[0][0], x[0].flatten())
    assert abs(float(torch.linalg.slogdet(jac)[1]) - float(ld[0].detach())) < 1e-8
    xs, logq = flow.sample(5, generator=torch.Generator().manual_seed(2))
    assert xs.shape == (5, 3, 4) and torch.allclose(flow.log_prob(xs), logq, atol=1e-8)
    # the couplings split by parity and by halves, so neighbouring components meet
    masks = [tuple(layer.mask.tolist()) for layer in flow.couplings.layers]
    assert masks == [(1, 0, 1, 0), (0, 1, 0, 1), (1, 1, 0, 0), (0, 0, 1, 1)]


def test_the_fitted_flow_is_the_datas_gaussian_fit():
    """Before any training the flow is N(mean, covariance + jitter²) of the items it was
    fitted to: its log-density is that Gaussian's, and its samples have that covariance
    (per-pixel spreads alone would miss the subspace's correlations)."""
    items, cov = _low_rank_items(4000, 10, 2, seed=1)
    flow = SubspaceRealNVP((10,), components=3, n_layers=2, width=8).double()
    jitter = 0.1
    flow.initialise(items, jitter=jitter)
    fitted = torch.distributions.MultivariateNormal(
        items.mean(0), torch.cov(items.T, correction=0) + jitter ** 2 * torch.eye(10, dtype=torch.float64))
    probe = items[:50]
    assert torch.allclose(flow.log_prob(probe), fitted.log_prob(probe), atol=1e-6)
    drawn, _ = flow.sample(20000, generator=torch.Generator().manual_seed(3))
    target = cov + jitter ** 2 * torch.eye(10, dtype=torch.float64)
    assert (torch.cov(drawn.T) - target).abs().max() < 0.15 * float(target.abs().max())
    # the couplings act on the leading components only: the rest stay whitened as fitted
    _randomised(flow)
    z, _ = flow(probe)
    whitened = (probe - flow.mean) @ flow.basis / flow.scale
    assert torch.allclose(z[:, 3:], whitened[:, 3:]) and not torch.allclose(z[:, :3], whitened[:, :3])


def test_buffers_travel_with_the_state_dict():
    items, _ = _low_rank_items(300, 6, 2)
    flow = SubspaceRealNVP((6,), components=2, n_layers=2, width=4)
    flow.initialise(items.float())
    copy = SubspaceRealNVP((6,), components=2, n_layers=2, width=4)
    copy.load_state_dict(flow.state_dict())
    assert bool(copy.initialised) and torch.equal(copy.basis, flow.basis)
    g1, g2 = (torch.Generator().manual_seed(4) for _ in range(2))
    assert torch.equal(flow.sample(3, generator=g1)[0], copy.sample(3, generator=g2)[0])


def test_bad_sizes_are_one_line_config_errors_naming_the_knobs():
    with pytest.raises(ConfigError, match=r"flow_components must be 2 to 6 for these items "
                                          r"\(6 values each\), got 1; flow_net 'pca' is meant"):
        SubspaceRealNVP((6,), components=1)
    with pytest.raises(ConfigError, match=r"flow_components must be 2 for these items \(2 values"):
        check_sizes((2,), 16)  # a 2D demo with the default 16
    with pytest.raises(ConfigError, match=r"must be 2 to 256 for these items \(256 values each\), "
                                          r"got 300$"):
        check_sizes((1, 16, 16), 300)
    with pytest.raises(ConfigError, match=r"at most 4096 values .* these have 4352; use 'conv' or"):
        SubspaceRealNVP((1, 64, 68), components=16)
    with pytest.raises(ConfigError, match=r"these have 8256; use 'mlp'$"):  # conv needs sides ÷ 4
        check_sizes((3, 43, 64), 16)
    assert math.prod((1, 64, 64)) == 4096
    SubspaceRealNVP((1, 64, 64), components=2, n_layers=1, width=2)  # the largest it takes


def test_the_fce_method_refuses_them_when_set_not_at_train():
    """The app's settings panel asks the method's check on each edit."""
    from ebm_engine.methods.base import DataSpec, method_class
    from ebm_engine.presets import config_for

    cfg = config_for("digits", "digits-fce", [("train.options.flow_components", 300)])
    with pytest.raises(ConfigError, match="flow_components must be 2 to 256"):
        method_class("fce").parse_options(cfg, DataSpec("image", (1, 16, 16), (-1.0, 1.0)))


def test_bf16_autocast_leaves_the_rotation_in_float32():
    """Under train.precision bf16 the 256 × 256 rotation put log q 2.4 nats off on digits."""
    items, _ = _low_rank_items(500, 64, 4)
    flow = SubspaceRealNVP((64,), components=4, n_layers=2, width=8)
    flow.initialise(items.float(), jitter=0.05)
    x = items[:20].float()
    exact, _ = flow(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed, _ = flow(x)
    assert mixed.dtype == torch.float32
    assert torch.allclose(mixed[:, 4:], exact[:, 4:], atol=1e-5)  # the rotation, no couplings


def test_the_fit_takes_evenly_spaced_items_of_a_large_dataset():
    """The 'pca' flow and recovery's start fit at most 4096 items, spread over the set."""
    from ebm_engine.data.dataset import Dataset

    data = Dataset("ten", "points", torch.arange(10.0).view(10, 1), None, {})
    assert data.evenly_spaced(4).flatten().tolist() == [0.0, 3.0, 6.0, 9.0]
    assert data.evenly_spaced(100).flatten().tolist() == [float(i) for i in range(10)]
