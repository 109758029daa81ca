"""Dynamic-texture (video) statistics: appearance and motion Gram distances.

A video ``(C, T, H, W)`` is scored like a texture twice: its frames
(appearance) and its frame differences ``x_{t+1} − x_t`` (motion) go
through :func:`ebm_engine.metrics.texture.gram_distance`.
"""

from __future__ import annotations

import numpy as np
import torch

from ebm_engine.errors import DataError
from ebm_engine.metrics.texture import gram_distance


def _frames(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 2, 1, 3, 4).reshape(-1, x.shape[1], x.shape[3], x.shape[4])


def video_metrics(generated: np.ndarray | torch.Tensor,
                  reference: np.ndarray | torch.Tensor) -> dict[str, float]:
    """``{"gram_appearance", "gram_motion"}`` of ``(N, C, T, H, W)`` videos; lower is better."""
    g = torch.as_tensor(np.asarray(generated) if not isinstance(generated, torch.Tensor) else generated)
    r = torch.as_tensor(np.asarray(reference) if not isinstance(reference, torch.Tensor) else reference)
    if g.ndim != 5 or r.ndim != 5:
        raise DataError(f"video metrics need (N, C, T, H, W) videos, got {tuple(g.shape)}, {tuple(r.shape)}")
    g, r = g.detach().float().cpu(), r.detach().float().cpu()
    out = {"gram_appearance": gram_distance(_frames(g), _frames(r))}
    if g.shape[2] > 1 and r.shape[2] > 1:
        out["gram_motion"] = gram_distance(_frames(g.diff(dim=2)), _frames(r.diff(dim=2)))
    return out
