"""Demos learned from one picture (nothing downloaded).

- ``frame-texture``: the FRAME model's classic experiment, a stochastic
  texture (``skimage.data`` gravel at 64×64) learned from overlapping crops.
- ``single-image``: internal learning (Patchwise Generative ConvNet): one
  small colour photo (``skimage.data.rocket``, 64×43: a launch site at
  dusk, towers and lights that a pyramid can move about), the only training item.
  Any picture works the same way: ``ebm train --data photo.png --method patchwise``.
"""

from __future__ import annotations

import numpy as np
import torch

from ebm_engine.config import DataConfig
from ebm_engine.data._collect import choice_option
from ebm_engine.data.catalogue import demo
from ebm_engine.data.dataset import Dataset
from ebm_engine.data.image_demos import _texture
from ebm_engine.errors import DataError

TEXTURES = ("gravel", "grass", "brick")
# Launch towers, a rocket and lights under a dusk sky at 427×640: repeated parts
# rearrange into new scenes (a single object, as ``coffee``'s cup, only deforms).
PHOTO = "rocket"
#: Pictures ``data.options.photo`` takes: those inside scikit-image's package (never downloaded).
PHOTOS = ("rocket", "astronaut", "coffee", "chelsea", "immunohistochemistry",
          "hubble_deep_field", "retina", "colorwheel", "camera", "coins", "moon", "page",
          "text", "brick", "grass", "gravel")
PHOTO_WIDTH = 64


@demo("frame-texture", "image",
      "FRAME texture model: Gabor/DoG filters, learned potentials (gravel, 64x64)",
      expected_minutes=4, options=("texture",))
def load_frame_texture(cfg: DataConfig) -> Dataset:
    texture = cfg.options.get("texture", "gravel")
    if texture not in TEXTURES:
        raise DataError(f"data.options.texture must be one of {', '.join(TEXTURES)}, got {texture!r}")
    ds = _texture(texture, cfg)
    ds.name = "frame-texture"
    return ds


def photo(name: str = PHOTO, width: int = PHOTO_WIDTH, grayscale: bool = False) -> np.ndarray:
    """A ``skimage.data`` picture as ``(C, H, W)`` float32 in [-1, 1], ``width`` px wide
    (height keeps the aspect)."""
    import skimage.data
    from skimage.color import gray2rgb, rgb2gray
    from skimage.transform import resize

    img = getattr(skimage.data, name)()
    img = img[..., :3] if img.ndim == 3 else gray2rgb(img)
    if grayscale:
        img = rgb2gray(img)[..., None]
    height = max(round(img.shape[0] * width / img.shape[1]), 1)
    small = resize(img, (height, width), anti_aliasing=True, preserve_range=False)
    return (small.astype(np.float32).transpose(2, 0, 1) * 2.0 - 1.0).clip(-1, 1)


@demo("single-image", "image",
      "One photo, a pyramid of patch EBMs (Patchwise Generative ConvNet; rocket at dusk, 64x43)",
      preset="single-image", expected_minutes=7, options=("photo",))
def load_single_image(cfg: DataConfig) -> Dataset:
    width = cfg.image_size or PHOTO_WIDTH
    name = choice_option(cfg.options, "photo", PHOTO, PHOTOS)
    img = photo(name, width, cfg.grayscale)
    return Dataset("single-image", "image", torch.from_numpy(img)[None], (-1.0, 1.0),
                   {"source_image": name})
