"""Procedural dynamic textures: the video demo (nothing downloaded).

A dynamic texture is a video that is stationary in time (fire, water,
smoke): the Spatial-temporal Generative ConvNet's classic experiment. Two
patterns, each drawn as a few clips that share one random texture but differ
in phase (one ``numpy.random.RandomState`` seeded by ``data.options["seed"]``):

- ``flame`` (default): band-limited noise rising through a flame-shaped
  envelope, with a faster flicker layer and a sideways sway, coloured black →
  red → yellow → white;
- ``waves``: a sum of travelling plane waves, coloured like water.

Every clip loops: all temporal frequencies are whole cycles per clip, so
frame ``T`` would equal frame 0, matching the circular temporal padding of
:mod:`ebm_engine.models.stgconvnet`.

Items ``(C, T, H, W)`` in ``[-1, 1]``; ``T = data.options["frames"]`` (16),
``H = W = data.image_size`` (0 → 32), ``C = 1`` with ``data.grayscale``
else 3. Options: ``frames``, ``clips`` (4), ``pattern``, ``seed`` (0).
"""

from __future__ import annotations

import numpy as np
import torch

from ebm_engine.config import DataConfig
from ebm_engine.data._collect import choice_option, int_option
from ebm_engine.data.catalogue import demo
from ebm_engine.data.dataset import Dataset
from ebm_engine.errors import DataError

PATTERNS = ("flame", "waves")


def _looping_noise(
    spectrum: np.ndarray, phases: np.ndarray, frames: int, cycles: int, sway: float
) -> np.ndarray:
    """Noise moving up by one tile height every ``frames / cycles`` frames.

    Shifts are applied as Fourier phase ramps, so sub-pixel motion stays
    smooth and frame ``frames`` equals frame 0 exactly.
    """
    size = spectrum.shape[0]
    ky = np.fft.fftfreq(size)[:, None] * size  # integer wave numbers
    kx = np.fft.rfftfreq(size)[None, :] * size
    base = spectrum * np.exp(1j * phases)
    out = np.empty((frames, size, size))
    for t in range(frames):
        rise = cycles * t / frames  # in tile heights; whole tiles at t = frames
        drift = sway * np.sin(2 * np.pi * t / frames)  # in tile widths
        shift = np.exp(2j * np.pi * (ky * rise - kx * drift))
        out[t] = np.fft.irfft2(base * shift, s=(size, size))
    out -= out.mean()
    return out / (out.std() + 1e-8)


def _flame(rng: np.random.RandomState, clips: int, frames: int, size: int) -> np.ndarray:
    ky = np.fft.fftfreq(size)[:, None] * size
    kx = np.fft.rfftfreq(size)[None, :] * size
    k = np.hypot(kx, 1.5 * ky)  # flames are taller than wide
    coarse = 1.0 / (1.0 + (k / 2.5) ** 3)
    fine = 1.0 / (1.0 + (k / 6.0) ** 3)
    coarse[0, 0] = fine[0, 0] = 0.0
    y = np.linspace(1.0, 0.0, size)[:, None]  # 0 at the bottom row
    x = np.linspace(-1.0, 1.0, size)[None, :]
    envelope = np.clip(1.0 - y, 0, 1) ** 1.3 * np.exp(-((x / (0.55 - 0.3 * y)) ** 2))
    out = np.empty((clips, frames, size, size))
    for c in range(clips):
        slow = _looping_noise(coarse, rng.uniform(0, 2 * np.pi, coarse.shape), frames, 1, 0.05)
        fast = _looping_noise(fine, rng.uniform(0, 2 * np.pi, fine.shape), frames, 2, 0.0)
        heat = envelope * (1.0 + 0.45 * slow + 0.25 * fast) - 0.25 * y
        out[c] = np.clip(1.4 * heat, 0.0, 1.0)
    return out


def _waves(rng: np.random.RandomState, clips: int, frames: int, size: int) -> np.ndarray:
    n_waves = 5
    angles = rng.uniform(0, 2 * np.pi, n_waves)
    wavelengths = rng.uniform(0.25, 0.6, n_waves) * size
    speeds = rng.randint(1, 3, n_waves)  # whole cycles per clip → the clip loops
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    t = np.arange(frames)[:, None, None]
    out = np.empty((clips, frames, size, size))
    for c in range(clips):
        phases = rng.uniform(0, 2 * np.pi, n_waves)
        total = np.zeros((frames, size, size))
        for a, lam, m, ph in zip(angles, wavelengths, speeds, phases):
            along = (np.cos(a) * xx + np.sin(a) * yy) * (2 * np.pi / lam)
            total += np.sin(along - 2 * np.pi * m * t / frames + ph)
        out[c] = 0.5 + 0.5 * total / n_waves
    return np.clip(out, 0.0, 1.0)


def _colour(intensity: np.ndarray, pattern: str) -> np.ndarray:
    """``(N, T, H, W)`` in [0, 1] → ``(N, 3, T, H, W)`` with the pattern's palette."""
    v = intensity
    if pattern == "flame":
        rgb = [np.clip(3 * v, 0, 1), np.clip(3 * v - 1, 0, 1), np.clip(3 * v - 2, 0, 1)]
    else:
        rgb = [0.1 + 0.5 * v**2, 0.3 + 0.55 * v, 0.5 + 0.5 * v]
    return np.clip(np.stack(rgb, axis=1), 0.0, 1.0)


def make_dynamic_texture(
    pattern: str = "flame", clips: int = 4, frames: int = 16, size: int = 32, seed: int = 0
) -> np.ndarray:
    """Draw ``clips`` looping clips of one texture, intensity in ``[0, 1]``.

    Returns
    -------
    np.ndarray
        ``(clips, frames, size, size)`` float64.
    """
    rng = np.random.RandomState(seed)
    make = _flame if pattern == "flame" else _waves
    return make(rng, clips, frames, size)


@demo(
    "dynamic-texture",
    "video",
    "Procedural flickering flame (or waves): 4 looping clips, 16 frames of 32x32",
    expected_minutes=15,
    options=("frames", "clips", "seed", "pattern"),
)
def load_dynamic_texture(cfg: DataConfig) -> Dataset:
    """The video demo: ``(clips, C, T, S, S)`` in ``[-1, 1]``."""
    opts = cfg.options
    frames = int_option(opts, "frames", 16, 2, 256)
    clips = int_option(opts, "clips", 4, 1, 256)
    seed = int_option(opts, "seed", 0, 0, 2**32 - 1)
    pattern = choice_option(opts, "pattern", "flame", PATTERNS)
    size = cfg.image_size or 32
    if not 8 <= size <= 256:
        raise DataError(f"data.image_size must be 8..256 for the video demo, got {size}")
    intensity = make_dynamic_texture(pattern, clips, frames, size, seed)
    video = intensity[:, None] if cfg.grayscale else _colour(intensity, pattern)
    x = torch.from_numpy(video.astype(np.float32) * 2.0 - 1.0)
    return Dataset("dynamic-texture", "video", x, (-1.0, 1.0), {"fps": 12, "pattern": pattern})
