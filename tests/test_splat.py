"""Trilinear splatting of point clouds onto density grids, and the PointNet's
density view built on it (``model.options.splat``)."""

from __future__ import annotations

import pytest
import torch

from ebm_engine.config import ModelConfig
from ebm_engine.errors import ConfigError
from ebm_engine.models.pointnet import build_pointnet
from ebm_engine.models.splat import splat_grid


def test_each_cloud_spreads_its_whole_mass_over_the_grid():
    torch.manual_seed(0)
    points = torch.rand(3, 100, 3) * 2.4 - 1.2  # some outside the cube count at its faces
    grid = splat_grid(points, 8)
    assert grid.shape == (3, 1, 8, 8, 8) and bool((grid >= 0).all())
    torch.testing.assert_close(grid.sum((1, 2, 3, 4)), torch.full((3,), 8.0 ** 3))


def test_a_point_on_a_node_lands_there_and_between_nodes_splits_linearly():
    side = 5  # nodes at -1, -0.5, 0, 0.5, 1
    on_node = splat_grid(torch.tensor([[[-0.5, 0.0, 1.0]]]), side)[0, 0]
    assert float(on_node[1, 2, 4]) == pytest.approx(side ** 3)
    assert float(on_node.sum()) == pytest.approx(side ** 3)
    # a quarter of the way from node 1 to node 2 along x: 3/4 and 1/4 of the mass
    between = splat_grid(torch.tensor([[[-0.375, 0.0, 0.0]]]), side)[0, 0] / side ** 3
    assert float(between[1, 2, 2]) == pytest.approx(0.75)
    assert float(between[2, 2, 2]) == pytest.approx(0.25)


def test_splat_gradient_matches_finite_differences():
    torch.manual_seed(1)
    points = (torch.rand(2, 6, 3, dtype=torch.float64) * 1.8 - 0.9).requires_grad_(True)
    probe = torch.randn(2, 1, 6, 6, 6, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda p: (splat_grid(p, 6) * probe).sum(), (points,))


def density_net(splat: int) -> torch.nn.Module:
    cfg = ModelConfig("pointnet", 8, 2, options={"norm": "points", "centered": True,
                                                 "splat": splat})
    net = build_pointnet(cfg, (256, 3))
    # Silence the mean-pooled branch: what is left is what the grid adds.
    last = net.head[-1]
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.zeros_(last.bias)
    return net


def shell(thickness: float, n: int = 256) -> torch.Tensor:
    g = torch.Generator().manual_seed(2)
    d = torch.randn(1, n, 3, generator=g)
    r = 0.6 + thickness * (torch.rand(1, n, 1, generator=g) - 0.5)
    return d / d.norm(dim=2, keepdim=True) * r


def test_the_density_view_tells_a_thin_shell_from_a_thick_one():
    """Without the grid the silenced net gives every cloud the same energy and no
    gradient; with it, thin and thick shells differ and each point is pulled."""
    torch.manual_seed(3)
    thin, thick = shell(0.02), shell(0.5)
    plain, net = density_net(0), density_net(8)
    with torch.no_grad():
        assert float(plain(thin)) == float(plain(thick)) == 0.0
        assert abs(float(net(thin)) - float(net(thick))) > 1e-3
    x = thin.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(net(x).sum(), x)
    assert bool((grad.norm(dim=2) > 0).float().mean() > 0.9)


def test_the_density_view_ignores_the_order_of_the_points():
    torch.manual_seed(4)
    net = build_pointnet(ModelConfig("pointnet", 8, 2, options={"splat": 8}), (256, 3))
    x = shell(0.3)
    perm = torch.randperm(256)
    torch.testing.assert_close(net(x), net(x[:, perm]))


@pytest.mark.parametrize("options, message", [
    ({"splat": 4}, "grid side of 8..64"),
    ({"splat": 100}, "grid side of 8..64"),
    ({"splat": True}, "must be int"),
    ({"splat": 8, "splat_width": 0}, "splat_width must be >= 1"),
])
def test_bad_splat_options_are_config_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        build_pointnet(ModelConfig("pointnet", 8, 2, options=options), (64, 3))


def test_splat_needs_three_coordinates():
    with pytest.raises(ConfigError, match="3D points"):
        build_pointnet(ModelConfig("pointnet", 8, 2, options={"splat": 8}), (64, 2))
