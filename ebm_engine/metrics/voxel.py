"""Voxel-grid set metrics with the IoU distance.

Grids in model space (``-1`` empty, ``+1`` full) are binarised at 0; two
shapes are ``1 − IoU`` apart. MMD, COV and 1-NNA are then the point-cloud
set metrics (:func:`ebm_engine.metrics.pointcloud.set_metrics`): MMD-IoU
(lower is better), COV-IoU (higher), 1-NNA-IoU (0.5 at best).
"""

from __future__ import annotations

import numpy as np
import torch

from ebm_engine.errors import DataError
from ebm_engine.metrics.pointcloud import set_metrics


def _occupancy(x: np.ndarray | torch.Tensor, name: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).detach().cpu()
    if t.ndim < 4 or t.shape[0] == 0:
        raise DataError(f"{name} must be (N, 1, D, H, W) voxel grids, got {tuple(t.shape)}")
    return (torch.nan_to_num(t.float(), nan=-1.0) > 0).flatten(1).float()


def iou_distance(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> np.ndarray:
    """``1 − IoU(a_i, b_j)`` for all pairs (two empty grids are 0 apart)."""
    oa, ob = _occupancy(a, "a"), _occupancy(b, "b")
    inter = (oa @ ob.T).double()
    union = oa.sum(1, keepdim=True).double() + ob.sum(1).double()[None] - inter
    iou = torch.where(union > 0, inter / union.clamp_min(1.0), torch.ones_like(inter))
    return (1.0 - iou).numpy()


def voxel_metrics(generated: np.ndarray | torch.Tensor,
                  reference: np.ndarray | torch.Tensor) -> dict[str, float]:
    """``{"mmd_iou", "cov_iou", "1nna_iou", "iou_nearest"}`` of generated vs reference grids.

    ``iou_nearest`` is ``1 − mmd_iou``: the mean IoU of each reference shape
    with its closest generated one (higher is better).
    """
    out = set_metrics(iou_distance(generated, reference), iou_distance(generated, generated),
                      iou_distance(reference, reference), "iou")
    out["iou_nearest"] = 1.0 - out["mmd_iou"]
    return out
