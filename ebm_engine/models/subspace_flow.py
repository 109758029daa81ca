"""A RealNVP flow on the data's leading principal components.

Images such as the digits demo's (8×8 digits upsampled to 16×16) fill a
small linear subspace of their pixels, and a flow over every pixel spends its
couplings on directions where the data barely varies. This flow first rotates
into the data's principal basis (fixed, fitted once from training items) and
scales each component by its standard deviation,

    z = Uᵀ (x − μ) / s,

a linear map with ``log |det ∂z/∂x| = −Σ log s`` (``U`` is orthogonal). The
``components`` leading coordinates of ``z`` go through a RealNVP with MLP
couplings (:class:`ebm_engine.models.flow.RealNVP`, its masks alternating
parity and halves); the others are left standard normal, so beyond the
leading components the flow is the data's Gaussian fit. ``U``, ``μ`` and ``s`` are buffers: they travel with
checkpoints and no optimiser moves them.

The full basis is a ``D × D`` matrix, so the flow takes items of at most
:data:`MAX_DIM` values.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ebm_engine.errors import ConfigError
from ebm_engine.models.flow import RealNVP, standard_normal_log_prob

#: Most values per item: the basis is ``D × D`` floats (64 MiB at 4096).
MAX_DIM = 4096


def check_sizes(item_shape: tuple[int, ...], components: int) -> None:
    """Raise :class:`ConfigError` (one line, naming the knobs) where the ``"pca"`` flow
    cannot take items of ``item_shape`` with ``components`` modelled components."""
    dim = math.prod(item_shape)
    if dim > MAX_DIM:
        conv = len(item_shape) == 3 and item_shape[1] % 4 == 0 and item_shape[2] % 4 == 0
        others = "'conv' or 'mlp'" if conv else "'mlp'"  # the conv flow halves H and W twice
        raise ConfigError(f"train.options.flow_net 'pca' takes items of at most {MAX_DIM} values "
                          f"(its basis is D × D), these have {dim}; use {others}")
    if not 2 <= components <= dim:
        within = "2" if dim == 2 else f"2 to {dim}"
        raise ConfigError(f"train.options.flow_components must be {within} for these items "
                          f"({dim} values each), got {components}"
                          + ("; flow_net 'pca' is meant for images" if dim <= 16 else ""))


class SubspaceRealNVP(nn.Module):
    """Flow ``z = h(x)``: a fixed principal-component whitening, then a RealNVP
    on the leading ``components`` coordinates; a standard normal base.

    Parameters
    ----------
    item_shape : tuple of int
        Shape of one item (at most :data:`MAX_DIM` values in all).
    components : int
        Leading principal components the couplings model: at least 2 (the couplings'
        masks alternate even and odd coordinates) and at most the item's size.
    n_layers : int
        Coupling layers of the RealNVP on those components.
    width : int
        Hidden units of each coupling network.
    """

    def __init__(self, item_shape: tuple[int, ...], components: int = 16, n_layers: int = 8,
                 width: int = 256):
        super().__init__()
        check_sizes(item_shape, components)
        self.item_shape = tuple(item_shape)
        self.dim = math.prod(self.item_shape)
        self.components = components
        self.register_buffer("mean", torch.zeros(self.dim))
        self.register_buffer("basis", torch.eye(self.dim))
        self.register_buffer("scale", torch.ones(self.dim))
        # 1 once :meth:`initialise` has run (a buffer, so it travels with checkpoints).
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))
        self.couplings = RealNVP((components,), n_layers, width, halves=True)

    @torch.no_grad()
    def initialise(self, x: torch.Tensor, jitter: float = 0.0, min_std: float = 1e-3) -> None:
        """Fit the basis: the principal directions of items ``x`` and their spreads.

        Parameters
        ----------
        x : tensor ``(N, *item_shape)``
            Training items (an evenly spaced subset of them is enough).
        jitter : float
            Standard deviation of the Gaussian noise training adds to the data; its
            variance is added to every component's.
        min_std : float
            Floor of each component's spread (a direction the data never moves in).
        """
        # on the CPU: float64 and eigh are missing on some devices (MPS); copy_ moves back
        flat = x.reshape(x.shape[0], self.dim).to("cpu", torch.float64)
        mean = flat.mean(0)
        centred = flat - mean
        cov = centred.T @ centred / max(len(flat), 1)
        variances, vectors = torch.linalg.eigh(cov)  # ascending
        order = variances.argsort(descending=True)
        spread = (variances[order].clamp_min(0) + jitter ** 2).sqrt().clamp_min(min_std)
        self.mean.copy_(mean)  # copy_ casts to the buffers' dtype
        self.basis.copy_(vectors[:, order])
        self.scale.copy_(spread)
        self.initialised.fill_(True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Data → latent: ``z`` (flat, ``(B, D)``) and ``log |det ∂z/∂x|``."""
        with torch.autocast(x.device.type, enabled=False):  # bf16 broke the rotation
            flat = x.reshape(x.shape[0], self.dim).to(self.basis.dtype)
            h = (flat - self.mean) @ self.basis / self.scale
        logdet = (-self.scale.log().sum()).expand(x.shape[0])
        k = self.components
        top, ld = self.couplings.forward(h[:, :k])
        return torch.cat([top, h[:, k:]], 1), logdet + ld

    def inverse(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent → data: ``x`` (item-shaped) and ``log |det ∂x/∂z|``."""
        k = self.components
        top, ld = self.couplings.inverse(z[:, :k])
        h = torch.cat([top, z[:, k:]], 1)
        with torch.autocast(h.device.type, enabled=False):  # bf16 broke the rotation
            x = (h.to(self.basis.dtype) * self.scale) @ self.basis.T + self.mean
        return x.reshape(z.shape[0], *self.item_shape), ld + self.scale.log().sum()

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact ``log q(x)`` per item, ``(B,)``."""
        z, logdet = self.forward(x)
        return standard_normal_log_prob(z) + logdet

    def sample(self, n: int, generator: torch.Generator | None = None,
               temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` samples and their ``log q(x)`` (reparameterised through the base noise)."""
        z = torch.randn(n, self.dim, device=self.mean.device, generator=generator) * temperature
        x, logdet = self.inverse(z)
        return x, standard_normal_log_prob(z) - logdet
