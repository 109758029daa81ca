"""Gaussian feature statistics, the Fréchet distance and polynomial-kernel MMD."""

from __future__ import annotations

import numpy as np


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (``ddof = 1``) of ``(N, d)`` features, float64."""
    f = np.asarray(features, dtype=np.float64)
    return f.mean(0), np.cov(f, rowvar=False)


def _sqrtm_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2.0)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """Fréchet (2-Wasserstein) distance² between ``N(μ1, Σ1)`` and ``N(μ2, Σ2)``.

    ``|μ1 − μ2|² + tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^{1/2})``; the trace of the matrix
    square root is computed as ``tr((S1 Σ2 S1)^{1/2})`` with ``S1 = Σ1^{1/2}``,
    which is symmetric PSD and so stable (no complex parts, no ``sqrtm``).
    Non-finite statistics (features of a NaN sample) give ``inf``, the worst.
    """
    if not all(np.isfinite(a).all() for a in (mu1, sigma1, mu2, sigma2)):
        return float("inf")  # eigh would fail ("eigenvalues did not converge")
    s1 = _sqrtm_psd(sigma1)
    middle = s1 @ sigma2 @ s1
    w = np.linalg.eigvalsh((middle + middle.T) / 2.0)
    tr_sqrt = float(np.sqrt(np.clip(w, 0.0, None)).sum())
    diff = np.asarray(mu1) - np.asarray(mu2)
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_sqrt)
    return max(value, 0.0)


def polynomial_mmd(a: np.ndarray, b: np.ndarray, degree: int = 3) -> float:
    """Unbiased MMD² with ``k(x, y) = (x·y/d + 1)^degree`` (the KID kernel)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    d = a.shape[1]
    kaa = (a @ a.T / d + 1.0) ** degree
    kbb = (b @ b.T / d + 1.0) ** degree
    kab = (a @ b.T / d + 1.0) ** degree
    m, n = len(a), len(b)
    return float(
        (kaa.sum() - np.trace(kaa)) / (m * (m - 1))
        + (kbb.sum() - np.trace(kbb)) / (n * (n - 1))
        - 2.0 * kab.mean()
    )
