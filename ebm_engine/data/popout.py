"""``saliency-popout``: a procedural dataset of pop-out scenes for generative saliency.

Each 32×32 RGB scene is a 4×4 array of bars on a dark background (jittered
by a pixel). All bars share a colour, an orientation and a size, except
one *odd* bar that differs in one of them: the one an observer's eye is
drawn to. Its ground-truth saliency is a Gaussian blob on the odd bar plus
a weak centre bias (peak 1). *Ambiguous* scenes (``data.options.ambiguous``,
default 30 %) have two odd bars: each target is one observer's choice, one
of the two, so the model must learn a distribution over maps (the full
ground truth, kept in ``meta["saliency_gt"]``, has both). In the training
split an ambiguous scene comes twice, once with each odd bar as the target
(two observers): the same scene with two answers, which a regression to
the mean would blur into two half blobs.

Items are pairs, scene | target map (grey, three channels), ``(3, 32, 64)``,
stored as 8-bit values. ``data.options``: ``split`` (``train`` 1500
scenes, ``test`` 300 other scenes, seeded apart, each once), ``n`` (scene
count) and ``ambiguous``.
"""

from __future__ import annotations

import numpy as np
import torch

from ebm_engine.config import DataConfig
from ebm_engine.data._collect import float_option, int_option
from ebm_engine.data.catalogue import demo
from ebm_engine.data.conditional_demos import check_split
from ebm_engine.data.dataset import Dataset

SIZE = 32
GRID = 4
PALETTE = np.array([[0.9, 0.2, 0.2], [0.2, 0.8, 0.25], [0.3, 0.45, 1.0], [0.95, 0.85, 0.2]],
                   dtype=np.float32)
BACKGROUND = 0.12
ODD_TYPES = ("colour", "orientation", "size")
BLOB_SIGMA = 2.0
CENTRE_SIGMA = 10.0
CENTRE_WEIGHT = 0.15

_YY, _XX = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) + 0.5


