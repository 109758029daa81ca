"""Energy networks for videos, voxels and point clouds: shapes, symmetries, gradients."""

from __future__ import annotations

import pytest
import torch

from ebm_engine.config import ModelConfig, SamplerConfig
from ebm_engine.errors import ConfigError
from ebm_engine.models import available_models, build_model
from ebm_engine.models.pointnet import PointNorm
from ebm_engine.sampling import energy_of, run_langevin


def _build(name: str, shape: tuple[int, ...], **kw) -> torch.nn.Module:
    torch.manual_seed(0)
    options = kw.pop("options", {})
    return build_model(ModelConfig(name=name, options=options, **kw), shape)


def test_registered():
    assert {"stgconvnet", "voxelnet", "pointnet"} <= set(available_models())


# --- PointNet ---------------------------------------------------------------


@pytest.mark.parametrize("pooling", ["mean", "max", "max+mean"])
def test_pointnet_permutation_invariant(pooling):
    net = _build("pointnet", (128, 3), width=32, depth=3, options={"pooling": pooling})
    x = torch.rand(4, 128, 3) * 2 - 1
    perm = torch.randperm(128)
    f = net(x)
    assert f.shape == (4,)
    assert torch.allclose(f, net(x[:, perm]), atol=1e-5)
    # A different permutation per cloud too.
    shuffled = torch.stack([c[torch.randperm(128)] for c in x])
    assert torch.allclose(f, net(shuffled), atol=1e-5)
    # ... and the energy does depend on the points.
    assert not torch.allclose(f, net(x * 0.5), atol=1e-5)


def test_pointnet_any_point_count_and_gradient():
    net = _build("pointnet", (64, 3), width=16, depth=2, spectral_norm=True)
    x = (torch.rand(2, 200, 3) * 2 - 1).requires_grad_(True)
    (grad,) = torch.autograd.grad(net(x).sum(), x)
    assert grad.shape == x.shape
    # Mean pooling: every point gets a gradient.
    assert (grad.abs().sum(2) > 0).all()


def test_pointnet_extensive_energy_scales_with_point_count():
    x = torch.rand(2, 50, 3)
    plain = _build("pointnet", (50, 3), width=8, depth=2, options={"extensive": False})
    extensive = _build("pointnet", (50, 3), width=8, depth=2)
    assert torch.allclose(extensive(x), 50 * plain(x), rtol=1e-5, atol=1e-5)


def test_pointnet_langevin_clamped_to_cube():
    net = _build("pointnet", (32, 3), width=16, depth=2)
    cfg = SamplerConfig(n_steps=5, step_size=0.5, reference_sigma=0.3, clamp=True)
    x0 = torch.randn(3, 32, 3) * 2
    x, _ = run_langevin(energy_of(net, 0.3), x0, cfg, value_range=(-1.0, 1.0))
    assert x.shape == x0.shape and x.abs().max() <= 1.0


def test_pointnet_point_norm_and_centering_keep_symmetries():
    net = _build("pointnet", (64, 3), width=8, depth=3,
                 options={"norm": "points", "centered": True})
    x = torch.rand(3, 64, 3) * 2 - 1
    f = net(x)
    assert torch.allclose(f, net(x[:, torch.randperm(64)]), atol=1e-4)
    # centred: moving the whole cloud leaves f alone; its size still matters
    assert torch.allclose(f, net(x + torch.tensor([0.3, -0.2, 0.1])), atol=1e-4)
    assert not torch.allclose(f, net(x * 0.5), atol=1e-3)


def test_pointnet_point_norm_couples_the_points_of_a_cloud():
    """The cause of the blob samples: with a linear head, a mean-pooled energy is
    a sum of per-point terms, so each point's gradient ignores the others (the
    net sees only the pooled point distribution); standardising over the
    points makes one point's gradient depend on where the others are."""
    x = torch.rand(1, 32, 3) * 2 - 1
    moved = x.clone()
    moved[0, 1:] *= 0.5  # every point but the first

    def grad0(net):
        return [torch.autograd.grad(net(c.requires_grad_(True)).sum(), c)[0][0, 0]
                for c in (x.clone(), moved.clone())]

    plain = _build("pointnet", (32, 3), width=8, depth=2, options={"head_depth": 0})
    a, b = grad0(plain)
    assert torch.allclose(a, b, atol=1e-6)
    normed = _build("pointnet", (32, 3), width=8, depth=2,
                    options={"head_depth": 0, "norm": "points"})
    a, b = grad0(normed)
    assert not torch.allclose(a, b, atol=1e-4)


