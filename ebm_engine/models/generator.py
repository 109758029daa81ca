"""Top-down generator networks ``x = g_α(z)`` for the frameworks that pair an
EBM with a generator (CoopNets, latent-space EBM prior, divergence triangle).

- 2D/flat data: an MLP from ``z`` to ``x``.
- Images: a DCGAN-style stack of transposed convolutions from a ``z`` vector
  to ``(C, H, W)`` in ``[-1, 1]`` (tanh), for square sizes 8–64.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class MLPGenerator(nn.Module):
    """``g(z)`` for flat data of ``out_dim`` values (unbounded output)."""

    def __init__(self, z_dim: int, out_shape: tuple[int, ...], width: int = 128, depth: int = 3):
        super().__init__()
        self.z_dim = z_dim
        self.out_shape = tuple(out_shape)
        layers: list[nn.Module] = []
        dim = z_dim
        for _ in range(depth):
            layers += [nn.Linear(dim, width), nn.SiLU()]
            dim = width
        layers.append(nn.Linear(dim, math.prod(out_shape)))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.out_shape)


class ConvGenerator(nn.Module):
    """``g(z)`` for ``(C, S, S)`` images: linear to 4×4, then ×2 upsampling blocks."""

    def __init__(self, z_dim: int, channels: int, size: int, width: int = 32,
                 batch_norm: bool = True):
        super().__init__()
        if size < 4 or size & (size - 1):
            raise ValueError(f"ConvGenerator needs a power-of-two size >= 4, got {size}")
        self.z_dim = z_dim
        n_up = int(math.log2(size // 4))
        ch = width * (2 ** max(n_up - 1, 0))
        self.fc = nn.Sequential(nn.Linear(z_dim, ch * 16), nn.LeakyReLU(0.2))
        self.start_channels = ch
        blocks: list[nn.Module] = []
        for _ in range(n_up):
            out = max(ch // 2, width)
            # Without batch norm each item's g(z) is independent of its batch
            # (needed for per-item posterior inference and anomaly scores).
            norm: list[nn.Module] = [nn.BatchNorm2d(out)] if batch_norm else []
            blocks += [nn.ConvTranspose2d(ch, out, 4, 2, 1), *norm, nn.LeakyReLU(0.2)]
            ch = out
        blocks += [nn.Conv2d(ch, channels, 3, 1, 1), nn.Tanh()]
        self.net = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(z.shape[0], self.start_channels, 4, 4)
        return self.net(h)


def build_generator(z_dim: int, item_shape: tuple[int, ...], width: int = 32,
                    batch_norm: bool = True) -> nn.Module:
    """A generator for items of ``item_shape``: conv for square images, MLP otherwise
    (``batch_norm`` applies to the conv generator only)."""
    if len(item_shape) == 3 and item_shape[1] == item_shape[2] and item_shape[1] >= 4 \
            and not item_shape[1] & (item_shape[1] - 1):
        return ConvGenerator(z_dim, item_shape[0], item_shape[1], width, batch_norm)
    return MLPGenerator(z_dim, item_shape, width=max(width, 64))
