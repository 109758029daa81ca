"""A 2D run's training points, drawn in light grey under its samples.

A chain of eight dots alone does not say which data it learned: the app's
landscape view and every 2D picture of samples (``ebm sample``, the app's
Export) draw the same subsample of the data beneath them.
"""

from __future__ import annotations

import numpy as np

from ebm_engine.config import RunConfig
from ebm_engine.errors import EBMError

#: Training points drawn under 2D samples.
DATA_POINTS_SHOWN = 1500


def training_points(cfg: RunConfig) -> np.ndarray | None:
    """Up to :data:`DATA_POINTS_SHOWN` of a 2D run's training points, ``(M, 2)``.

    Returns
    -------
    np.ndarray or None
        The points (the same subsample each call), or None where the data cannot
        be read now (a file the run was trained on may have moved).
    """
    from ebm_engine.data import load_dataset

    try:
        items = load_dataset(cfg.data).items
    except (EBMError, OSError):
        return None
    return subsample(items.cpu().numpy())


def subsample(items: np.ndarray) -> np.ndarray:
    """At most :data:`DATA_POINTS_SHOWN` of ``items``, drawn with a fixed seed."""
    gen = np.random.default_rng(0)
    return items[gen.choice(len(items), min(len(items), DATA_POINTS_SHOWN), replace=False)]
