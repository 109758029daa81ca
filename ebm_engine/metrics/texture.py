"""Texture statistics distance: Gram matrices of fixed random conv features.

Texture-synthesis work (Gatys et al. 2015; Ustyuzhaninov et al. 2017 showed
that *random* filters suffice) describes a stationary texture by the Gram
matrices ``G_l = F_l F_lᵀ / (H_l W_l)`` of its feature maps ``F_l``
(``C_l × H_l W_l``). We use three layers of seeded random 3×3 convolutions
with ReLU and 2× average pooling between them (no download, identical on
every machine) and report

    D = mean_l |Ḡ_l(samples) − Ḡ_l(data)|_F / |Ḡ_l(data)|_F,

``Ḡ`` the mean Gram matrix over a set. 0 for identical sets; lower is better.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ebm_engine.errors import DataError

WIDTH = 32
LAYERS = 3


#: What a non-finite pixel counts as: far outside any image's range.
BROKEN = 10.0


@functools.lru_cache(maxsize=8)
def _features(channels: int) -> nn.Module:
    gen = torch.Generator().manual_seed(1234)
    convs = []
    c = channels
    for _ in range(LAYERS):
        conv = nn.Conv2d(c, WIDTH, 3, padding=1)
        with torch.no_grad():
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * (2.0 / (c * 9)) ** 0.5)
            conv.bias.zero_()
        conv.requires_grad_(False)
        convs.append(conv)
        c = WIDTH
    return nn.ModuleList(convs)


def mean_grams(images: np.ndarray | torch.Tensor, batch: int = 64) -> list[torch.Tensor]:
    """Mean Gram matrix per layer of ``(N, C, H, W)`` images (float64)."""
    x = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
    # a broken pixel scores as far off, not as grey (0) or as NaN (inf → float32's max)
    x = torch.nan_to_num(x.detach().to("cpu", torch.float32), nan=BROKEN, posinf=BROKEN,
                         neginf=-BROKEN)
    if x.ndim != 4 or x.shape[0] == 0:
        raise DataError(f"texture metrics need (N, C, H, W) images, got {tuple(x.shape)}")
    convs = _features(int(x.shape[1]))
    sums = [torch.zeros(WIDTH, WIDTH, dtype=torch.float64) for _ in range(LAYERS)]
    with torch.no_grad():
        for chunk in x.split(batch):
            h = chunk
            for i, conv in enumerate(convs):
                if i and min(h.shape[-2:]) >= 2:
                    h = F.avg_pool2d(h, 2)
                h = F.relu(conv(h))
                f = h.flatten(2)
                sums[i] += torch.einsum("bcn,bdn->cd", f, f).double() / f.shape[-1]
    return [s / x.shape[0] for s in sums]


def gram_distance(samples: np.ndarray | torch.Tensor, data: np.ndarray | torch.Tensor) -> float:
    """Relative Gram-matrix distance of two image sets (0 = same statistics).

    Parameters
    ----------
    samples, data : array ``(N, C, H, W)``
        Image sets in model space (same channel count; sizes may differ).
    """
    gs, gd = mean_grams(samples), mean_grams(data)
    return float(np.mean([float((a - b).norm() / b.norm().clamp_min(1e-12)) for a, b in zip(gs, gd)]))
