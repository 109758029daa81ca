"""The energy landscape of a 2D model on a grid (for the app's heatmap).

Computed where the model lives (the training thread, between iterations) and
returned as plain numpy arrays, so views never touch a network:

    E(x) on a ``resolution × resolution`` grid over ``bounds``, and the score
    ``s(x) = −∇ₓE(x)`` (the Langevin drift direction) on a coarser grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ebm_engine.sampling.energy import EnergyFn


@dataclass(frozen=True)
class Landscape:
    """Energy and score of a 2D model on a grid.

    Attributes
    ----------
    bounds : (float, float, float, float)
        ``(xmin, xmax, ymin, ymax)`` of the grid.
    energy : np.ndarray
        ``(resolution, resolution)`` energies, row ``i`` at ``y_i`` (lower = more probable).
    arrow_xy : np.ndarray
        ``(m, 2)`` positions of the score arrows.
    arrow_uv : np.ndarray
        ``(m, 2)`` score ``−∇E`` at those positions.
    """

    bounds: tuple[float, float, float, float]
    energy: np.ndarray
    arrow_xy: np.ndarray
    arrow_uv: np.ndarray


def points_bounds(points: np.ndarray, margin: float = 0.2) -> tuple[float, float, float, float]:
    """A square view box around 2D ``points`` with a relative ``margin``."""
    pts = np.asarray(points, dtype=np.float64)[:, :2]
    pts = pts[np.isfinite(pts).all(1)]
    lim = float(np.abs(pts).max()) * (1.0 + margin) if len(pts) else 1.0
    lim = max(lim, 1e-3)
    return (-lim, lim, -lim, lim)


def _grid(bounds: tuple[float, float, float, float], n: int) -> np.ndarray:
    xmin, xmax, ymin, ymax = bounds
    xs = np.linspace(xmin, xmax, n, dtype=np.float32)
    ys = np.linspace(ymin, ymax, n, dtype=np.float32)
    gx, gy = np.meshgrid(xs, ys)  # row i ↔ y_i
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def energy_landscape(
    energy_fn: EnergyFn,
    bounds: tuple[float, float, float, float],
    device: torch.device | str = "cpu",
    resolution: int = 64,
    arrows: int = 15,
) -> Landscape:
    """Evaluate ``energy_fn`` on a grid and its score on a coarser one.

    Parameters
    ----------
    energy_fn : callable
        ``x ↦ E(x)`` for ``x`` of shape ``(B, 2)``.
    bounds : (xmin, xmax, ymin, ymax)
        The box to cover.
    device : torch.device or str
        Where the model lives.
    resolution : int
        Heatmap cells per side.
    arrows : int
        Score arrows per side (0 = none).
    """
    pts = torch.from_numpy(_grid(bounds, resolution)).to(device)
    with torch.no_grad():
        energy = energy_fn(pts).float().cpu().numpy().reshape(resolution, resolution)
    if arrows > 0:
        xy = _grid(bounds, arrows)
        with torch.enable_grad():
            x = torch.from_numpy(xy).to(device).requires_grad_(True)
            (grad,) = torch.autograd.grad(energy_fn(x).sum(), x)
        uv = (-grad).float().cpu().numpy()
    else:
        xy = np.zeros((0, 2), np.float32)
        uv = np.zeros((0, 2), np.float32)
    return Landscape(tuple(float(b) for b in bounds), energy.copy(), xy, uv)
