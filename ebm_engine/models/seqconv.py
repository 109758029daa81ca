"""A 1D convolutional energy over sequences ``(T, D)`` (trajectories): ``f_θ(x)`` of shape ``(B,)``.

Convolutions over time see local style (jitter, slant, speed) and, stacked
with stride 2, the shape of the whole stroke; a linear layer on the pooled
features gives ``f_θ``. The ``D`` coordinates are the input channels.
"""

from __future__ import annotations

import torch
from torch import nn

from ebm_engine.config import ModelConfig
from ebm_engine.errors import ConfigError
from ebm_engine.models.registry import register


class SeqConvEnergy(nn.Module):
    """``depth`` stride-2 conv blocks of ``width``·2^k channels, global mean pooling, linear."""

    def __init__(self, coords: int, width: int = 32, depth: int = 3):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv1d(coords, width, 3, 1, 1), nn.SiLU()]
        ch = width
        for _ in range(depth):
            layers += [nn.Conv1d(ch, 2 * ch, 4, 2, 1), nn.SiLU()]
            ch *= 2
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x.transpose(1, 2))  # (B, T, D) → (B, D, T)
        return self.head(h.mean(2)).squeeze(1)


@register("seqconv", reads=("width", "depth"))
def build_seqconv(cfg: ModelConfig, data_shape: tuple[int, ...]) -> nn.Module:
    if len(data_shape) != 2:
        raise ConfigError(f"model 'seqconv' needs (T, D) sequences, got items of shape {data_shape}")
    return SeqConvEnergy(data_shape[1], cfg.width, cfg.depth)