def _bar_coverage(cx: np.ndarray, cy: np.ndarray, angle: np.ndarray, length: np.ndarray,
                  thick: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage ``(n, SIZE, SIZE)`` of ``n`` bars (distance to a segment)."""
    dx, dy = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    px, py = _XX[None] - cx[:, None, None], _YY[None] - cy[:, None, None]
    along = np.clip(px * dx + py * dy, -length[:, None, None] / 2, length[:, None, None] / 2)
    dist = np.hypot(px - along * dx, py - along * dy)
    return np.clip(thick[:, None, None] / 2 + 0.5 - dist, 0.0, 1.0)


def blob(cx: float, cy: float) -> np.ndarray:
    return np.exp(-((_XX - cx) ** 2 + (_YY - cy) ** 2) / (2 * BLOB_SIGMA**2))


def centre_bias() -> np.ndarray:
    """The weak centre prior of the ground truth (peak 1 at the centre)."""
    c = SIZE / 2
    return np.exp(-((_XX - c) ** 2 + (_YY - c) ** 2) / (2 * CENTRE_SIGMA**2)).astype(np.float32)


def saliency_map(centres: list[tuple[float, float]]) -> np.ndarray:
    """Blobs on ``centres`` plus the weak centre bias, scaled to peak 1."""
    m = CENTRE_WEIGHT * centre_bias()
    for cx, cy in centres:
        m = m + blob(cx, cy)
    return (m / m.max()).astype(np.float32)


def make_scene(rng: np.random.Generator, n_odd: int) -> tuple[np.ndarray, list[tuple[float, float]], list[str]]:
    """One scene ``(3, SIZE, SIZE)`` in ``[0, 1]``, its odd bars' centres and odd features."""
    n = GRID * GRID
    cell = SIZE / GRID
    gx, gy = np.meshgrid(np.arange(GRID), np.arange(GRID))
    cx = (gx.ravel() + 0.5) * cell + rng.uniform(-1, 1, n)
    cy = (gy.ravel() + 0.5) * cell + rng.uniform(-1, 1, n)
    base_colour = rng.integers(len(PALETTE))
    base_angle = rng.choice([0.0, np.pi / 2, np.pi / 4, 3 * np.pi / 4])
    colour = np.full(n, base_colour)
    angle = np.full(n, base_angle)
    length, thick = np.full(n, 4.5), np.full(n, 1.6)
    odd = rng.choice(n, size=n_odd, replace=False)
    kinds = [str(rng.choice(ODD_TYPES)) for _ in range(n_odd)]
    for i, kind in zip(odd, kinds, strict=True):
        if kind == "colour":
            colour[i] = (base_colour + rng.integers(1, len(PALETTE))) % len(PALETTE)
        elif kind == "orientation":
            angle[i] = base_angle + np.pi / 2
        else:
            length[i], thick[i] = 7.0, 3.2
    cover = _bar_coverage(cx, cy, angle, length, thick)            # (n, S, S)
    rgb = PALETTE[colour]                                           # (n, 3)
    paint = np.einsum("nhw,nc->chw", cover, rgb)
    alpha = np.clip(cover.sum(0), 0.0, 1.0)
    img = BACKGROUND * (1 - alpha)[None] + np.minimum(paint, 1.0)
    return img.astype(np.float32), [(float(cx[i]), float(cy[i])) for i in odd], kinds


def popout_scenes(n: int, seed: int, ambiguous: float) -> dict[str, np.ndarray]:
    """``n`` scenes: ``images (n, 3, S, S)``, ``targets``, ``others`` (the other odd bar's map,
    or the target again) and ``gt (n, S, S)``, ``ambiguous``,
    ``odd_type`` and ``odd_centres (n, 2, 2)`` (x, y of the odd bars; NaN for a missing second)."""
    rng = np.random.default_rng(seed)
    images = np.empty((n, 3, SIZE, SIZE), np.float32)
    targets = np.empty((n, SIZE, SIZE), np.float32)
    others = np.empty((n, SIZE, SIZE), np.float32)
    gts = np.empty((n, SIZE, SIZE), np.float32)
    amb = rng.random(n) < ambiguous
    odd_type = []
    odd_centres = np.full((n, 2, 2), np.nan, np.float32)
    for k in range(n):
        img, centres, kinds = make_scene(rng, 2 if amb[k] else 1)
        images[k] = img
        gts[k] = saliency_map(centres)
        odd_centres[k, : len(centres)] = centres
        # An ambiguous scene's target is one observer's choice: one of its two odd bars.
        pick = int(rng.integers(len(centres)))
        targets[k] = saliency_map([centres[pick]])
        others[k] = saliency_map([centres[(pick + 1) % len(centres)]])
        odd_type.append("+".join(kinds))
    return {"images": images, "targets": targets, "others": others, "gt": gts, "ambiguous": amb,
            "odd_type": np.asarray(odd_type), "odd_centres": odd_centres}


@demo("saliency-popout", "image",
      "Generative saliency: pop-out scenes (32x32) → sampled saliency maps",
      expected_minutes=8, options=("split", "n", "ambiguous"))
def load_popout(cfg: DataConfig) -> Dataset:
    split = check_split(cfg)
    n = int_option(cfg.options, "n", 300 if split == "test" else 1500, 1, 20_000)
    ambiguous = float_option(cfg.options, "ambiguous", 0.3, 0.0, 1.0)
    s = popout_scenes(n, 1 if split == "test" else 0, ambiguous)
    if split != "test":  # an ambiguous scene again, with its other odd bar as the target
        again = np.flatnonzero(s["ambiguous"])
        s = {k: np.concatenate([v, v[again]]) for k, v in s.items()}
        s["targets"][n:] = s["others"][n:]
    target3 = np.repeat(s["targets"][:, None], 3, axis=1)
    pairs01 = np.concatenate([s["images"], target3], axis=-1)      # scene | map
    stored = torch.from_numpy(np.round(pairs01 * 255).astype(np.uint8))
    return Dataset("saliency-popout", "image", stored, (-1.0, 1.0),
                   {"saliency_gt": s["gt"], "ambiguous": s["ambiguous"],
                    "odd_type": s["odd_type"], "odd_centres": s["odd_centres"], "split": split},
                   scale=2.0 / 255.0, offset=-1.0)
