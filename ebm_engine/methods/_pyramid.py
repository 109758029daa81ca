"""Resolution pyramids shared by the multi-grid and multi-stage methods.

Down-sampling averages ``k×k`` blocks; up-sampling repeats each pixel into a
``k×k`` block (Gao et al. 2018). Both keep the image mean, and
``downsample(upsample(x)) == x`` exactly.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ebm_engine.config import ModelConfig
from ebm_engine.errors import ConfigError
from ebm_engine.models.layers import option as model_setting
from ebm_engine.sampling.langevin import ChainFrame


def downsample(x: torch.Tensor, size: int) -> torch.Tensor:
    """Average ``(B, C, H, W)`` images down to ``size × size`` (block means)."""
    if x.shape[-1] == size:
        return x
    return F.adaptive_avg_pool2d(x, size)


def upsample(x: torch.Tensor, size: int) -> torch.Tensor:
    """Repeat each pixel of ``(B, C, h, w)`` into a block, giving ``size × size``."""
    if x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="nearest")


def upsample_np(x: np.ndarray, size: int) -> np.ndarray:
    """:func:`upsample` for numpy snapshots."""
    if x.shape[-1] == size:
        return x
    return upsample(torch.from_numpy(np.ascontiguousarray(x)), size).numpy()


def shifted_frame(frame: ChainFrame, offset: int, size: int, n: int | None = None) -> ChainFrame:
    """``frame`` with its step moved by ``offset``, images shown at ``size``,
    keeping the first ``n`` chains (all when ``None``)."""
    x, e = (frame.x, frame.energy) if n is None else (frame.x[:n], frame.energy[:n])
    return ChainFrame(frame.step + offset, upsample_np(x, size), e.copy())


def leaky_slope(model: ModelConfig) -> float:
    """``model.options.leaky_slope`` (0.2): the image networks' LeakyReLU slope,
    read as the ``convnet`` model reads it (a model knob, not a method knob)."""
    return model_setting(model.options, "leaky_slope", 0.2, float)


def square_image_size(kind: str, item_shape: tuple[int, ...], method: str) -> tuple[int, int]:
    """``(channels, side)`` of square images, or a :class:`ConfigError` naming ``method``."""
    if kind != "image" or len(item_shape) != 3 or item_shape[1] != item_shape[2]:
        raise ConfigError(f"method {method!r} needs square images (kind 'image'), "
                          f"got kind {kind!r} with items of shape {item_shape}")
    return item_shape[0], item_shape[1]


def check_resolutions(sizes: list[int], side: int | None, key: str) -> None:
    """Refuse a bad coarse-to-fine list of sides (``[]``, automatic, is fine).

    Each side must be positive and divide the next (so up-sampling repeats
    whole pixels); the last must be the image side (checked when ``side``
    is known, i.e. once the data is loaded).

    Raises
    ------
    ConfigError
        Naming ``train.options.<key>``.
    """
    if not sizes:
        return
    if not all(s > 0 for s in sizes):
        raise ConfigError(f"train.options.{key} must be a list of positive integers, got {sizes!r}")
    if side is not None and sizes[-1] != side:
        raise ConfigError(f"train.options.{key} must end at the image side {side}, got {sizes}")
    for a, b in zip(sizes, sizes[1:]):
        if b <= a or b % a:
            raise ConfigError(f"train.options.{key} must increase with each side dividing the next, "
                              f"got {sizes}")


def default_pyramid(side: int, coarsest: int = 4) -> list[int]:
    """4→8→16 for small images, ×4 steps (4→16→64) from 64 px up, as in the papers."""
    factor = 4 if side >= 64 else 2
    sizes = [side]
    while sizes[0] // factor >= coarsest and sizes[0] % factor == 0:
        sizes.insert(0, sizes[0] // factor)
    return sizes
