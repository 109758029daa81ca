"""Metrics of trajectory prediction: ADE/FDE, best of K, and the constant-velocity baseline.

=================  =====================================================
metric             meaning (metres, held-out agents)
=================  =====================================================
``ade``            average displacement error of the best of K predicted
                   futures (K = 20: the ETH/UCY protocol)
``fde``            final displacement error of the best of K
``ade_1``          the same for one prediction (no choice among K)
``ade_cv``         ADE of the constant-velocity extrapolation of the last
                   observed step (one deterministic prediction)
``fde_cv``         its FDE
``ade_gain_cv``    ``1 − ade / ade_cv``: how much the model improves on
                   constant velocity (0.3 = 30 % lower ADE)
=================  =====================================================
"""

from __future__ import annotations

import numpy as np

#: Which way each metric improves (a method's ``better``).
BETTER = {"ade": "lower", "fde": "lower", "ade_1": "lower", "fde_1": "lower",
          "ade_cv": "lower", "fde_cv": "lower", "ade_gain_cv": "higher"}


def displacement_errors(predicted: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best-of-K ADE and FDE per item.

    Parameters
    ----------
    predicted : array ``(N, K, T, 2)`` (or ``(N, T, 2)`` for one prediction)
    truth : array ``(N, T, 2)``

    Returns
    -------
    ade, fde : arrays ``(N,)``
        The smallest average and final errors over the K predictions
        (each minimised on its own, as the benchmarks do).
    """
    predicted = np.asarray(predicted, np.float64)
    if predicted.ndim == 3:
        predicted = predicted[:, None]
    dist = np.linalg.norm(predicted - np.asarray(truth, np.float64)[:, None], axis=-1)  # (N, K, T)
    return dist.mean(2).min(1), dist[:, :, -1].min(1)


def constant_velocity(observed: np.ndarray, steps: int) -> np.ndarray:
    """Extrapolate the last observed step: ``(N, T_obs, 2)`` → ``(N, steps, 2)``."""
    observed = np.asarray(observed, np.float64)
    velocity = observed[:, -1] - observed[:, -2]
    return observed[:, -1][:, None] + velocity[:, None] * np.arange(1, steps + 1)[None, :, None]


def prediction_metrics(samples: np.ndarray, observed: np.ndarray, truth: np.ndarray
                       ) -> dict[str, float]:
    """ADE/FDE (best of K, and of the first draw) and the constant-velocity baseline.

    ``samples`` is ``(N, K, T, 2)``; ``observed`` ``(N, T_obs, 2)``; ``truth`` ``(N, T, 2)``.
    """
    ade, fde = displacement_errors(samples, truth)
    ade1, fde1 = displacement_errors(samples[:, 0], truth)
    cv_ade, cv_fde = displacement_errors(constant_velocity(observed, truth.shape[1]), truth)
    # The gain over the baseline is a ratio: where the baseline is all but exact
    # (agents walking straight lines), it is undefined rather than -9e5.
    scale = float(np.abs(truth).mean()) + 1e-12
    gain = 1.0 - ade.mean() / cv_ade.mean() if cv_ade.mean() > 1e-6 * scale else float("nan")
    return {"ade": float(ade.mean()), "fde": float(fde.mean()),
            "ade_1": float(ade1.mean()), "fde_1": float(fde1.mean()),
            "ade_cv": float(cv_ade.mean()), "fde_cv": float(cv_fde.mean()),
            "ade_gain_cv": float(gain)}


def heldout_windows(dataset, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` held-out ``(observed, future)`` windows of a trajectory dataset, evenly
    spread over ``meta["heldout*"]`` (neighbouring windows are one agent a few
    frames apart); the training windows when nothing is held out."""
    meta = dataset.meta
    past, truth = meta.get("heldout_observed"), meta.get("heldout")
    if past is None or not len(past):
        past, truth = meta["observed"], dataset.items.numpy()
    past, truth = np.asarray(past), np.asarray(truth)
    pick = np.unique(np.linspace(0, len(past) - 1, min(n, len(past))).astype(int))
    return past[pick], truth[pick]
