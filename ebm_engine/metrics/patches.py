"""Patch nearest-neighbour distance of generated images to one source image.

For internal learning (one training image) the question is whether samples
are made of the source's patches without copying it: for every ``p×p``
patch of a sample (stride ``stride``) take the closest patch of the source
(stride 1) and average the root-mean-square pixel difference,

    D = mean_{patches q of samples} min_{patches r of source} RMS(q − r).

``D = 0`` means every patch is copied (the source itself scores 0); a large
``D`` means patches the source does not have (off-distribution, noise,
blur). Read it next to the references that ``Patchwise.evaluate`` measures
in the same call (the source flipped, the source blurred).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ebm_engine.errors import DataError


def patches(images: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    """All ``size×size`` patches of ``(N, C, H, W)`` images as rows ``(P, C·size²)``."""
    if images.ndim != 4 or min(images.shape[-2:]) < size:
        raise DataError(f"patch metrics need (N, C, H, W) images of at least {size} px, "
                        f"got {tuple(images.shape)}")
    cols = F.unfold(images.float(), size, stride=stride)  # (N, C·size², L)
    return cols.transpose(1, 2).reshape(-1, cols.shape[1])


def patch_nn_distance(samples: torch.Tensor, source: torch.Tensor, size: int = 7,
                      stride: int = 2, chunk: int = 2048) -> float:
    """Mean RMS distance of each sample patch to its nearest source patch.

    Parameters
    ----------
    samples : tensor ``(N, C, H, W)``
        Generated images (any size of at least ``size``), model space.
    source : tensor ``(1, C, H', W')``
        The training image.
    size, stride : int
        Patch side, and the stride over the samples (the source uses 1).
    """
    samples, source = torch.as_tensor(samples).detach().cpu(), torch.as_tensor(source).detach().cpu()
    if samples.shape[1] != source.shape[1]:
        raise DataError(f"samples have {samples.shape[1]} channels, the source {source.shape[1]}")
    ref = patches(source, size, 1)
    ref_sq = ref.pow(2).sum(1)
    total, count = 0.0, 0
    for q in patches(samples, size, stride).split(chunk):
        d2 = (q.pow(2).sum(1, keepdim=True) - 2 * q @ ref.T + ref_sq).clamp_min(0)
        total += float(d2.min(1).values.div(q.shape[1]).sqrt().sum())
        count += q.shape[0]
    return total / count
