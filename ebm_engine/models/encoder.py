"""Inference networks ``q_φ(z | x) = N(μ_φ(x), diag σ_φ(x)²)`` (amortised inference).

Used by the divergence triangle (:mod:`ebm_engine.methods.divergence_triangle`)
next to a generator from :mod:`ebm_engine.models.generator`. A strided conv
stack for ``(C, H, W)`` images, an MLP otherwise; both return ``(μ, log σ²)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class Encoder(nn.Module):
    """``x ↦ (μ, log σ²)``, each ``(B, z_dim)``.

    Parameters
    ----------
    item_shape : tuple of int
        ``(C, H, W)`` images get a conv net, other shapes an MLP on the flat item.
    z_dim : int
        Latent size.
    width : int
        Base channels (conv) or hidden units (MLP).
    """

    def __init__(self, item_shape: tuple[int, ...], z_dim: int, width: int = 32):
        super().__init__()
        self.z_dim = z_dim
        if len(item_shape) == 3:
            ch, res = item_shape[0], min(item_shape[1:])
            layers: list[nn.Module] = []
            out = width
            while res > 4:
                layers += [nn.Conv2d(ch, out, 4, 2, 1), nn.LeakyReLU(0.2)]
                ch, out, res = out, min(out * 2, width * 8), res // 2
            layers += [nn.Conv2d(ch, ch, 3, 1, 1), nn.LeakyReLU(0.2), nn.Flatten()]
            body = nn.Sequential(*layers)
            with torch.no_grad():
                features = body(torch.zeros(1, *item_shape)).shape[1]
        else:
            hidden = max(width, 64)
            body = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(item_shape), hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU())
            features = hidden
        self.body = body
        self.head = nn.Linear(features, 2 * z_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.head(self.body(x)).chunk(2, dim=1)
        return mu, logvar.clamp(-10.0, 5.0)  # keeps exp(logvar) finite early on


def build_encoder(z_dim: int, item_shape: tuple[int, ...], width: int = 32) -> Encoder:
    """An encoder for items of ``item_shape`` (mirrors ``build_generator``)."""
    return Encoder(tuple(item_shape), z_dim, width)
