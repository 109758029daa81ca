"""Image demos that ship with scikit-learn and scikit-image (nothing downloaded).

- ``digits``: the 1797 sklearn 8×8 digits, upsampled to 16×16.
- ``texture-brick`` / ``texture-grass`` / ``texture-gravel``: single-image
  texture synthesis, the Generative ConvNet's classic experiment: one
  ``skimage.data`` texture at 64×64, learned from overlapping crops.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ebm_engine.config import DataConfig
from ebm_engine.data.catalogue import demo
from ebm_engine.data.dataset import Dataset
from ebm_engine.errors import DataError


def _to_model_space(img01: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img01.astype(np.float32) * 2.0 - 1.0)


@demo("digits", "image", "Handwritten digits (sklearn 8x8, upsampled to 16x16)", expected_minutes=8,
      options=("exclude_labels", "split"))
def load_digits(cfg: DataConfig) -> Dataset:
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    size = cfg.image_size or 16
    x = torch.from_numpy(bunch.images.astype(np.float32) / 16.0)[:, None]
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    labels = bunch.target.astype(np.int64)
    # data.options: "exclude_labels" (e.g. [9], hold a class out for anomaly
    # detection) and "split" ("all", or a fixed "train"/"test" split: every 5th item is test).
    excluded = cfg.options.get("exclude_labels", [])
    if (not isinstance(excluded, list) or len(set(excluded)) > 9
            or not all(type(v) is int and 0 <= v <= 9 for v in excluded)):
        raise DataError("data.options.exclude_labels must be a list of digits 0-9 that "
                        f"leaves at least one, got {excluded!r}")
    keep = ~np.isin(labels, excluded)
    split = cfg.options.get("split", "all")
    if split not in ("all", "train", "test"):
        raise DataError(f"data.options.split must be 'all', 'train' or 'test', got {split!r}")
    if split != "all":
        keep &= (np.arange(len(labels)) % 5 == 0) == (split == "test")
    idx = torch.from_numpy(np.flatnonzero(keep))
    return Dataset("digits", "image", x[idx] * 2 - 1, (-1.0, 1.0), {"labels": labels[keep]})


def _texture(name: str, cfg: DataConfig) -> Dataset:
    import skimage.data
    from skimage.color import rgb2gray
    from skimage.transform import resize

    img = getattr(skimage.data, name)()
    if img.ndim == 3:
        img = rgb2gray(img)
    img = img.astype(np.float32)
    # Stretch contrast to the full range: brick, say, spans only 40% of it.
    lo, hi = np.percentile(img, [1, 99])
    img = np.clip((img - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
    size = cfg.image_size or 64
    # Learn from overlapping crops of a 2×-size copy: the texture's statistics,
    # not one fixed picture (as in the Generative ConvNet texture experiments).
    big = resize(img, (2 * size, 2 * size), anti_aliasing=True).astype(np.float32)
    stride = max(size // 4, 1)
    crops = [
        big[i : i + size, j : j + size]
        for i in range(0, size + 1, stride)
        for j in range(0, size + 1, stride)
    ]
    items = _to_model_space(np.stack(crops)[:, None])
    return Dataset(f"texture-{name}", "image", items, (-1.0, 1.0), {"source_image": name})


for _name, _what in (("brick", "Brick wall"), ("grass", "Grass"), ("gravel", "Gravel")):
    demo(
        f"texture-{_name}",
        "image",
        f"{_what} texture synthesis from one image (64x64)",
        preset="texture",
        expected_minutes=10,
    )(lambda cfg, _n=_name: _texture(_n, cfg))
