"""Semi-supervised classification: the supervised-only baselines ``ebm eval`` measures
next to the symbol-vector latent EBM (:mod:`ebm_engine.methods.symbol_vector`).

Both see only the labelled items, never the unlabelled ones:

- :func:`supervised_accuracy`: a classifier **of the same size** as the
  latent EBM: an MLP that mirrors its generator (pixels → ``gen_width`` →
  ``gen_width`` → ``z_dim``) followed by a network shaped like its prior
  (``z_dim`` → width … → K), trained by cross-entropy (Adam, full batch,
  weight decay), the mean of a few seeds;
- :func:`logistic_accuracy`: multinomial logistic regression on the pixels
  (scikit-learn), a strong classic baseline on small digits.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ebm_engine.models.sequence import LatentPrior

#: Adam steps and seeds of the supervised-only baseline in ``ebm eval``.
BASELINE_STEPS = 400
BASELINE_SEEDS = (0, 1, 2)


def same_size_classifier(n_pixels: int, z_dim: int, gen_width: int, prior_width: int,
                         prior_depth: int, n_classes: int) -> nn.Module:
    """Pixels → ``gen_width`` → ``gen_width`` → ``z_dim`` → prior-shaped MLP → logits."""
    return nn.Sequential(nn.Flatten(), nn.Linear(n_pixels, gen_width), nn.SiLU(),
                         nn.Linear(gen_width, gen_width), nn.SiLU(),
                         nn.Linear(gen_width, z_dim),
                         LatentPrior(z_dim, prior_width, prior_depth, n_classes))


def n_parameters(*nets: nn.Module) -> int:
    """Number of trainable parameters of ``nets``."""
    return sum(p.numel() for net in nets for p in net.parameters() if p.requires_grad)


def supervised_accuracy(make_net, x_lab: torch.Tensor, y_lab: torch.Tensor,
                        x_test: torch.Tensor, y_test: torch.Tensor, *, steps: int | None = None,
                        lr: float = 1e-3, weight_decay: float = 1e-4,
                        seeds: tuple[int, ...] | None = None) -> float:
    """Mean held-out accuracy of ``make_net()`` trained on the labelled items only.

    Parameters
    ----------
    make_net : callable
        Builds a fresh classifier (``x ↦ logits``); called once per seed.
    x_lab, y_lab : torch.Tensor
        The labelled items and their labels (full batch).
    x_test, y_test : torch.Tensor
        Held-out items and labels.
    steps, lr, weight_decay : number
        Adam settings (fixed: no tuning on the held-out items); ``steps``
        defaults to :data:`BASELINE_STEPS`.
    seeds : tuple of int
        One run per seed (initial weights); default :data:`BASELINE_SEEDS`.
    """
    accs = []
    steps = BASELINE_STEPS if steps is None else steps
    for seed in BASELINE_SEEDS if seeds is None else seeds:
        torch.manual_seed(seed)
        net = make_net().to(x_lab.device)
        opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(x_lab), y_lab).backward()
            opt.step()
        with torch.no_grad():
            accs.append(float((net(x_test).argmax(1) == y_test).float().mean()))
    return float(np.mean(accs))


def logistic_accuracy(x_lab: torch.Tensor, y_lab: torch.Tensor, x_test: torch.Tensor,
                      y_test: torch.Tensor) -> float:
    """Held-out accuracy of logistic regression on the pixels of the labelled items."""
    from sklearn.linear_model import LogisticRegression

    flat = lambda x: x.detach().flatten(1).cpu().numpy()  # noqa: E731
    model = LogisticRegression(max_iter=2000).fit(flat(x_lab), y_lab.cpu().numpy())
    return float((model.predict(flat(x_test)) == y_test.cpu().numpy()).mean())


def evaluate_semisup(method, dataset, n: int, seed: int) -> dict[str, float]:
    """``ebm eval`` of a symbol-vector run: held-out accuracies and class-conditional samples.

    - ``accuracy``: the latent EBM's ``argmax p(y | x)`` on the held-out items;
    - ``accuracy_supervised``: :func:`supervised_accuracy` of a classifier of
      the same size on the same labels (trained now, same call);
    - ``accuracy_logistic``: :func:`logistic_accuracy`;
    - ``class_sample_accuracy`` (16×16 digits only): how often the shipped digits
      classifier (:mod:`ebm_engine.metrics.digits`) reads class ``y`` in samples of
      ``p(x | y)``, ``max(n, 200)`` samples spread over the classes.

    Raises
    ------
    DataError
        The data has no held-out items (``meta["heldout_items"]``).
    """
    from ebm_engine.errors import DataError
    from ebm_engine.methods._symbol_vector_parts import labelled_split
    from ebm_engine.metrics.digits import DIGITS_SHAPE

    o = method.opts
    (x_lab, y_lab), held = labelled_split(dataset, o.n_classes)
    if held is None:
        raise DataError(f"{dataset.name}: no held-out labelled items to score the "
                        "classifier on (the digits-semi-supervised demo keeps some aside; your "
                        "own labels do not); try --data digits-semi-supervised")
    dev = method.device
    x_lab, y_lab = x_lab.to(dev), y_lab.to(dev)
    x_test, y_test = held[0].to(dev), held[1].to(dev)
    out = {"accuracy": method.accuracy(x_test, y_test)}
    m = method.cfg.model
    width, depth = (m.width, m.depth) if m.name == "mlp" else (200, 2)
    n_pixels = int(np.prod(x_lab.shape[1:]))
    out["accuracy_supervised"] = supervised_accuracy(
        lambda: same_size_classifier(n_pixels, o.z_dim, o.gen_width, width, depth, o.n_classes),
        x_lab, y_lab, x_test, y_test)
    out["accuracy_logistic"] = logistic_accuracy(x_lab, y_lab, x_test, y_test)
    if tuple(x_lab.shape[1:]) == DIGITS_SHAPE and o.n_classes == 10:
        out["class_sample_accuracy"] = class_sample_accuracy(method, max(n, 200))
    return out


def class_sample_accuracy(method, n: int) -> float:
    """How often the shipped digits classifier reads class ``y`` in ``g(z)``, ``z ~ p(z | y)``
    (about ``n`` samples, the same number of each class)."""
    from ebm_engine.metrics.digits import classifier

    k = method.opts.n_classes
    per_class = -(-n // k)
    samples = method.samples_by_class(per_class).float().cpu()
    y = torch.arange(k).repeat_interleave(per_class)
    with torch.no_grad():
        pred = classifier()(samples).argmax(1)
    return float((pred == y).float().mean())
