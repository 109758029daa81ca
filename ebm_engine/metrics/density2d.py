"""KL and JS divergences on a grid, for 2D densities.

The plane around the data is cut into ``bins × bins`` cells. The data and
the samples become normalised histograms ``p_data``, ``p_samples``; the
model becomes ``p_model(cell) ∝ exp(−E(centre))``, normalised on the grid.
Samples that fall outside the grid are not dropped: they count in one extra
"outside" cell, where the data have no mass, so a model that scatters samples
far from the data scores worse, not better. Every histogram is smoothed by
``eps`` per cell (so KL stays finite) and renormalised. We report

    KL(p_data ‖ q) = Σ p_data log(p_data / q),
    JS(p_data, q)  = ½ KL(p_data ‖ m) + ½ KL(q ‖ m),   m = (p_data + q)/2,

for ``q = p_model`` and ``q = p_samples`` (natural log; JS ≤ log 2).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ebm_engine.errors import DataError


def grid_bounds(data: np.ndarray, margin: float = 0.1) -> tuple[float, float, float, float]:
    """Square bounds around ``(N, 2)`` data, widened by ``margin`` of its span."""
    lo, hi = data.min(0), data.max(0)
    centre, half = (lo + hi) / 2.0, float((hi - lo).max()) / 2.0 * (1.0 + margin)
    half = max(half, 1e-3)
    return (centre[0] - half, centre[0] + half, centre[1] - half, centre[1] + half)


def histogram(points: np.ndarray, bounds: tuple[float, float, float, float], bins: int) -> np.ndarray:
    """Counts of ``(N, 2)`` points in the grid cells (points outside are dropped)."""
    x0, x1, y0, y1 = bounds
    h, _, _ = np.histogram2d(points[:, 0], points[:, 1], bins=bins, range=[[x0, x1], [y0, y1]])
    return h


def _with_outside(counts: np.ndarray, total: int) -> np.ndarray:
    """The grid's ``counts`` of ``total`` points, flattened, and one last cell counting
    the points outside the grid."""
    flat = counts.ravel()
    return np.append(flat, total - flat.sum())


def _normalise(p: np.ndarray, eps: float) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    total = p.sum()
    p = p / total if total > 0 else np.full_like(p, 1.0 / p.size)
    p = p + eps
    return p / p.sum()


def kl(p: np.ndarray, q: np.ndarray) -> float:
    return float(np.sum(p * (np.log(p) - np.log(q))))


def js(p: np.ndarray, q: np.ndarray) -> float:
    m = (p + q) / 2.0
    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def model_grid(energy_fn: Callable[[torch.Tensor], torch.Tensor],
               bounds: tuple[float, float, float, float], bins: int) -> np.ndarray:
    """``exp(−E)`` at the cell centres, normalised on the grid (histogram layout); all
    NaN where the energy is finite nowhere."""
    x0, x1, y0, y1 = bounds
    xs = x0 + (np.arange(bins) + 0.5) * (x1 - x0) / bins
    ys = y0 + (np.arange(bins) + 0.5) * (y1 - y0) / bins
    gx, gy = np.meshgrid(xs, ys, indexing="ij")  # [i, j] = (x_i, y_j), as histogram2d
    pts = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32))
    with torch.no_grad():
        e = torch.cat([energy_fn(c).detach().double().cpu() for c in pts.split(8192)]).numpy()
    e = np.nan_to_num(e, nan=np.inf, posinf=np.inf, neginf=-1e30)
    if not np.isfinite(e).any():  # no density anywhere: undefined, not a uniform grid
        return np.full((bins, bins), np.nan)
    logp = -(e - e.min())
    return np.exp(logp).reshape(bins, bins)


def grid_divergences(
    data: np.ndarray,
    samples: np.ndarray | None = None,
    energy_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
    bins: int = 64,
    eps: float = 1e-6,
) -> dict[str, float]:
    """KL/JS of samples and/or the model's grid density against the data.

    Parameters
    ----------
    data : array ``(N, 2)``
        Training points (they set the grid).
    samples : array ``(M, 2)``, optional
        Model samples.
    energy_fn : callable, optional
        ``x ↦ E(x)`` of shape ``(B,)``, for the model's own density.
    bins : int
        Cells per axis.
    eps : float
        Smoothing mass per cell.

    Returns
    -------
    dict
        ``kl_samples``, ``js_samples`` and/or ``kl_model``, ``js_model``
        (each ``KL(data ‖ ·)``, ``JS(data, ·)``); lower is better.
    """
    data = np.asarray(data, dtype=np.float64)
    if data.ndim != 2 or data.shape[1] != 2:
        raise DataError(f"grid divergences need (N, 2) points, got {data.shape}")
    bounds = grid_bounds(data)
    counts = histogram(data, bounds, bins)
    p = _normalise(counts, eps)
    out: dict[str, float] = {}
    if samples is not None:
        s = np.nan_to_num(np.asarray(samples, dtype=np.float64), nan=1e9, posinf=1e9, neginf=-1e9)
        p_out = _normalise(_with_outside(counts, len(data)), eps)  # the grid holds all the data
        q = _normalise(_with_outside(histogram(s, bounds, bins), len(s)), eps)
        out["kl_samples"], out["js_samples"] = kl(p_out, q), js(p_out, q)
    if energy_fn is not None:
        grid = model_grid(energy_fn, bounds, bins)
        if np.isnan(grid).any():
            out["kl_model"] = out["js_model"] = float("nan")
        else:
            q = _normalise(grid, eps)
            out["kl_model"], out["js_model"] = kl(p, q), js(p, q)
    return out
