"""MLP energy for low-dimensional points (the 2D toy densities)."""

from __future__ import annotations

import math

import torch
from torch import nn

from ebm_engine.config import ModelConfig
from ebm_engine.models.layers import maybe_sn
from ebm_engine.models.registry import register


class MLPEnergy(nn.Module):
    """``f_θ(x)``: ``depth`` hidden layers of ``width`` units with SiLU (smooth,
    so ∇ₓE is continuous and Langevin behaves), scalar output."""

    def __init__(self, in_dim: int, width: int = 128, depth: int = 3, spectral_norm: bool = False):
        super().__init__()
        layers: list[nn.Module] = []
        dim = in_dim
        for _ in range(depth):
            layers += [maybe_sn(nn.Linear(dim, width), spectral_norm), nn.SiLU()]
            dim = width
        layers.append(maybe_sn(nn.Linear(dim, 1), spectral_norm))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1)).squeeze(1)


@register("mlp")
def build_mlp(cfg: ModelConfig, data_shape: tuple[int, ...]) -> nn.Module:
    return MLPEnergy(math.prod(data_shape), cfg.width, cfg.depth, cfg.spectral_norm)
