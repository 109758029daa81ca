"""2D toy densities (the GAN Lab / EBM-tutorial playground).

Each generator draws ``n`` points from a fixed seed, so a demo is the same
dataset on every machine. Points are scaled to roughly ``[-4, 4]²``.
"""

from __future__ import annotations

import numpy as np
import torch

from ebm_engine.config import DataConfig
from ebm_engine.data.catalogue import demo
from ebm_engine.data.dataset import Dataset

N_POINTS = 4096


def eight_gaussians(n: int, rng: np.random.Generator) -> np.ndarray:
    """Mixture of 8 Gaussians on a circle of radius 3 (std 0.25)."""
    angles = rng.integers(0, 8, n) * (2 * np.pi / 8)
    centres = 3.0 * np.stack([np.cos(angles), np.sin(angles)], 1)
    return centres + 0.25 * rng.standard_normal((n, 2))


def eight_gaussian_modes() -> np.ndarray:
    """The 8 mode centres of :func:`eight_gaussians`."""
    angles = np.arange(8) * (2 * np.pi / 8)
    return 3.0 * np.stack([np.cos(angles), np.sin(angles)], 1)


def rings(n: int, rng: np.random.Generator) -> np.ndarray:
    """Two concentric rings (radii 1.5 and 3)."""
    radius = np.where(rng.random(n) < 1 / 3, 1.5, 3.0)
    angle = rng.random(n) * 2 * np.pi
    pts = radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1)
    return pts + 0.1 * rng.standard_normal((n, 2))


def two_moons(n: int, rng: np.random.Generator) -> np.ndarray:
    """Two interleaved half circles."""
    t = rng.random(n) * np.pi
    upper = rng.random(n) < 0.5
    x = np.where(upper, np.cos(t), 1 - np.cos(t))
    y = np.where(upper, np.sin(t), 0.5 - np.sin(t))
    pts = np.stack([x - 0.5, y - 0.25], 1) * 2.5
    return pts + 0.1 * rng.standard_normal((n, 2))


def pinwheel(n: int, rng: np.random.Generator, arms: int = 5) -> np.ndarray:
    """Pinwheel with ``arms`` spiral arms (Johnson et al. 2016)."""
    radial, tangential, rate = 0.3, 0.05, 0.25
    labels = rng.integers(0, arms, n)
    feats = rng.standard_normal((n, 2)) * np.array([radial, tangential])
    feats[:, 0] += 1.0
    angles = labels * (2 * np.pi / arms) + rate * np.exp(feats[:, 0])
    rot = np.stack([np.cos(angles), -np.sin(angles), np.sin(angles), np.cos(angles)], 1).reshape(-1, 2, 2)
    return 2.5 * np.einsum("ni,nij->nj", feats, rot)


def checkerboard(n: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform on the dark squares of a 4×4 checkerboard over ``[-4, 4]²``."""
    x1 = rng.random(n) * 4 - 2
    x2 = rng.random(n) - rng.integers(0, 2, n) * 2
    x2 = x2 + (np.floor(x1) % 2)
    return np.stack([x1, x2], 1) * 2


_TOYS = {
    "8gaussians": (eight_gaussians, "Mixture of 8 Gaussians on a circle"),
    "rings": (rings, "Two concentric rings"),
    "moons": (two_moons, "Two interleaved moons"),
    "pinwheel": (pinwheel, "Five-armed pinwheel"),
    "checkerboard": (checkerboard, "Checkerboard of uniform squares"),
}


def toy_points(name: str, n: int = N_POINTS, seed: int = 0) -> np.ndarray:
    """Draw ``n`` points of toy density ``name`` (reproducible)."""
    return _TOYS[name][0](n, np.random.default_rng(seed)).astype(np.float32)


def _register(name: str, description: str) -> None:
    def load(cfg: DataConfig) -> Dataset:
        pts = toy_points(name)
        return Dataset(name, "points", torch.from_numpy(pts), None, {"bounds": (-4.5, 4.5)})

    demo(name, "points", description, preset="toy2d", expected_minutes=1.5)(load)


for _name, (_fn, _description) in _TOYS.items():
    _register(_name, _description)
