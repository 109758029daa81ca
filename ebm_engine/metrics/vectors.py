"""Samples of points in any number of dimensions against their data: kernel MMD.

The 2D demos have their grid KL/JS (:mod:`.density2d`); a user's ``(N, D)``
vectors with ``D != 2`` had no metric at all. ``mmd_rbf`` is the (biased,
V-statistic) squared MMD with a Gaussian kernel whose width is the median
distance between data points, on at most :data:`MAX_ITEMS` of each;
``mmd_rbf_floor`` is the same statistic between two disjoint halves of the
data, what a perfect sampler of that size would score (a reference).
"""

from __future__ import annotations

import numpy as np

MAX_ITEMS = 1000
"""Points of each set used (the kernel matrices are quadratic)."""


def _mmd2(a: np.ndarray, b: np.ndarray, width: float) -> float:
    def k(x: np.ndarray, y: np.ndarray) -> float:
        d2 = (x * x).sum(1)[:, None] + (y * y).sum(1)[None] - 2.0 * x @ y.T
        return float(np.exp(-np.maximum(d2, 0.0) / (2.0 * width * width)).mean())

    return k(a, a) + k(b, b) - 2.0 * k(a, b)


def vector_metrics(samples: np.ndarray, items: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Kernel MMD of samples against their data, and what a perfect sampler scores.

    Parameters
    ----------
    samples : np.ndarray
        ``(N, D)`` samples; a non-finite one (a chain that blew up) counts as a
        point far from all data, as the 2D metric counts it outside its grid.
    items : np.ndarray
        ``(M, D)`` data.
    seed : int
        Seed of the subsets.

    Returns
    -------
    dict
        ``{"mmd_rbf", "mmd_rbf_floor"}`` (NaN with fewer than 2 samples or 4 data).
    """
    rng = np.random.default_rng(seed)
    x = np.asarray(samples, np.float64).reshape(len(samples), -1)
    y = np.asarray(items, np.float64).reshape(len(items), -1)
    if len(x) < 2 or len(y) < 4:
        return {"mmd_rbf": float("nan"), "mmd_rbf_floor": float("nan")}
    y = y[rng.permutation(len(y))[:2 * MAX_ITEMS]]
    x = x[:MAX_ITEMS]
    pairs = y[rng.integers(0, len(y), (2, 500))]
    width = float(np.median(np.linalg.norm(pairs[0] - pairs[1], axis=1))) or 1.0
    # far enough that the kernel is 0 to every data point and to every other sample
    far = np.abs(y).max() + 100.0 * width * (1.0 + np.arange(len(x)))[:, None]
    x = np.where(np.isfinite(x).all(1, keepdims=True), x, far)
    half = len(y) // 2
    size = min(len(x), half)
    return {"mmd_rbf": _mmd2(x[:size], y[:size], width),
            "mmd_rbf_floor": _mmd2(y[half:half + size], y[:size], width)}
