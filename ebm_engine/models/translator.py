"""Translator networks ``y = G(x)``: an item of one domain to an item of the same shape.

The initializers of cycle-consistent cooperative networks
(:mod:`ebm_engine.methods.cycle_coop`), after CycleGAN's ResNet generator
(Zhu et al. 2017): a convolutional encoder that halves the resolution
``downsample`` times, residual blocks at the bottom, and a decoder back to
the input size. No skip connections: the content must pass through the
bottleneck, so keeping it is something the losses have to ask for.

- images ``(C, H, W)``: 2D convolutions; output in ``[-1, 1]`` (tanh);
- sequences ``(T, D)`` (trajectories): 1D convolutions over time with the
  ``D`` coordinates as channels; unbounded output;
- flat items ``(D,)``: an MLP.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class _Residual(nn.Module):
    def __init__(self, conv: type[nn.Module], ch: int):
        super().__init__()
        self.body = nn.Sequential(conv(ch, ch, 3, 1, 1), nn.SiLU(), conv(ch, ch, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ConvTranslator(nn.Module):
    """Encoder → residual blocks → decoder, in 1D (sequences) or 2D (images).

    Parameters
    ----------
    dims : int
        1 (sequences, channels = coordinates) or 2 (images).
    channels : int
        Channels of the items.
    width : int
        Channels of the first layer (doubled at every downsampling).
    downsample : int
        Resolution halvings (each spatial size must divide by ``2**downsample``).
    blocks : int
        Residual blocks at the bottleneck.
    bounded : bool
        ``tanh`` output (images in ``[-1, 1]``) or a linear one.
    """

    def __init__(self, dims: int, channels: int, width: int = 32, downsample: int = 2,
                 blocks: int = 2, bounded: bool = True):
        super().__init__()
        conv = nn.Conv1d if dims == 1 else nn.Conv2d
        up = nn.ConvTranspose1d if dims == 1 else nn.ConvTranspose2d
        layers: list[nn.Module] = [conv(channels, width, 3, 1, 1), nn.SiLU()]
        ch = width
        for _ in range(downsample):
            layers += [conv(ch, 2 * ch, 4, 2, 1), nn.SiLU()]
            ch *= 2
        layers += [_Residual(conv, ch) for _ in range(blocks)]
        for _ in range(downsample):
            layers += [up(ch, ch // 2, 4, 2, 1), nn.SiLU()]
            ch //= 2
        layers.append(conv(ch, channels, 3, 1, 1))
        if bounded:
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.dims == 1:  # (B, T, D) → channels first and back
            return self.net(x.transpose(1, 2)).transpose(1, 2)
        return self.net(x)


class MLPTranslator(nn.Module):
    """``G(x)`` for flat items: an MLP from ``D`` values to ``D`` values."""

    def __init__(self, shape: tuple[int, ...], width: int = 128, depth: int = 3):
        super().__init__()
        dim = math.prod(shape)
        layers: list[nn.Module] = []
        d = dim
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.SiLU()]
            d = width
        layers.append(nn.Linear(d, dim))
        self.net = nn.Sequential(*layers)
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1)).view(x.shape[0], *self.shape)


def build_translator(item_shape: tuple[int, ...], width: int = 32, downsample: int = 2,
                     blocks: int = 2, bounded: bool = True) -> nn.Module:
    """The translator for items of ``item_shape``: 2D conv (images), 1D conv
    (sequences ``(T, D)``) or MLP (flat); halvings are reduced until the
    spatial sizes divide."""
    shape = tuple(int(s) for s in item_shape)
    if len(shape) == 1:
        return MLPTranslator(shape, width=max(width, 16) * 4)
    spatial = shape[1:] if len(shape) == 3 else shape[:1]
    while downsample > 0 and any(s % (2 ** downsample) for s in spatial):
        downsample -= 1
    if len(shape) == 3:
        return ConvTranslator(2, shape[0], width, downsample, blocks, bounded)
    if len(shape) == 2:
        return ConvTranslator(1, shape[1], width, downsample, blocks, bounded=False)
    raise ValueError(f"no translator for items of shape {shape}")
