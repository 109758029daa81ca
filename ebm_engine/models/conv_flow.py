"""A two-scale RealNVP with convolutional couplings (Dinh et al., ICLR 2017) for small images.

The same interface as :class:`ebm_engine.models.flow.RealNVP` (exact
``log q(x)``, reparameterised samples), but built the way RealNVP is built for
images: a per-pixel affine layer (ActNorm-like, starts as the identity), then
a *squeeze* ``(C, H, W) → (4C, H/2, W/2)`` (each 2×2 block becomes four
channels; a permutation, log-determinant 0) and affine couplings whose
``(s, t)`` come from a small conv net on the kept channels, then a second
squeeze to ``(16C, H/4, W/4)`` and more couplings. A conv coupling predicts
each moved pixel from its neighbours, which is what an image's pixels
mostly are; an MLP on the flattened image must learn that from scratch.

Channel masks cycle through the bits of the channel index, so successive
couplings split each 2×2 block left/right, then top/bottom (and, after the
second squeeze, by the position of the 2×2 block in its 4×4 block).
Used by flow contrastive estimation (:mod:`ebm_engine.methods.fce`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ebm_engine.errors import ConfigError
from ebm_engine.models.flow import standard_normal_log_prob


def squeeze(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W) → (B, 4C, H/2, W/2)``: each 2×2 block becomes four channels."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)
    return x.reshape(b, 4 * c, h // 2, w // 2)


def unsqueeze(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`squeeze`."""
    b, c4, h, w = x.shape
    c = c4 // 4
    x = x.reshape(b, c, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3)
    return x.reshape(b, c, 2 * h, 2 * w)


def channel_mask(channels: int, k: int) -> torch.Tensor:
    """The ``k``-th coupling's 0/1 mask over channels: bit ``k // 2`` of the
    channel index, inverted on odd ``k`` (so each split is used both ways)."""
    bits = max(1, int(math.log2(channels)))
    bit = (k // 2) % bits
    mask = ((torch.arange(channels) >> bit) & 1).float()
    return mask if k % 2 == 0 else 1.0 - mask


class ConvCoupling(nn.Module):
    """``y = m⊙x + (1−m)⊙(x·exp(s) + t)`` with ``(s, t)`` a conv net of ``m⊙x``
    (``m`` a channel mask); ``s = max_log_scale · tanh(·)``."""

    def __init__(self, mask: torch.Tensor, width: int, max_log_scale: float = 2.0):
        super().__init__()
        c = mask.numel()
        self.register_buffer("mask", mask.view(1, c, 1, 1).clone())
        self.max_log_scale = max_log_scale
        self.net = nn.Sequential(
            nn.Conv2d(c, width, 3, padding=1), nn.SiLU(),
            nn.Conv2d(width, width, 1), nn.SiLU(),
            nn.Conv2d(width, 2 * c, 3, padding=1),
        )
        # Zero last layer: the coupling starts as the identity.
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def _scale_shift(self, x_masked: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self.net(x_masked).chunk(2, dim=1)
        free = 1.0 - self.mask
        return self.max_log_scale * torch.tanh(s) * free, t * free

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self._scale_shift(x * self.mask)
        return x * torch.exp(s) + t, s.flatten(1).sum(1)

    def inverse(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self._scale_shift(y * self.mask)  # the masked channels are unchanged
        return (y - t) * torch.exp(-s), -s.flatten(1).sum(1)


class ConvRealNVP(nn.Module):
    """Two-scale conv RealNVP ``z = h(x)`` with a standard normal base.

    Parameters
    ----------
    item_shape : (C, H, W)
        Image shape; ``H`` and ``W`` divisible by 4.
    n_layers : int
        Coupling layers in all; the first half after one squeeze, the rest
        after the second.
    width : int
        Channels of each coupling's conv net.
    max_log_scale : float
        Bound on each coupling's log-scale.
    """

    def __init__(self, item_shape: tuple[int, ...], n_layers: int = 8, width: int = 64,
                 max_log_scale: float = 2.0):
        super().__init__()
        if len(item_shape) != 3 or item_shape[1] % 4 or item_shape[2] % 4:
            raise ConfigError(f"the conv flow needs (C, H, W) images with H, W divisible by 4, "
                             f"got {tuple(item_shape)}")
        self.item_shape = tuple(item_shape)
        self.dim = math.prod(self.item_shape)
        c = item_shape[0]
        self.log_scale = nn.Parameter(torch.zeros(self.item_shape))
        self.shift = nn.Parameter(torch.zeros(self.item_shape))
        # 1 once :meth:`initialise` has run (a buffer, so it travels with checkpoints).
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))
        first = max(1, n_layers // 2)
        self.scale1 = nn.ModuleList(ConvCoupling(channel_mask(4 * c, k), width, max_log_scale)
                                    for k in range(first))
        self.scale2 = nn.ModuleList(ConvCoupling(channel_mask(16 * c, k), width, max_log_scale)
                                    for k in range(n_layers - first))

    @torch.no_grad()
    def initialise(self, x: torch.Tensor, min_std: float = 1e-3) -> None:
        """Data-dependent start of the per-pixel affine layer (Glow's ActNorm):
        shift = the batch's per-pixel mean, scale = its standard deviation
        (at least ``min_std``), so the flow starts at a per-pixel Gaussian fit
        instead of N(0, I). A pixel that is always background has std ≈ the
        jitter, ``log`` of which Adam would need thousands of steps to reach.
        Runs once; later calls do nothing.
        """
        if bool(self.initialised):
            return
        x = x.reshape(x.shape[0], *self.item_shape)
        self.shift.copy_(x.mean(0))
        self.log_scale.copy_(x.std(0).clamp_min(min_std).log())
        self.initialised.fill_(True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Data → latent: ``z`` (flat, ``(B, D)``) and ``log |det ∂z/∂x|``."""
        h = (x.reshape(x.shape[0], *self.item_shape) - self.shift) * torch.exp(-self.log_scale)
        logdet = (-self.log_scale.sum()).expand(x.shape[0])
        h = squeeze(h)
        for layer in self.scale1:
            h, ld = layer(h)
            logdet = logdet + ld
        h = squeeze(h)
        for layer in self.scale2:
            h, ld = layer(h)
            logdet = logdet + ld
        return h.reshape(x.shape[0], self.dim), logdet

    def inverse(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent → data: ``x`` (item-shaped) and ``log |det ∂x/∂z|``."""
        c, hh, ww = self.item_shape
        h = z.reshape(z.shape[0], 16 * c, hh // 4, ww // 4)
        logdet = torch.zeros(z.shape[0], device=z.device, dtype=z.dtype)
        for layer in reversed(self.scale2):
            h, ld = layer.inverse(h)
            logdet = logdet + ld
        h = unsqueeze(h)
        for layer in reversed(self.scale1):
            h, ld = layer.inverse(h)
            logdet = logdet + ld
        h = unsqueeze(h) * torch.exp(self.log_scale) + self.shift
        return h, logdet + self.log_scale.sum()

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact ``log q(x)`` per item, ``(B,)``."""
        z, logdet = self.forward(x)
        return standard_normal_log_prob(z) + logdet

    def sample(self, n: int, generator: torch.Generator | None = None,
               temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` samples and their ``log q(x)`` (reparameterised through the base noise)."""
        z = torch.randn(n, self.dim, device=self.shift.device, generator=generator) * temperature
        x, logdet = self.inverse(z)
        return x, standard_normal_log_prob(z) - logdet
