"""Anomaly scores from trained models, and the AUROC that rates them.

Any learning method can score items: by default the score is the main
EBM's energy ``E(x)`` (lower energy = more probable = less anomalous). A
method with a better notion implements ``anomaly_score(x) -> (B,)`` (the
latent-space EBM prior scores ``−log p(x, z*)`` at the inferred latent).
"""

from __future__ import annotations

import numpy as np
import torch

from ebm_engine.errors import DataError
from ebm_engine.methods.base import LearningMethod


def score(method: LearningMethod, x: torch.Tensor | np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Per-item anomaly scores of ``x`` (higher = more anomalous).

    Parameters
    ----------
    method : LearningMethod
        A trained method (e.g. ``load_model(run).method``).
    x : tensor or array
        ``(N, *item_shape)`` items in model space.
    batch_size : int
        Items scored at a time.

    Returns
    -------
    np.ndarray
        ``(N,)`` float64 scores.
    """
    x = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x, dtype=torch.float32)
    shape = tuple(method.spec.item_shape)
    if tuple(x.shape[1:]) != shape:
        raise DataError(f"items of shape {tuple(x.shape[1:])} do not fit the model's {shape}")
    fn = getattr(method, "anomaly_score", None) or method.energy
    for net in method.networks().values():
        net.eval()
    out = []
    for start in range(0, x.shape[0], batch_size):
        chunk = x[start:start + batch_size].to(method.device)
        with torch.no_grad():
            out.append(fn(chunk).detach().double().cpu().numpy().reshape(-1))
    return np.concatenate(out) if out else np.zeros(0)


def auroc(normal: np.ndarray, anomalous: np.ndarray) -> float:
    """Area under the ROC curve of scores separating ``anomalous`` (positives,
    expected higher) from ``normal``: the probability that a random anomaly
    scores above a random normal item, ties counting half (Mann–Whitney U).
    """
    normal = np.asarray(normal, dtype=np.float64).ravel()
    anomalous = np.asarray(anomalous, dtype=np.float64).ravel()
    if normal.size == 0 or anomalous.size == 0:
        raise DataError("AUROC needs at least one normal and one anomalous score")
    both = np.concatenate([normal, anomalous])
    # Average ranks (1-based), ties sharing their mean rank.
    order = np.argsort(both, kind="mergesort")
    ranks = np.empty(both.size)
    sorted_vals = both[order]
    i = 0
    while i < both.size:
        j = i
        while j + 1 < both.size and sorted_vals[j + 1] == sorted_vals[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    n_pos, n_neg = anomalous.size, normal.size
    u = ranks[n_neg:].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))
