"""Typeset digits rendered from installed fonts, and the handwritten ↔ typeset demo.

``digits-handwritten-typeset`` is the unpaired translation demo of
cycle-consistent cooperative networks (:mod:`ebm_engine.methods.cycle_coop`):
domain 0 is the 1797 sklearn handwritten digits (the ``digits`` demo's
items), domain 1 typeset digits drawn at 16×16 from the DejaVu fonts that
matplotlib ships (Sans, Serif, Mono; regular, bold, oblique), with random
sizes and shifts. The two domains are shuffled independently: nothing pairs
a handwritten 3 with a typeset 3, only the labels (kept for the metrics)
know. Without matplotlib, Pillow's built-in font draws the typeset domain.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from ebm_engine.config import DataConfig
from ebm_engine.data._collect import int_option
from ebm_engine.data.catalogue import demo
from ebm_engine.data.dataset import Dataset
from ebm_engine.errors import DataError
from ebm_engine.resources import matplotlib_font

SIZE = 16
#: Supersampling factor: glyphs are drawn at 4× and averaged down (anti-aliased).
SUPER = 4
FONT_FILES = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf",
    "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf",
    "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf",
)
DOMAINS = ("handwritten", "typeset")


def font_paths() -> list[Path]:
    """The DejaVu font files of the installed matplotlib (empty list without it).

    Found through the package's location, so matplotlib is not imported.
    """
    return [path for name in FONT_FILES if (path := matplotlib_font(name)) is not None]


@functools.lru_cache(maxsize=64)
def _font(path: str, px: int):
    from PIL import ImageFont

    if not path:
        return ImageFont.load_default(size=px)  # Pillow's own font (no matplotlib)
    return ImageFont.truetype(path, px)


def render_digit(digit: int, font: str, height: float, shift: tuple[float, float],
                 thicken: int = 0) -> np.ndarray:
    """One typeset digit as a ``(16, 16)`` float image in ``[0, 1]`` (ink = 1).

    Parameters
    ----------
    digit : int
        0–9.
    font : str
        Font file path ('' for Pillow's built-in font).
    height : float
        Glyph ink height in output pixels (the glyph is scaled to it).
    shift : (float, float)
        ``(dx, dy)`` of the glyph's centre from the image centre, in pixels.
    thicken : int
        Extra stroke weight, in supersampled pixels (a max filter).
    """
    from PIL import Image, ImageDraw, ImageFilter

    big = SIZE * SUPER
    canvas = Image.new("L", (3 * big, 3 * big), 0)
    ImageDraw.Draw(canvas).text((big, big), str(int(digit)), fill=255, font=_font(font, 2 * big))
    box = canvas.getbbox()
    if box is None:  # a font without the glyph
        raise DataError(f"font {font or 'default'} cannot draw the digit {digit}")
    glyph = canvas.crop(box)
    scale = height * SUPER / glyph.height
    w, h = max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale))
    glyph = glyph.resize((w, h), Image.LANCZOS)
    if thicken > 0:
        glyph = glyph.filter(ImageFilter.MaxFilter(2 * thicken + 1))
    out = Image.new("L", (big, big), 0)
    cx, cy = big / 2 + shift[0] * SUPER, big / 2 + shift[1] * SUPER
    out.paste(glyph, (round(cx - w / 2), round(cy - h / 2)))
    arr = np.asarray(out, dtype=np.float32) / 255.0
    return arr.reshape(SIZE, SUPER, SIZE, SUPER).mean(axis=(1, 3))


def typeset_digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` typeset digits: ``(n, 1, 16, 16)`` in ``[-1, 1]`` and their labels.

    Labels cycle through 0–9; fonts, heights (9–14 px), shifts (±1.5 px) and
    extra weight are random under ``seed``.
    """
    rng = np.random.default_rng(seed)
    fonts = [str(p) for p in font_paths()] or [""]
    labels = np.arange(n, dtype=np.int64) % 10
    images = np.empty((n, 1, SIZE, SIZE), dtype=np.float32)
    for i, digit in enumerate(labels):
        font = fonts[rng.integers(len(fonts))]
        height = rng.uniform(9.0, 14.0)
        shift = tuple(rng.uniform(-1.5, 1.5, size=2))
        thicken = int(rng.integers(0, 3))
        images[i, 0] = render_digit(int(digit), font, height, shift, thicken)
    return np.clip(images, 0.0, 1.0) * 2.0 - 1.0, labels


@demo("digits-handwritten-typeset", "image",
      "Handwritten ↔ typeset digits: unpaired translation (cycle-consistent CoopNets)",
      expected_minutes=10, options=("typeset_count", "seed"))
def load_handwritten_typeset(cfg: DataConfig) -> Dataset:
    """Handwritten digits (domain 0) and typeset digits (domain 1), unpaired.

    ``data.options.typeset_count`` sets the number of typeset digits
    (default 1797, as many as the handwritten ones).
    """
    from ebm_engine.data.image_demos import load_digits

    hand = load_digits(DataConfig(source="digits"))
    n_typeset = int_option(cfg.options, "typeset_count", len(hand), 10, 20_000)
    seed = int_option(cfg.options, "seed", 0, 0, 2**32 - 1)
    typeset, typeset_labels = typeset_digits(n_typeset, seed=seed)
    items = torch.cat([hand.items, torch.from_numpy(typeset)])
    labels = np.concatenate([np.asarray(hand.meta["labels"]), typeset_labels])
    domain = np.concatenate([np.zeros(len(hand), np.int64), np.ones(n_typeset, np.int64)])
    shown = torch.cat([hand.items[:2], torch.from_numpy(typeset[:2])]).numpy()
    return Dataset("digits-handwritten-typeset", "image", items, (-1.0, 1.0),
                   {"labels": labels, "domain": domain, "domains": list(DOMAINS),
                    "thumbnail_items": shown})
