"""Informative chain starts for JEM (JEM++: Yang & Ji, ICCV 2021).

Chains started from uniform noise need hundreds of visits before they look
like data, and while most of the replay buffer is still noise the
likelihood gradient mostly teaches the net to tell noise from digits: the
energy of the data runs away from that of the (poor) samples and training
oscillates. JEM++ starts every chain, and re-starts the ``reinit_prob``
fraction, from a Gaussian fitted to each class of the training data
instead: blurry digits the short chains only have to sharpen.
"""

from __future__ import annotations

import torch

from ebm_engine.config import SamplerConfig
from ebm_engine.sampling import PersistentBuffer

#: Diagonal loading of each class covariance, relative to its mean variance
#: (a class has fewer items than pixels: the sample covariance is singular).
RIDGE = 0.05


class ClassGaussians:
    """One Gaussian ``N(μ_k, Σ_k)`` per class, fitted to ``items`` by ``labels``.

    Parameters
    ----------
    items : Tensor ``(N, *item_shape)``
        Training items.
    labels : Tensor ``(N,)``
        Their classes, ``0..n_classes−1``.
    n_classes : int
        Number of classes ``K`` (a class without items uses the mean of all).
    value_range : (float, float) or None
        Draws are clamped into it.
    """

    def __init__(self, items: torch.Tensor, labels: torch.Tensor, n_classes: int,
                 value_range: tuple[float, float] | None):
        self.item_shape = tuple(items.shape[1:])
        flat = items.flatten(1).double()
        d = flat.shape[1]
        means, chols = [], []
        for k in range(n_classes):
            own = flat[labels == k]
            if len(own) < 2:
                own = flat
            mu = own.mean(0)
            cov = torch.cov(own.T).reshape(d, d)
            cov = cov + RIDGE * cov.diagonal().mean().clamp_min(1e-6) * torch.eye(d, dtype=cov.dtype,
                                                                                  device=cov.device)
            means.append(mu)
            chols.append(torch.linalg.cholesky(cov))
        self.means = torch.stack(means).to(items.dtype)
        self.chols = torch.stack(chols).to(items.dtype)
        self.value_range = value_range

    @property
    def n_classes(self) -> int:
        return len(self.means)

    def sample(self, n: int, generator: torch.Generator | None,
               y: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` draws, of classes ``y`` (default: classes drawn uniformly)."""
        device = self.means.device
        if y is None:
            y = torch.randint(self.n_classes, (n,), device=device, generator=generator)
        z = torch.randn((n, self.means.shape[1]), device=device, generator=generator,
                        dtype=self.means.dtype)
        x = self.means[y] + torch.einsum("nij,nj->ni", self.chols[y], z)
        if self.value_range is not None:
            x = x.clamp(*self.value_range)
        return x.reshape(n, *self.item_shape)


class InformedBuffer(PersistentBuffer):
    """A :class:`PersistentBuffer` whose chains start and restart from ``starts``."""

    def __init__(self, capacity: int, cfg: SamplerConfig, device: torch.device | str,
                 generator: torch.Generator | None, starts: ClassGaussians):
        super().__init__(capacity, starts.item_shape, cfg, device, generator)
        self.starts = starts
        self.states = starts.sample(capacity, generator)

    def draw(self, n: int, reinit: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        if not reinit:
            return self._settled(n)
        idx = torch.randint(len(self), (n,), device=self.device, generator=self.generator)
        starts = self.states[idx].clone()
        fresh = torch.rand(n, device=self.device, generator=self.generator) < self.cfg.reinit_prob
        if fresh.any():
            starts[fresh] = self.starts.sample(n, self.generator)[fresh]
            self.ages[idx[fresh]] = 0
        return idx, starts
