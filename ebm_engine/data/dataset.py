"""The in-memory dataset every learning method consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

# Data kinds and their item layouts (model space):
#   points      (D,)            raw coordinates, unbounded
#   image       (C, H, W)       values in [-1, 1]
#   video       (C, T, H, W)    values in [-1, 1]
#   voxel       (1, D, H, W)    occupancy in [-1, 1] (-1 empty, 1 full)
#   pointcloud  (N, 3)          coordinates in [-1, 1]
KINDS = ("points", "image", "video", "voxel", "pointcloud")


@dataclass
class Dataset:
    """Training items as one float32 tensor plus what is needed to show them.

    Attributes
    ----------
    name : str
        Demo name or the path it was read from.
    kind : str
        One of ``points``, ``image``, ``video``, ``voxel``, ``pointcloud``.
    items : torch.Tensor
        ``(N, *item_shape)`` float32, in model space.
    value_range : (float, float) or None
        Bounds of model space (used by clamping and display); ``None`` if unbounded.
    meta : dict
        Free-form facts (labels, source image, frame rate …).
    """

    name: str
    kind: str
    items: torch.Tensor
    value_range: tuple[float, float] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown data kind {self.kind!r}")
        self.items = self.items.detach().to(torch.float32).contiguous()

    @property
    def item_shape(self) -> tuple[int, ...]:
        return tuple(self.items.shape[1:])

    def __len__(self) -> int:
        return self.items.shape[0]

    def describe(self) -> str:
        shape = "×".join(str(s) for s in self.item_shape)
        return f"{self.name}: {len(self)} {self.kind} items of shape {shape}"


def to_display(x: np.ndarray, kind: str, value_range: tuple[float, float] | None) -> np.ndarray:
    """Map model-space samples to what views draw.

    Images, videos and voxels go to ``[0, 1]``; points and point clouds are
    returned unchanged.
    """
    if kind in ("image", "video", "voxel") and value_range is not None:
        lo, hi = value_range
        return np.clip((np.asarray(x, dtype=np.float32) - lo) / (hi - lo), 0.0, 1.0)
    return np.asarray(x, dtype=np.float32)
