"""Networks of the latent-belief trajectory predictor (:mod:`ebm_engine.methods.lbebm`).

- :class:`PastEncoder` ``c = h(past)``: the observed positions relative to
  the last one, and the last position in the scene (so the network can
  learn where the pillars and gates of a fixed scene are);
- :class:`LatentPriorEnergy` ``f_α(z, c)``: the conditional prior's
  negative energy (the "latent belief" of Pang et al. 2021);
- :class:`FutureDecoder` ``g_β(z, c)``: the future positions.

Positions are in scene units (metres); the networks see them normalised
by the data's scales, held as buffers so a checkpoint samples without its
training data.
"""

from __future__ import annotations

import torch
from torch import nn


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with GELU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.GELU())
    return nn.Sequential(*layers)


class PastEncoder(nn.Module):
    """``c = h(past)`` for pasts ``(B, T_obs, 2)``; also maps futures to and from
    the normalised displacements the decoder predicts."""

    def __init__(self, observed: int, feature_dim: int = 64, width: int = 128):
        super().__init__()
        self.net = mlp([observed * 2 + 2, width, width, feature_dim])
        # Scales of the data (set from the training set, saved with the weights).
        self.register_buffer("centre", torch.zeros(2))
        self.register_buffer("extent_scale", torch.ones(()))
        self.register_buffer("step_scale", torch.ones(()))

    def set_scales(self, observed: torch.Tensor, future: torch.Tensor) -> None:
        """Normalisation from training pasts ``(N, T_obs, 2)`` and futures ``(N, T, 2)``."""
        last = observed[:, -1]
        self.centre.copy_(last.mean(0))
        self.extent_scale.copy_(last.std(0).mean().clamp_min(1e-3))
        disp = future - last[:, None]
        self.step_scale.copy_(disp.std(0).mean().clamp_min(1e-3))

    def forward(self, past: torch.Tensor) -> torch.Tensor:
        last = past[:, -1]
        rel = (past - last[:, None]) / self.step_scale
        where = (last - self.centre) / self.extent_scale
        return self.net(torch.cat([rel.flatten(1), where], 1))

    def to_target(self, past: torch.Tensor, future: torch.Tensor) -> torch.Tensor:
        """Future positions as normalised displacements from the last observed one, flat."""
        return ((future - past[:, -1:]) / self.step_scale).flatten(1)

    def to_positions(self, past: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The inverse of :meth:`to_target`: ``(B, T, 2)`` positions."""
        return past[:, -1:] + target.view(target.shape[0], -1, 2) * self.step_scale


class LatentPriorEnergy(nn.Module):
    """``f_α(z, c)``: one scalar per row (the prior's negative energy, before the reference term)."""

    def __init__(self, z_dim: int, feature_dim: int, width: int = 128, depth: int = 2):
        super().__init__()
        self.net = mlp([z_dim + feature_dim] + [width] * depth + [1])

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, c], 1)).squeeze(1)


class FutureDecoder(nn.Module):
    """``g_β(z, c)``: normalised future displacements ``(B, 2·T)``."""

    def __init__(self, z_dim: int, feature_dim: int, predicted: int, width: int = 256):
        super().__init__()
        self.net = mlp([z_dim + feature_dim, width, width, predicted * 2])

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, c], 1))
