"""Helpers of the symbol-vector latent EBM (:mod:`ebm_engine.methods.symbol_vector`):
the labelled/held-out split of a dataset, the class mosaic of snapshots (one picture of
rows of tiles, images beside their reconstructions; the rows and their glyphs are
:func:`ebm_engine.export.by_class.class_rows`, as in the exports), and the label–latent
mutual information of the information bottleneck."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ebm_engine.errors import DataError


def labelled_split(dataset, n_classes: int
                   ) -> tuple[tuple[torch.Tensor, torch.Tensor],
                              tuple[torch.Tensor, torch.Tensor] | None]:
    """``((labelled items, labels), (held-out items, labels) or None)`` of a dataset
    whose ``meta["labels"]`` marks unlabelled items with −1 (held-out items, if any,
    in ``meta["heldout_items"]`` / ``meta["heldout_labels"]``).

    Raises
    ------
    DataError
        No labels, a count that does not match the items, labels out of range,
        or no labelled item at all.
    """
    ds, k = dataset, n_classes
    raw = ds.meta.get("labels")
    if raw is None:
        raise DataError(f"{ds.name}: method 'symbol_vector' needs labels for some items: "
                        "for a folder of pictures, --set data.options.labels=folders (or "
                        "=labels.csv, an empty label leaving an item unlabelled); or try "
                        "--data digits-semi-supervised")
    labels = torch.as_tensor(np.asarray(raw), dtype=torch.long)[: len(ds)]
    if len(labels) != len(ds):
        raise DataError(f"{ds.name}: {len(labels)} labels for {len(ds)} items")
    if int(labels.max()) >= k or int(labels.min()) < -1:
        raise DataError(f"{ds.name}: labels span {int(labels.min())}..{int(labels.max())}; "
                        f"set train.options.n_classes (now {k}) to cover them")
    top = int(labels.max())
    if top == 0:
        raise DataError(f"{ds.name}: the labels name one class; semi-supervised learning "
                        "needs at least two")
    if 0 < top < k - 1:  # classes no item is labelled with: drawn, never trained
        raise DataError(f"{ds.name}: the labels name {top + 1} classes (0..{top}), but "
                        f"train.options.n_classes is {k}; set train.options.n_classes={top + 1}")
    idx = torch.nonzero(labels >= 0).squeeze(1)
    if len(idx) == 0:
        raise DataError(f"{ds.name}: no labelled item (every label is −1)")
    held = None
    if "heldout_items" in ds.meta:
        held = (torch.as_tensor(ds.meta["heldout_items"]).float(),
                torch.as_tensor(np.asarray(ds.meta["heldout_labels"])).long())
    return (ds.take(idx), labels[idx]), held


def class_mosaic(samples: torch.Tensor, per_class: int, pad_value: float = 0.0) -> torch.Tensor:
    """Class-major ``(K·m, C, H, W)`` samples as one picture ``(1, C, K·(H+1)−1, m·(W+1)−1)``:
    one row per class, 1-pixel ``pad_value`` lines between tiles (a snapshot extra
    of one item, so the snapshot's size limit does not cut it)."""
    km, c, h, w = samples.shape
    k = km // per_class
    padded = F.pad(samples, (0, 1, 0, 1), value=pad_value)  # right and bottom lines
    tiles = padded.view(k, per_class, c, h + 1, w + 1).permute(2, 0, 3, 1, 4)
    return tiles.reshape(1, c, k * (h + 1), per_class * (w + 1))[..., :-1, :-1]


def side_by_side(left: torch.Tensor, right: torch.Tensor, line: float = 0.0) -> torch.Tensor:
    """``(N, C, H, W)`` pairs as ``(N, C, H, 2W+1)`` cells, a 1-pixel ``line`` between
    (mid grey in ``[-1, 1]``: it shows against black and white)."""
    sep = torch.full((*left.shape[:-1], 1), line, dtype=left.dtype, device=left.device)
    return torch.cat([left, sep, right.to(left)], -1)


def mutual_information(logits: torch.Tensor) -> torch.Tensor:
    """``I(y; z) ≈ H(mean_i p(y | z_i)) − mean_i H(p(y | z_i))`` from a batch of logits."""
    logp = F.log_softmax(logits, 1)
    p = logp.exp()
    conditional = -(p * logp).sum(1).mean()
    mean = p.mean(0)
    marginal = -(mean * mean.clamp_min(1e-12).log()).sum()
    return marginal - conditional
