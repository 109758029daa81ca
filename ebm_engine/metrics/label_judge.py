"""A class judge fitted to a run's own labelled pictures (for ``ebm eval`` of
class-conditional runs on the user's data).

The digits demo's outputs are judged by the shipped digits classifier. Any
other labelled data has no such judge, and the accuracy of its outputs was
left out, so ``ebm eval`` reported only chance. This judge is a multinomial
logistic regression on the pictures' standardised pixels (each picture first
average-pooled to at most 16×16, which keeps it quick and less sensitive to
pixel noise), fitted on four fifths of the training items. Its accuracy on the
remaining fifth is reported beside the outputs' as the judge's own ceiling: an
output accuracy near it means outputs as recognisable as real pictures *to
this judge*; a judge near chance means the classes are not told apart by their
pixels and the figure says little.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

MAX_SIDE = 16  # pictures are pooled to at most this side before the fit
HOLDOUT = 0.2  # the fraction of items the judge is scored on
L2 = 1e-3


def _features(x: torch.Tensor) -> torch.Tensor:
    x = x.detach().float().cpu()
    side = min(MAX_SIDE, x.shape[-2]), min(MAX_SIDE, x.shape[-1])
    return torch.nn.functional.adaptive_avg_pool2d(x, side).flatten(1)


def fit_judge(images: torch.Tensor, labels: torch.Tensor, n_classes: int,
              seed: int = 0) -> tuple[Callable[[torch.Tensor], torch.Tensor], float]:
    """Fit the judge; return ``(predict, held-out accuracy)``.

    Parameters
    ----------
    images : torch.Tensor
        ``(N, C, H, W)`` training pictures (model space).
    labels : torch.Tensor
        ``(N,)`` class indices in ``[0, n_classes)``.
    n_classes : int
        Number of classes.
    seed : int
        Seed of the train / held-out split.

    Returns
    -------
    predict : callable
        Pictures ``(M, C, H, W)`` → predicted classes ``(M,)``.
    accuracy : float
        Accuracy on the held-out fifth (on all items when there are under 10).
    """
    feats, labels = _features(images), labels.long().cpu()
    order = torch.randperm(len(feats), generator=torch.Generator().manual_seed(seed))
    n_test = int(len(feats) * HOLDOUT) if len(feats) >= 10 else 0
    test, train = order[:n_test], order[n_test:]
    mean = feats[train].mean(0)
    std = feats[train].std(0, unbiased=False).clamp_min(1e-3)

    def standard(f: torch.Tensor) -> torch.Tensor:
        return (f - mean) / std

    xs, ys = standard(feats[train]), labels[train]
    linear = torch.nn.Linear(xs.shape[1], n_classes)
    opt = torch.optim.LBFGS(linear.parameters(), lr=1.0, max_iter=200,
                            line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(linear(xs), ys) + L2 * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)

    def predict(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return linear(standard(_features(x))).argmax(1)

    scored = test if n_test else train
    accuracy = float((predict(images[scored]) == labels[scored]).float().mean())
    return predict, accuracy
