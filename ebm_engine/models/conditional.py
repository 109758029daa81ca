"""Networks of supervised conditional learning (method ``conditional_coop``).

The condition ``c`` reaches both networks as image planes of the output's
size (a masked image and its mask, one-hot label planes, or a picture):

- the **fast-thinking initializer** ``y = g_α(c, z)``: a small encoder–decoder
  (U-Net) with coordinate planes and a fully connected bottleneck, where the
  noise ``z ~ N(0, I)`` enters (different ``z``, different outputs);
- the **slow-thinking solver**'s energy ``E_θ(c, y) = −f_θ([c, y])``: any
  registered energy network (``model.name``, e.g. the Generative ConvNet) on
  the condition planes stacked on the output's channels (see
  :class:`ConditionalEnergy`).
"""

from __future__ import annotations

import torch
from torch import nn

from ebm_engine.config import ModelConfig
from ebm_engine.errors import ConfigError
from ebm_engine.models.registry import build_model


def _coords(b: int, h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    """Two planes of pixel coordinates in ``[-1, 1]`` (where things are, for a conv net)."""
    ys = torch.linspace(-1, 1, h, device=like.device, dtype=like.dtype)
    xs = torch.linspace(-1, 1, w, device=like.device, dtype=like.dtype)
    grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij"))
    return grid.expand(b, 2, h, w)


class ConditionalInitializer(nn.Module):
    """``g_α(c, z)``: condition planes ``(B, c_channels, S, S)`` and ``z (B, z_dim)``
    to an output ``(B, y_channels, S, S)`` in ``[-1, 1]`` (tanh).

    Encoder at ``S``, ``S/2``, ``S/4``; the bottleneck is flattened, joined
    with ``z`` and mapped back through a hidden layer (global structure: a
    label's digit has to be drawn from constant planes); the decoder gets the
    encoder's features at each scale (skips keep the visible pixels sharp).
    """

    def __init__(self, c_channels: int, y_channels: int, size: int, z_dim: int,
                 width: int = 32, hidden: int = 256):
        super().__init__()
        if size % 4 or size < 8:
            raise ConfigError(f"the initializer needs an output side divisible by 4 and >= 8, got {size}")
        w = width
        act = nn.LeakyReLU(0.2)
        self.z_dim, self.bottom = z_dim, size // 4
        self.e1 = nn.Sequential(nn.Conv2d(c_channels + 2, w, 3, 1, 1), act)
        self.e2 = nn.Sequential(nn.Conv2d(w, 2 * w, 4, 2, 1), act)
        self.e3 = nn.Sequential(nn.Conv2d(2 * w, 4 * w, 4, 2, 1), act)
        flat = 4 * w * self.bottom**2
        self.fc = nn.Sequential(nn.Linear(flat + z_dim, hidden), act, nn.Linear(hidden, flat), act)
        self.d3 = nn.Sequential(nn.ConvTranspose2d(8 * w, 2 * w, 4, 2, 1), act)
        self.d2 = nn.Sequential(nn.ConvTranspose2d(4 * w, w, 4, 2, 1), act)
        self.out = nn.Sequential(nn.Conv2d(2 * w, y_channels, 3, 1, 1), nn.Tanh())

    def forward(self, c: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        b, _, h, w = c.shape
        h1 = self.e1(torch.cat([c, _coords(b, h, w, c)], 1))
        h2 = self.e2(h1)
        h3 = self.e3(h2)
        g = self.fc(torch.cat([h3.flatten(1), z], 1)).view_as(h3)
        u2 = self.d3(torch.cat([h3, g], 1))
        u1 = self.d2(torch.cat([h2, u2], 1))
        return self.out(torch.cat([h1, u1], 1))


class ConditionalEnergy(nn.Module):
    """``f_θ(c, y)``: an energy network on ``[c, y]`` stacked along channels.

    Chains of a subset of the batch (recorded frames) use the first rows of ``c``.
    """

    def __init__(self, cfg: ModelConfig, c_channels: int, y_shape: tuple[int, ...]):
        super().__init__()
        self.body = build_model(cfg, (c_channels + y_shape[0], *y_shape[1:]))

    def forward(self, c: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.body(torch.cat([c[: y.shape[0]].to(y.dtype), y], 1))
