"""Simple pixel-space sample-quality statistics (tests and method comparisons).

They need no trained classifier, so they work from the first iteration and
can fail: a sampler that ignores the data scores as badly as noise.
"""

from __future__ import annotations

import torch


def moment_distance(samples: torch.Tensor, data: torch.Tensor) -> float:
    """RMS difference of the per-pixel mean plus RMS difference of the per-pixel std."""
    s, d = samples.flatten(1).float(), data.flatten(1).float()
    mean_gap = (s.mean(0) - d.mean(0)).pow(2).mean().sqrt()
    std_gap = (s.std(0) - d.std(0)).pow(2).mean().sqrt()
    return float(mean_gap + std_gap)


def pixel_mmd(samples: torch.Tensor, data: torch.Tensor, bandwidth: float | None = None) -> float:
    """Squared maximum mean discrepancy (biased estimate) with a Gaussian kernel on pixels.

    ``bandwidth`` defaults to the median pairwise distance of ``data``.
    """
    s, d = samples.flatten(1).double(), data.flatten(1).double()
    if bandwidth is None:
        bandwidth = float(torch.cdist(d, d).median().clamp_min(1e-6))

    def k(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.exp(-torch.cdist(a, b).pow(2) / (2 * bandwidth**2))

    return float(k(s, s).mean() + k(d, d).mean() - 2 * k(s, d).mean())
