"""Generative VoxelNet, the 3D DescriptorNet (Xie, Zheng, Gao, Wang, Zhu & Wu, CVPR 2018).

A volumetric shape ``Y`` (an occupancy grid) has the density

    p(Y; θ) = exp(f(Y; θ)) p₀(Y) / Z(θ),    p₀ = N(0, σ² I),

where ``f`` is a bottom-up 3D ConvNet; Langevin dynamics
``Y ← Y − (δ²/2)(Y/σ² − ∂f/∂Y) + δ·U`` samples it (the paper uses
σ = 0.5, δ = 0.1, 20 steps). As in the paper the network is a few strided
3D convolutions and a fully-connected read-out, which lets the energy
depend on *where* parts are (a chair's seat is above its legs).

Layout ``(B, 1, D, H, W)``, grids 16³ to 64³ (any side 8..128 works; grids
need not be cubes). The first conv and each block halve the grid until it
is 4 or less; later blocks keep the size.

Options (``model.options``): ``leaky_slope`` (0.2).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ebm_engine.config import ModelConfig
from ebm_engine.errors import ConfigError
from ebm_engine.models.layers import maybe_sn, option
from ebm_engine.models.registry import register


class GenerativeVoxelNet(nn.Module):
    """Descriptor net for ``(B, C, D, H, W)`` voxel grids → ``(B,)``.

    Parameters
    ----------
    channels : int
        Input channels (1 for occupancy).
    size : tuple of int
        Grid ``(D, H, W)``.
    width : int
        Channels of the first layer (doubled per block, at most ``8 · width``).
    depth : int
        Blocks after the first (strided) conv.
    spectral_norm : bool
        Spectral normalisation on every weight layer.
    slope : float
        Leaky ReLU slope.
    """

    def __init__(
        self,
        channels: int,
        size: tuple[int, int, int],
        width: int = 32,
        depth: int = 3,
        spectral_norm: bool = False,
        slope: float = 0.2,
    ):
        super().__init__()
        # The first conv already strides (the paper's strides by 3 on 32³):
        # full-resolution activations would dominate the cost of the ~20
        # backward passes every Langevin chain makes.
        layers: list[nn.Module] = [
            maybe_sn(nn.Conv3d(channels, width, 4, 2, 1), spectral_norm),
            nn.LeakyReLU(slope),
        ]
        grid = [g // 2 for g in size]
        ch = width
        for _ in range(depth):
            out = min(ch * 2, width * 8)
            stride = 2 if min(grid) > 4 else 1
            layers += [
                maybe_sn(nn.Conv3d(ch, out, 4 if stride == 2 else 3, stride, 1), spectral_norm),
                nn.LeakyReLU(slope),
            ]
            ch, grid = out, [g // stride for g in grid]
        self.features = nn.Sequential(*layers)
        self.readout = maybe_sn(nn.Linear(ch * math.prod(grid), 1), spectral_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.features(x).flatten(1)).squeeze(1)


@register("voxelnet", options=("leaky_slope",))
def build_voxelnet(cfg: ModelConfig, data_shape: tuple[int, ...]) -> nn.Module:
    """Build a :class:`GenerativeVoxelNet` for ``(1, D, H, W)`` grids."""
    if len(data_shape) != 4:
        raise ConfigError(
            f"model 'voxelnet' needs (1, D, H, W) voxel grids, got items of shape {data_shape}"
        )
    channels, *grid = data_shape
    if not all(8 <= g <= 128 for g in grid):
        raise ConfigError(
            f"model 'voxelnet' needs grids of 8..128 voxels a side, got {'x'.join(map(str, grid))}"
        )
    slope = option(cfg.options, "leaky_slope", 0.2, float, ge=0, le=1)
    return GenerativeVoxelNet(channels, tuple(grid), cfg.width, cfg.depth, cfg.spectral_norm, slope)
