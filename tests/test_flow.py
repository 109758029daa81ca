"""RealNVP flow: invertibility and exact log-determinants."""

from __future__ import annotations

import math

import torch

from ebm_engine.models.flow import RealNVP, coupling_mask, standard_normal_log_prob


def _randomise(flow: RealNVP, seed: int = 0) -> RealNVP:
    """Move every weight off its identity initialisation."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in flow.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return flow


def test_round_trip_flat_and_image():
    torch.manual_seed(0)
    for shape in [(2,), (5,), (1, 4, 4)]:
        flow = _randomise(RealNVP(shape, n_layers=4, width=16)).double()
        x = torch.randn(7, *shape, dtype=torch.float64)
        z, ld_fwd = flow(x)
        x_back, ld_inv = flow.inverse(z)
        assert x_back.shape == x.shape
        assert torch.allclose(x_back, x, atol=1e-4), shape
        assert torch.allclose(ld_fwd, -ld_inv, atol=1e-6), shape
        # the flow is far from the identity, so the round trip tests something
        assert (z - x.flatten(1)).abs().max() > 0.1


def test_logdet_matches_autograd_jacobian():
    flow = _randomise(RealNVP((2,), n_layers=4, width=8), seed=1).double()
    xs = torch.randn(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    for x in xs:
        jac = torch.autograd.functional.jacobian(lambda v: flow(v[None])[0][0], x)
        _, expected = torch.linalg.slogdet(jac)
        _, logdet = flow(x[None])
        assert abs(float(logdet[0].detach()) - float(expected)) < 1e-6


def test_log_prob_integrates_to_one_in_2d():
    flow = _randomise(RealNVP((2,), n_layers=2, width=8), seed=3).double()
    grid = torch.linspace(-12, 12, 601, dtype=torch.float64)
    xx, yy = torch.meshgrid(grid, grid, indexing="ij")
    pts = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)
    with torch.no_grad():
        mass = flow.log_prob(pts).exp().sum() * (grid[1] - grid[0]) ** 2
    assert abs(float(mass) - 1.0) < 0.02


def test_sample_log_prob_consistent_and_masks():
    flow = _randomise(RealNVP((1, 4, 4), n_layers=2, width=8), seed=4)
    x, logq = flow.sample(6, generator=torch.Generator().manual_seed(0))
    assert x.shape == (6, 1, 4, 4)
    assert torch.allclose(flow.log_prob(x), logq, atol=1e-3)
    mask = coupling_mask((1, 4, 4)).view(4, 4)
    assert mask[0, 0] == 1 and mask[0, 1] == 0 and mask[1, 0] == 0 and mask.sum() == 8
    assert math.isclose(float(standard_normal_log_prob(torch.zeros(1, 2))), -math.log(2 * math.pi), rel_tol=1e-6)