def test_point_norm_standardises_each_channel_over_the_points():
    norm = PointNorm(4)
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([1.0, 2.0, 0.5, 3.0]))
        norm.bias.copy_(torch.tensor([0.0, -1.0, 1.0, 2.0]))
    z = torch.randn(3, 100, 4) * torch.tensor([1.0, 10.0, 0.1, 5.0]) + 7.0
    out = norm(z)
    assert torch.allclose(out.mean(1), norm.bias.expand(3, 4), atol=1e-4)
    assert torch.allclose(out.std(1, unbiased=False), norm.weight.expand(3, 4), atol=1e-3)
    # the clouds do not mix: changing one leaves the others' output alone
    z2 = z.clone()
    z2[0] *= 3.0
    assert torch.allclose(norm(z2)[1:], out[1:])


def test_pointnet_bad_options():
    with pytest.raises(ConfigError, match="pooling"):
        _build("pointnet", (16, 3), options={"pooling": "sum"})
    with pytest.raises(ConfigError, match="norm"):
        _build("pointnet", (16, 3), options={"norm": "batch"})
    with pytest.raises(ConfigError, match="point clouds"):
        _build("pointnet", (3, 16, 16))


# --- STGConvNet -------------------------------------------------------------


@pytest.mark.parametrize("readout", ["sum", "linear"])
def test_stgconvnet_invariant_to_circular_time_shift(readout):
    net = _build(
        "stgconvnet", (3, 8, 16, 16), width=8, depth=2, options={"spatial_readout": readout}
    )
    x = torch.rand(2, 3, 8, 16, 16) * 2 - 1
    f = net(x)
    assert f.shape == (2,)
    for shift in (1, 3, 5):
        rolled = torch.roll(x, shift, dims=2)
        assert torch.allclose(f, net(rolled), atol=1e-4, rtol=1e-5)
    # The energy is not blind to time: reversing a non-symmetric clip changes it.
    assert not torch.allclose(f, net(torch.flip(x, dims=[2])), atol=1e-4)


def test_stgconvnet_feature_map_shifts_with_the_clip():
    net = _build("stgconvnet", (1, 12, 16, 16), width=4, depth=2)
    x = torch.rand(1, 1, 12, 16, 16)
    feats = net.feature_map(x)
    assert feats.shape[2] == 12  # no temporal stride
    assert torch.allclose(
        net.feature_map(torch.roll(x, 4, dims=2)), torch.roll(feats, 4, dims=2), atol=1e-5
    )


def test_stgconvnet_zero_padding_and_sizes():
    net = _build(
        "stgconvnet", (1, 8, 32, 32), width=4, depth=3, options={"temporal_padding": "zeros"}
    )
    x = torch.rand(2, 1, 8, 32, 32).requires_grad_(True)
    (grad,) = torch.autograd.grad(net(x).sum(), x)
    assert grad.shape == x.shape
    with pytest.raises(ConfigError, match="temporal_padding"):
        _build("stgconvnet", (1, 8, 16, 16), options={"temporal_padding": "reflect"})
    with pytest.raises(ConfigError, match="videos"):
        _build("stgconvnet", (1, 16, 16))


# --- VoxelNet ---------------------------------------------------------------


@pytest.mark.parametrize("size", [16, 32])
def test_voxelnet_batch_and_gradient(size):
    net = _build("voxelnet", (1, size, size, size), width=8, depth=3)
    x = (torch.rand(3, 1, size, size, size) * 2 - 1).requires_grad_(True)
    f = net(x)
    assert f.shape == (3,)
    (grad,) = torch.autograd.grad(f.sum(), x)
    assert grad.shape == x.shape and torch.isfinite(grad).all()


def test_voxelnet_64_and_spectral_norm():
    net = _build("voxelnet", (1, 64, 64, 64), width=4, depth=3, spectral_norm=True)
    assert net(torch.zeros(1, 1, 64, 64, 64)).shape == (1,)
    with pytest.raises(ConfigError, match="voxel"):
        _build("voxelnet", (1, 16, 16))
