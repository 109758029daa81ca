"""Sample-quality metrics (lower is better unless a name says otherwise).

- images: :func:`digits_fd` (THE digits sample-quality number), :func:`digits_kid`,
  :func:`gram_distance` for textures;
- 2D points: :func:`grid_divergences` (KL/JS on a grid);
- point clouds: :func:`pointcloud_metrics` (MMD-CD, COV, 1-NNA);
- voxels: :func:`voxel_metrics` (IoU-based MMD, COV, 1-NNA);
- a run: :func:`evaluate_run` draws samples and scores them against its data.

Submodules are imported lazily so ``import ebm_engine.metrics`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "digits_fd": "digits",
    "digits_kid": "digits",
    "digits_features": "digits",
    "frechet_distance": "frechet",
    "gaussian_stats": "frechet",
    "polynomial_mmd": "frechet",
    "gram_distance": "texture",
    "grid_divergences": "density2d",
    "chamfer_matrix": "pointcloud",
    "pointcloud_metrics": "pointcloud",
    "voxel_metrics": "voxel",
    "video_metrics": "video",
    "evaluate_run": "evaluate",
    "evaluate_samples": "evaluate",
    "read_eval": "evaluate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(f"ebm_engine.metrics.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'ebm_engine.metrics' has no attribute {name!r}")
