"""The ``digits-semi-supervised`` demo: few labels, many unlabelled digits.

The ``digits`` demo's items (sklearn 8×8 digits at 16×16, in ``[-1, 1]``)
split in two, once and for all:

- **held out** (every 5th item, the ``digits`` demo's ``test`` split, 360
  items): never trained on; kept in ``meta["heldout_items"]`` and
  ``meta["heldout_labels"]`` to score accuracy;
- **training** (the other 1437): ``labels_per_class`` of each class (10 by
  default) keep their label, drawn with a fixed seed (``label_seed``); all
  others are unlabelled (label ``−1`` in ``meta["labels"]``).

The labelled items come first, so ``data.max_items`` (tiny test runs) keeps
them. ``meta["source_index"]`` maps items back to sklearn's order.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ebm_engine.config import DataConfig
from ebm_engine.data._collect import int_option
from ebm_engine.data.catalogue import demo
from ebm_engine.data.dataset import Dataset
from ebm_engine.errors import DataError

#: Label of an unlabelled item in ``meta["labels"]``.
UNLABELLED = -1
N_CLASSES = 10


def heldout_mask(n: int) -> np.ndarray:
    """Which of sklearn's ``n`` digits are held out (every 5th, as ``digits``' test split)."""
    return np.arange(n) % 5 == 0


def labelled_indices(labels: np.ndarray, candidates: np.ndarray, per_class: int,
                     seed: int) -> np.ndarray:
    """``per_class`` items of each class among ``candidates``, drawn with ``seed``
    (sorted by class, then by draw)."""
    rng = np.random.default_rng(seed)
    picked = []
    for c in range(N_CLASSES):
        pool = candidates[labels[candidates] == c]
        if len(pool) < per_class:
            raise DataError(f"data.options.labels_per_class {per_class}: class {c} has only "
                            f"{len(pool)} training digits")
        picked.append(rng.choice(pool, per_class, replace=False))
    return np.concatenate(picked)


@demo("digits-semi-supervised", "image",
      "Semi-supervised digits: 10 labels per class, the rest unlabelled (symbol-vector latent EBM)",
      expected_minutes=3, options=("labels_per_class", "label_seed"))
def load_digits_semisup(cfg: DataConfig) -> Dataset:
    """Training digits with ``labels_per_class`` labels each; see the module docstring."""
    from sklearn.datasets import load_digits

    per_class = int_option(cfg.options, "labels_per_class", 10, 1, 10_000)
    seed = int_option(cfg.options, "label_seed", 0, 0, 2**32 - 1)
    bunch = load_digits()
    size = cfg.image_size or 16
    x = torch.from_numpy(bunch.images.astype(np.float32) / 16.0)[:, None]
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    x = x * 2 - 1
    labels = bunch.target.astype(np.int64)
    held = heldout_mask(len(labels))
    train = np.flatnonzero(~held)
    labelled = labelled_indices(labels, train, per_class, seed)
    order = np.concatenate([labelled, np.setdiff1d(train, labelled)])
    seen = np.full(len(order), UNLABELLED, dtype=np.int64)
    seen[:len(labelled)] = labels[labelled]
    meta = {"labels": seen, "source_index": order, "n_classes": N_CLASSES,
            "heldout_items": x[held], "heldout_labels": labels[held],
            "heldout_source_index": np.flatnonzero(held)}
    # Catalogue picture: one labelled digit (tinted green) among unlabelled ones (grey).
    shown = x[torch.from_numpy(order[[0, 400, 800, 1200]])].repeat(1, 3, 1, 1)
    shown[0, [0, 2]] = (shown[0, [0, 2]] + 1) * 0.3 - 1
    meta["thumbnail_items"] = shown.numpy()
    return Dataset("digits-semi-supervised", "image", x[torch.from_numpy(order)], (-1.0, 1.0),
                   meta)
