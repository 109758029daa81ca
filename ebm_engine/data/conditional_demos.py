"""Demos of supervised conditional learning (method ``conditional_coop``).

Paired data is laid out as one image per item, **condition | output side by
side** (``(C, H, 2W)``): the data preview shows the pairs, and every data
kind stays an ``image``. Inpainting needs no pairs: the masks are drawn
afresh for every batch by the method.

- ``digits-inpainting``: the digits (16×16); condition = the digit with a
  random box hidden, output = the whole digit.
- ``digits-class-conditional``: condition = the class label, drawn as a
  3×5 pixel glyph (:func:`label_glyphs`; decoded back to the label exactly
  by :func:`glyph_labels`), output = a digit of that class.
- ``saliency-popout``: see :mod:`ebm_engine.data.popout`.

``data.options.split`` is ``train`` (default), ``test`` (held out: every
5th digit) or ``all``.
"""

from __future__ import annotations

import numpy as np
import torch

from ebm_engine.config import DataConfig
from ebm_engine.data.catalogue import demo
from ebm_engine.data.dataset import Dataset
from ebm_engine.data.image_demos import load_digits
from ebm_engine.errors import DataError

# 3×5 bitmaps of the digits 0–9 (rows top to bottom).
_FONT = (
    "111101101101111", "010110010010111", "111001111100111", "111001111001111",
    "101101111001001", "111100111001111", "111100111101111", "111001001001001",
    "111101111101111", "111101111001111",
)
N_GLYPHS = len(_FONT)


def label_glyphs(labels: np.ndarray | torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``(N, 1, height, width)`` pictures of the labels in ``[-1, 1]`` (white on black).

    Labels ``0..9`` are drawn as scaled 3×5 digit glyphs; labels 10 and up
    (more classes than glyphs) as bars, one per ten.
    """
    labels = torch.as_tensor(labels, dtype=torch.long).cpu()
    bank = glyph_bank(int(labels.max()) + 1 if len(labels) else 1, height, width)
    return bank[labels]


def glyph_bank(n_classes: int, height: int, width: int) -> torch.Tensor:
    """The glyphs of classes ``0..n_classes-1``: ``(n_classes, 1, height, width)``."""
    s = max(min(width // 3, height // 5), 1)
    out = -torch.ones(n_classes, 1, height, width)
    top, left = (height - 5 * s) // 2, (width - 3 * s) // 2
    for k in range(n_classes):
        bits = torch.tensor([int(b) for b in _FONT[k % N_GLYPHS]], dtype=torch.float32)
        g = bits.view(5, 3).repeat_interleave(s, 0).repeat_interleave(s, 1) * 2 - 1
        out[k, 0, max(top, 0):max(top, 0) + 5 * s, max(left, 0):max(left, 0) + 3 * s] = \
            g[:height, :width]
        for bar in range(k // N_GLYPHS):  # classes past 9: a bar under the glyph per ten
            out[k, 0, min(height - 1 - bar, height - 1), :] = 1.0
    return out


def check_glyphs(items: torch.Tensor, n_classes: int) -> None:
    """Refuse label-condition data whose left halves are not class glyphs.

    ``items`` are ``(N, C, H, 2H)`` pairs in model space. A label condition is read back
    from the left half's glyph (:func:`glyph_labels`); a picture there (saliency
    scenes, photo pairs) would be read as the nearest digit glyph and trained on
    without a word.

    Raises
    ------
    DataError
        The left halves are pictures, not glyphs.
    """
    side = items.shape[-2]
    left = items[:64, :1, :, :side].float()
    bank = glyph_bank(n_classes, side, side).to(left.device)
    # glyphs are stored exactly (±1); one pixel in a hundred off is not a glyph
    off = (left.flatten(1)[:, None, :] - bank.flatten(1)[None]).abs().gt(0.5).float().mean(-1)
    if bool((off.min(1).values > 0.01).any()):
        raise DataError(
            "train.options.condition=label needs each item's left half to be its class glyph "
            "(a labelled folder: --set data.options.labels=folders --set data.options.pairs="
            "labels); this data's left halves are pictures: for a picture condition, "
            "set train.options.condition=image")


def glyph_labels(glyphs: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Labels of glyph pictures ``(N, 1, H, W)``: the nearest of :func:`glyph_bank`."""
    bank = glyph_bank(n_classes, glyphs.shape[-2], glyphs.shape[-1]).to(glyphs.device)
    d = (glyphs.flatten(1)[:, None, :] - bank.flatten(1)[None]).pow(2).sum(-1)
    return d.argmin(1)


def check_split(cfg: DataConfig) -> str:
    split = cfg.options.get("split", "train")
    if split not in ("all", "train", "test"):
        raise DataError(f"data.options.split must be 'all', 'train' or 'test', got {split!r}")
    return split


def _digits(cfg: DataConfig, split: str) -> Dataset:
    return load_digits(DataConfig(source="digits", image_size=cfg.image_size,
                                  options={**cfg.options, "split": split}))


@demo("digits-inpainting", "image",
      "Digit inpainting: fast initializer + slow Langevin solver fill a hidden box",
      expected_minutes=3, options=("split", "exclude_labels"))
def load_digits_inpainting(cfg: DataConfig) -> Dataset:
    split = check_split(cfg)
    digits = _digits(cfg, split)
    x = digits.items
    masked = x[:3].clone()
    masked[:, :, 4:11, 5:12] = 0.0  # a hidden box, grey: the catalogue picture only
    return Dataset("digits-inpainting", "image", x, (-1.0, 1.0),
                   {"labels": digits.meta["labels"], "split": split,
                    "thumbnail_items": torch.cat([masked, x[:3]], -1).numpy()})


@demo("digits-class-conditional", "image",
      "Class-conditional digits: label → digit (cooperative initializer + Langevin solver)",
      expected_minutes=4, options=("split", "exclude_labels"))
def load_digits_class_conditional(cfg: DataConfig) -> Dataset:
    split = check_split(cfg)
    digits = _digits(cfg, split)
    x = digits.items
    labels = np.asarray(digits.meta["labels"])
    glyphs = label_glyphs(labels, x.shape[-2], x.shape[-1])
    pairs = torch.cat([glyphs, x], dim=-1)  # condition | output
    return Dataset("digits-class-conditional", "image", pairs, (-1.0, 1.0),
                   {"labels": labels, "split": split, "n_classes": 10})
