"""Generative ConvNet (Xie et al., ICML 2016): the tutorial's image descriptor.

``f_θ(x)`` is a bottom-up ConvNet: a few strided conv layers with leaky ReLU,
then a linear read-out to a scalar. ``p_θ(x) ∝ exp(f_θ(x)) q(x)`` with
Gaussian reference ``q``; the network is an exponential tilting of ``q``.
Sizes 16² to 64²: each block halves the resolution until it is 4×4 or less.
"""

from __future__ import annotations

import torch
from torch import nn

from ebm_engine.config import ModelConfig
from ebm_engine.errors import ConfigError
from ebm_engine.models.layers import maybe_sn, option
from ebm_engine.models.registry import register


class GenerativeConvNet(nn.Module):
    """Descriptor net for ``(B, C, H, W)`` images → ``(B,)``."""

    def __init__(
        self,
        channels: int,
        size: int,
        width: int = 32,
        depth: int = 3,
        spectral_norm: bool = False,
        slope: float = 0.2,
    ):
        super().__init__()
        layers: list[nn.Module] = [
            maybe_sn(nn.Conv2d(channels, width, 3, 1, 1), spectral_norm),
            nn.LeakyReLU(slope),
        ]
        ch, res = width, size
        for _ in range(depth):
            out = min(ch * 2, width * 8)
            stride = 2 if res > 4 else 1
            layers += [maybe_sn(nn.Conv2d(ch, out, 4 if stride == 2 else 3, stride, 1), spectral_norm),
                       nn.LeakyReLU(slope)]
            ch, res = out, res // stride
        self.features = nn.Sequential(*layers)
        self.readout = maybe_sn(nn.Linear(ch * res * res, 1), spectral_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.features(x).flatten(1)).squeeze(1)


@register("convnet", options=("leaky_slope",))
def build_convnet(cfg: ModelConfig, data_shape: tuple[int, ...]) -> nn.Module:
    if len(data_shape) != 3:
        raise ConfigError(f"model 'convnet' needs (C, H, W) images, got items of shape {data_shape}")
    channels, height, width = data_shape
    if height != width or not 8 <= height <= 128:
        raise ConfigError(f"model 'convnet' needs square images of 8..128 px, got {height}x{width}")
    slope = option(cfg.options, "leaky_slope", 0.2, float, ge=0, le=1)
    return GenerativeConvNet(channels, height, cfg.width, cfg.depth, cfg.spectral_norm, slope)
