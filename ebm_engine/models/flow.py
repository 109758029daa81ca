"""A small RealNVP flow (Dinh et al., ICLR 2017) for flat data and images.

An invertible map ``z = h(x)`` to a standard normal base gives the exact
log-density by the change of variables

    log q(x) = log N(h(x); 0, I) + log |det ∂h/∂x|.

Each affine coupling layer keeps the masked half ``x_m = m ⊙ x`` and moves
the other half, ``y = x_m + (1 − m) ⊙ (x ⊙ exp(s(x_m)) + t(x_m))``, so its
log-determinant is ``Σ (1 − m) ⊙ s(x_m)``. Masks alternate: even/odd
coordinates for flat data (with ``halves``, also first/second half), a
checkerboard over ``(H, W)`` for images (the image is flattened, the mask
keeps its spatial pattern). A per-coordinate
affine layer in front (ActNorm-like, starts as identity) lets the flow
match the data's scale quickly. Used by flow contrastive estimation
(:mod:`ebm_engine.methods.fce`) as the contrastive distribution and sampler.
"""

from __future__ import annotations

import math

import torch
from torch import nn

LOG_2PI = math.log(2.0 * math.pi)


def coupling_mask(item_shape: tuple[int, ...]) -> torch.Tensor:
    """The first layer's 0/1 mask, flattened: checkerboard for ``(C, H, W)``
    images, even coordinates otherwise."""
    if len(item_shape) == 3:
        _, h, w = item_shape
        ii, jj = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        board = ((ii + jj) % 2 == 0).float()
        return board.expand(item_shape).reshape(-1).clone()
    dim = math.prod(item_shape)
    return (torch.arange(dim) % 2 == 0).float()


class AffineCoupling(nn.Module):
    """One coupling layer ``y = m⊙x + (1−m)⊙(x·exp(s) + t)``, ``(s, t) = NN(m⊙x)``.

    ``s = max_log_scale · tanh(·)`` bounds each step's stretch, which keeps
    early training (and adversarial flow updates) from blowing up.
    """

    def __init__(self, mask: torch.Tensor, width: int, max_log_scale: float = 2.0):
        super().__init__()
        dim = mask.numel()
        self.register_buffer("mask", mask.clone())
        self.max_log_scale = max_log_scale
        self.net = nn.Sequential(
            nn.Linear(dim, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(), nn.Linear(width, 2 * dim)
        )
        # Zero last layer: the flow starts as the identity.
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def _scale_shift(self, x_masked: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self.net(x_masked).chunk(2, dim=1)
        free = 1.0 - self.mask
        return self.max_log_scale * torch.tanh(s) * free, t * free

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x → y`` and ``log |det ∂y/∂x|`` per item."""
        s, t = self._scale_shift(x * self.mask)
        return x * torch.exp(s) + t, s.sum(1)

    def inverse(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``y → x`` and ``log |det ∂x/∂y|`` per item."""
        s, t = self._scale_shift(y * self.mask)  # the masked half is unchanged
        return (y - t) * torch.exp(-s), -s.sum(1)


class RealNVP(nn.Module):
    """Flow ``z = h(x)`` with a standard normal base on ``prod(item_shape)`` values.

    Parameters
    ----------
    item_shape : tuple of int
        Shape of one item; images ``(C, H, W)`` get checkerboard masks.
    n_layers : int
        Coupling layers (masks alternate).
    width : int
        Hidden units of each coupling network.
    max_log_scale : float
        Bound on each coupling's log-scale.
    halves : bool
        Flat data only: every other pair of layers splits the coordinates into
        their first and second halves instead of even and odd, so that coordinates
        of one parity condition on each other too where they lie in different halves
        (a split by parity alone never lets ``2i`` condition on ``2j``; the ``"pca"``
        flow's leading coordinates, ordered by variance, learnt better with both).
    """

    def __init__(self, item_shape: tuple[int, ...], n_layers: int = 6, width: int = 128,
                 max_log_scale: float = 2.0, halves: bool = False):
        super().__init__()
        self.item_shape = tuple(item_shape)
        self.dim = math.prod(self.item_shape)
        mask = coupling_mask(self.item_shape)
        masks = [mask, 1.0 - mask]
        if halves and len(self.item_shape) == 1:
            half = (torch.arange(self.dim) < self.dim // 2).float()
            masks += [half, 1.0 - half]
        self.log_scale = nn.Parameter(torch.zeros(self.dim))
        self.shift = nn.Parameter(torch.zeros(self.dim))
        self.layers = nn.ModuleList(
            AffineCoupling(masks[k % len(masks)], width, max_log_scale) for k in range(n_layers)
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Data → latent: ``z`` (flat, ``(B, D)``) and ``log |det ∂z/∂x|``."""
        h = x.reshape(x.shape[0], self.dim)
        h = (h - self.shift) * torch.exp(-self.log_scale)
        logdet = (-self.log_scale.sum()).expand(x.shape[0])
        for layer in self.layers:
            h, ld = layer(h)
            logdet = logdet + ld
        return h, logdet

    def inverse(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent → data: ``x`` (item-shaped) and ``log |det ∂x/∂z|``."""
        h = z
        logdet = torch.zeros(z.shape[0], device=z.device, dtype=z.dtype)
        for layer in reversed(self.layers):
            h, ld = layer.inverse(h)
            logdet = logdet + ld
        h = h * torch.exp(self.log_scale) + self.shift
        logdet = logdet + self.log_scale.sum()
        return h.reshape(z.shape[0], *self.item_shape), logdet

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact ``log q(x)`` per item, ``(B,)``."""
        z, logdet = self.forward(x)
        return standard_normal_log_prob(z) + logdet

    def sample(self, n: int, generator: torch.Generator | None = None,
               temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` samples and their ``log q(x)`` (differentiable w.r.t. the flow:
        reparameterised through the base noise)."""
        device = self.log_scale.device
        z = torch.randn(n, self.dim, device=device, generator=generator) * temperature
        x, logdet = self.inverse(z)
        return x, standard_normal_log_prob(z) - logdet


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """``log N(z; 0, I)`` summed over all but the batch dimension."""
    z = z.flatten(1)
    return -0.5 * (z.pow(2).sum(1) + z.shape[1] * LOG_2PI)
