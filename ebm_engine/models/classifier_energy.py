"""A classifier whose logits define an EBM (JEM: Grathwohl et al., ICLR 2020).

With ``K`` logits ``l_θ(x)``, ``p_θ(x, y) ∝ exp(l_θ(x)[y])``, so

    p_θ(y | x) = softmax(l_θ(x))[y],   f_θ(x) = log Σ_y exp(l_θ(x)[y]),

and ``E_θ(x) = −f_θ(x)`` (plus the reference term). :meth:`forward` returns
``f_θ(x)`` like every energy network; :meth:`logits` the class scores. A
conv stack for ``(C, H, W)`` images, an MLP for anything else. Registered
as ``classifier`` (``model.options.n_classes``, default 10); the ``jem``
method builds one whatever ``model.name`` says.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ebm_engine.config import ModelConfig
from ebm_engine.models.layers import maybe_sn, option
from ebm_engine.models.registry import register
from ebm_engine.options import MAX_UNITS


class ClassifierEnergy(nn.Module):
    """``x ↦ logits (B, K)``; ``forward`` gives ``logsumexp`` of them, ``(B,)``.

    Parameters
    ----------
    item_shape : tuple of int
        ``(C, H, W)`` images get a conv net; other shapes an MLP on the flat item.
    n_classes : int
        Number of classes ``K``.
    width, depth : int
        Base channels / hidden units and number of blocks / hidden layers.
    spectral_norm : bool
        Wrap weight layers in spectral normalisation.
    """

    def __init__(self, item_shape: tuple[int, ...], n_classes: int = 10, width: int = 32,
                 depth: int = 2, spectral_norm: bool = False):
        super().__init__()
        self.n_classes = n_classes
        layers: list[nn.Module] = []
        if len(item_shape) == 3:
            ch, res = item_shape[0], item_shape[1]
            out = width
            layers += [maybe_sn(nn.Conv2d(ch, out, 3, 1, 1), spectral_norm), nn.SiLU()]
            ch = out
            for _ in range(depth):
                out = min(ch * 2, width * 8)
                stride = 2 if res > 4 else 1
                layers += [maybe_sn(nn.Conv2d(ch, out, 4 if stride == 2 else 3, stride, 1), spectral_norm),
                           nn.SiLU()]
                ch, res = out, res // stride
            layers.append(nn.Flatten())
            with torch.no_grad():  # flat feature count, whatever the image's aspect
                features = nn.Sequential(*layers)(torch.zeros(1, *item_shape)).shape[1]
        else:
            features = math.prod(item_shape)
            layers.append(nn.Flatten())
            for _ in range(depth):
                layers += [maybe_sn(nn.Linear(features, width), spectral_norm), nn.SiLU()]
                features = width
        self.features = nn.Sequential(*layers)
        self.head = maybe_sn(nn.Linear(features, n_classes), spectral_norm)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores ``l_θ(x)``, ``(B, K)``."""
        return self.head(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(self.logits(x), dim=1)


@register("classifier", options=("n_classes",))
def build_classifier_energy(cfg: ModelConfig, data_shape: tuple[int, ...]) -> nn.Module:
    n_classes = option(cfg.options, "n_classes", 10, int, ge=2, le=MAX_UNITS)
    return ClassifierEnergy(tuple(data_shape), n_classes, cfg.width, cfg.depth, cfg.spectral_norm)
