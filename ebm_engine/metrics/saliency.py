"""Saliency-map metrics (Bylinskii et al., "What do different evaluation metrics
tell us about saliency models?", TPAMI 2019), for maps ``(N, H, W)`` ≥ 0.

- ``cc``: Pearson correlation of the predicted and ground-truth maps (1 is best);
- ``kld``: ``KL(G ‖ P) = Σ G log((G + ε) / (P + ε))`` with both maps normalised
  to sum to 1 (0 is best);
- ``auc``: area under the ROC curve of the predicted values separating the
  *fixated* pixels (ground truth ≥ half its peak: the odd items) from the
  rest (1 is best, 0.5 is chance);
- ``diversity``: the mean per-pixel standard deviation of several maps sampled
  for the same image (a generative model's spread);
- ``hits``: whether a map's peak lands on an item (within ``HIT_RADIUS`` px of
  its centre): the odd one found.

Each function returns the mean over the ``N`` images.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-7
HIT_RADIUS = 3.0  # px: half a pop-out scene's grid cell
FIXATED = 0.5  # fraction of the ground truth's peak that counts as fixated

BETTER = {"cc": "higher", "kld": "lower", "auc": "higher"}


def _flat(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(x.shape[0], -1)


def cc(pred: np.ndarray, gt: np.ndarray) -> float:
    p, g = _flat(pred), _flat(gt)
    p = (p - p.mean(1, keepdims=True)) / (p.std(1, keepdims=True) + EPS)
    g = (g - g.mean(1, keepdims=True)) / (g.std(1, keepdims=True) + EPS)
    return float((p * g).mean(1).mean())


def kld(pred: np.ndarray, gt: np.ndarray) -> float:
    p, g = np.clip(_flat(pred), 0, None), np.clip(_flat(gt), 0, None)
    p = p / (p.sum(1, keepdims=True) + EPS)
    g = g / (g.sum(1, keepdims=True) + EPS)
    return float((g * np.log((g + EPS) / (p + EPS))).sum(1).mean())


def _auc_one(values: np.ndarray, positive: np.ndarray) -> float:
    """ROC AUC by ranks (Mann–Whitney U; ties count half)."""
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return 0.5
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    sorted_vals = values[order]
    # Average ranks over ties.
    _, first, counts = np.unique(sorted_vals, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auc(pred: np.ndarray, gt: np.ndarray) -> float:
    p, g = _flat(pred), _flat(gt)
    pos = g >= FIXATED * g.max(1, keepdims=True)
    return float(np.mean([_auc_one(p[i], pos[i]) for i in range(len(p))]))


def saliency_metrics(pred: np.ndarray, gt: np.ndarray, suffix: str = "") -> dict[str, float]:
    """``cc{suffix}``, ``kld{suffix}`` and ``auc{suffix}`` of ``pred`` against ``gt``."""
    return {f"cc{suffix}": cc(pred, gt), f"kld{suffix}": kld(pred, gt), f"auc{suffix}": auc(pred, gt)}


def diversity(draws: np.ndarray) -> float:
    """Mean per-pixel standard deviation of draws ``(N, K, H, W)`` over their ``K`` axis."""
    return float(np.asarray(draws, dtype=np.float64).std(axis=1).mean())


def peaks(maps: np.ndarray) -> np.ndarray:
    """``(..., 2)`` pixel-centre ``(x, y)`` of each map's maximum, for maps ``(..., H, W)``."""
    m = np.asarray(maps)
    flat = m.reshape(*m.shape[:-2], -1).argmax(-1)
    return np.stack([flat % m.shape[-1], flat // m.shape[-1]], -1) + 0.5


def hits(maps: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """``(...)`` bool: the peak of each map ``(..., H, W)`` is on the item at ``centres (..., 2)``."""
    return np.hypot(*np.moveaxis(peaks(maps) - centres, -1, 0)) <= HIT_RADIUS
