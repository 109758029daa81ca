"""Patch energy network: a small fully convolutional EBM (Zheng, Xie & Li 2021).

``f_θ(x) = Σ_{positions p} g_θ(x)[p]``: a few 3×3 convolutions with ELU give
one score per position, each seeing only a patch (receptive field
``2·(depth + 2) + 1`` px), and the image's score is their sum. The model is
a Markov random field over overlapping patches: it works at any image size
and aspect, which is what lets a single-image model synthesise a wider
picture than it was trained on.
"""

from __future__ import annotations

import torch
from torch import nn

from ebm_engine.config import ModelConfig
from ebm_engine.errors import ConfigError
from ebm_engine.models.layers import maybe_sn
from ebm_engine.models.registry import register


class PatchEnergy(nn.Module):
    """``(B, C, H, W)`` images (any H, W) → ``(B,)`` sums of patch scores.

    Parameters
    ----------
    channels : int
        Image channels.
    width : int
        Channels of the hidden convolutions.
    depth : int
        Hidden 3×3 convolutions between the first and the read-out layer.
    spectral_norm : bool
        Spectral normalisation of the hidden convolutions (as the paper).
    """

    def __init__(self, channels: int, width: int = 32, depth: int = 2, spectral_norm: bool = False):
        super().__init__()
        layers: list[nn.Module] = [maybe_sn(nn.Conv2d(channels, width, 3, padding=1), spectral_norm),
                                   nn.ELU()]
        for _ in range(depth):
            layers += [maybe_sn(nn.Conv2d(width, width, 3, padding=1), spectral_norm), nn.ELU()]
        layers.append(nn.Conv2d(width, 1, 3, padding=1))
        self.net = nn.Sequential(*layers)
        # Small initial weights (the paper: N(0, 0.005²)): a near-flat energy at first.
        with torch.no_grad():
            for m in self.net:
                if isinstance(m, nn.Conv2d):
                    m.weight.mul_(0.1)

    @property
    def receptive_field(self) -> int:
        n_convs = sum(isinstance(m, nn.Conv2d) or hasattr(m, "parametrizations") for m in self.net)
        return 2 * n_convs + 1

    def score_map(self, x: torch.Tensor) -> torch.Tensor:
        """Per-position scores ``(B, H, W)`` (high = likely patch)."""
        return self.net(x)[:, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.score_map(x).sum(dim=(1, 2))


@register("patchnet")
def build_patchnet(cfg: ModelConfig, data_shape: tuple[int, ...]) -> nn.Module:
    if len(data_shape) != 3:
        raise ConfigError(f"model 'patchnet' needs (C, H, W) images, got items of shape {data_shape}")
    return PatchEnergy(data_shape[0], cfg.width, cfg.depth, cfg.spectral_norm)
