"""FRAME: Filters, Random fields And Maximum Entropy (Zhu, Wu & Mumford 1997/98).

A fixed bank of filters ``F_k`` (intensity, differences of Gaussians, Gabor
pairs at several orientations and scales) and one learned potential per
filter, a piecewise-linear function ``φ_k`` of the filter response:

    p(x) ∝ exp( −Σ_k Σ_pixels φ_k((F_k * x)(pixel)) ),   so   f_θ(x) = −Σ_k Σ_pixels φ_k(r_k).

``φ_k`` is linear between ``bins`` knots spread over the data's response
range (widened by a margin; constant beyond it). Its gradient in the
knot values is a soft histogram of the responses, so the maximum-likelihood
update ``∇λ L = H_model − H_data`` matches the model's filter-response
histograms to the data's: the maximum-entropy principle of FRAME.
Convolutions wrap around (the texture lives on a torus, as in the paper).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ebm_engine.config import ModelConfig
from ebm_engine.errors import ConfigError
from ebm_engine.models.registry import register

KERNEL = 13  # side of every filter (smaller ones are zero-padded)


def _gaussian(sigma: float, size: int = KERNEL) -> torch.Tensor:
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))
    return g / g.sum()


def _gabor(sigma: float, wavelength: float, theta: float, phase: float) -> torch.Tensor:
    r = torch.arange(KERNEL, dtype=torch.float64) - (KERNEL - 1) / 2
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    u = xx * math.cos(theta) + yy * math.sin(theta)
    envelope = torch.exp(-(xx**2 + yy**2) / (2 * sigma**2))
    return envelope * torch.cos(2 * math.pi * u / wavelength + phase)


def filter_bank(orientations: int = 4, scales: int = 2) -> tuple[torch.Tensor, list[str]]:
    """The fixed filters ``(K, KERNEL, KERNEL)`` and their names.

    Intensity (a delta), the two nearest-neighbour differences, one
    difference of Gaussians per scale, and a cosine/sine Gabor pair per
    orientation and scale. Every filter but the
    intensity has zero mean (it sees structure, not brightness) and unit L1
    norm, so responses of images in [-1, 1] lie in [-1, 1].
    """
    kernels: list[torch.Tensor] = []
    names: list[str] = []
    delta = torch.zeros(KERNEL, KERNEL, dtype=torch.float64)
    delta[KERNEL // 2, KERNEL // 2] = 1.0
    kernels.append(delta)
    names.append("intensity")
    # Nearest-neighbour differences (Zhu et al.'s ∇x, ∇y): the only filters that
    # see pixel-level noise; without them the samples are speckled and grey.
    for label, (dy, dx) in (("∇x", (0, 1)), ("∇y", (1, 0))):
        d = torch.zeros(KERNEL, KERNEL, dtype=torch.float64)
        d[KERNEL // 2, KERNEL // 2] = -1.0
        d[KERNEL // 2 + dy, KERNEL // 2 + dx] = 1.0
        kernels.append(d)
        names.append(label)
    for s in range(scales):
        sigma = 0.8 * 2**s
        kernels.append(_gaussian(sigma) - _gaussian(2 * sigma))
        names.append(f"DoG σ={sigma:g}")
    for s in range(scales):
        sigma, wavelength = 1.2 * 2**s, 4.0 * 2**s
        for o in range(orientations):
            theta = math.pi * o / orientations
            for phase, label in ((0.0, "cos"), (math.pi / 2, "sin")):
                kernels.append(_gabor(sigma, wavelength, theta, phase))
                names.append(f"Gabor {label} {round(math.degrees(theta))}° λ={wavelength:g}")
    out = []
    for i, k in enumerate(kernels):
        if i:
            k = k - k.mean()
        out.append(k / k.abs().sum())
    return torch.stack(out).float(), names


class FrameEnergy(nn.Module):
    """``f_θ(x) = −Σ_k Σ_pixels φ_k(r_k(x))`` for ``(B, C, H, W)`` images.

    The bank is applied to each channel; there is one potential per
    (channel, filter). ``lo``/``hi`` (buffers) are the knots' response
    range per potential, set from data by :meth:`fit_range`.

    Parameters
    ----------
    channels : int
        Image channels.
    bins : int
        Knots of each piecewise-linear potential.
    orientations, scales : int
        Gabor orientations and scales of the bank.
    """

    def __init__(self, channels: int, bins: int = 32, orientations: int = 4, scales: int = 2):
        super().__init__()
        bank, self.filter_names = filter_bank(orientations, scales)
        self.channels, self.bins = channels, bins
        self.register_buffer("bank", bank[:, None])  # (K, 1, k, k), fixed
        n = channels * bank.shape[0]
        self.potentials = nn.Parameter(torch.zeros(n, bins))  # λ: knot values of φ
        self.register_buffer("lo", torch.full((n,), -1.0))
        self.register_buffer("hi", torch.full((n,), 1.0))

    @property
    def n_potentials(self) -> int:
        return self.potentials.shape[0]

    def responses(self, x: torch.Tensor) -> torch.Tensor:
        """Filter responses ``(B, C·K, H, W)`` (channel-major), wrapping around."""
        return self._filter(x, 1.0)

    def _filter(self, x: torch.Tensor, gain: torch.Tensor | float) -> torch.Tensor:
        """``gain_k · (F_k * x)`` by FFT: the bank is fixed and the boundary
        circular, so each response is one product of spectra (about 20× fewer
        operations than a 13×13 convolution)."""
        b, c, h, w = x.shape
        spectra = self._spectra(h, w, x.device)
        if torch.is_tensor(gain):  # the knot scale, fixed once the range is fitted
            key = (spectra.data_ptr(), self.lo._version, self.hi._version)
            if getattr(self, "_scaled_key", None) != key:
                self._scaled = spectra * gain.view(c, -1, 1, 1)
                self._scaled_key = key
            spectra = self._scaled
        xs = torch.fft.rfft2(x.float())  # (B, C, H, W//2+1)
        out = torch.fft.irfft2(xs[:, :, None] * spectra[None], s=(h, w))
        return out.reshape(b, -1, h, w)

    def _spectra(self, h: int, w: int, device: torch.device) -> torch.Tensor:
        """Conjugate spectra ``(C, K, H, W//2+1)`` of the bank centred on pixel 0
        (conjugate: correlation, as ``conv2d`` computes it)."""
        key = (h, w, str(device))
        if getattr(self, "_spectra_key", None) != key:
            k = torch.zeros(self.bank.shape[0], h, w, device=device)
            k[:, :KERNEL, :KERNEL] = self.bank[:, 0]
            k = torch.roll(k, (-(KERNEL // 2), -(KERNEL // 2)), dims=(1, 2))
            spec = torch.fft.rfft2(k).conj()
            self._spectra_cache = spec[None].expand(self.channels, -1, -1, -1)
            self._spectra_key = key
        return self._spectra_cache

    @torch.no_grad()
    def fit_range(self, x: torch.Tensor, margin: float = 0.25) -> None:
        """Spread the knots over the responses of ``x`` (0.1–99.9 % quantiles,
        widened by ``margin`` of the span on each side)."""
        r = self.responses(x.float()).transpose(0, 1).flatten(1)
        if r.shape[1] > 200_000:  # quantile() refuses huge inputs; a subsample suffices
            r = r[:, torch.linspace(0, r.shape[1] - 1, 200_000).long()]
        lo, hi = torch.quantile(r, 0.001, dim=1), torch.quantile(r, 0.999, dim=1)
        span = (hi - lo).clamp_min(1e-3)
        self.lo.copy_(lo - margin * span)
        self.hi.copy_(hi + margin * span)

    def knots(self) -> torch.Tensor:
        """Response value of each knot, ``(C·K, bins)``."""
        t = torch.linspace(0, 1, self.bins, device=self.lo.device)
        return self.lo[:, None] + (self.hi - self.lo)[:, None] * t

    def _knot_coordinates(self, x: torch.Tensor) -> torch.Tensor:
        """Responses in knot units offset by each potential's first flat index:
        ``t = k·bins + (r_k − lo_k)/width_k`` (the scale folded into the spectra)."""
        width = (self.hi - self.lo) / (self.bins - 1)
        t = self._filter(x, 1.0 / width)
        start = torch.arange(self.n_potentials, device=x.device) * self.bins
        return t + (start - self.lo / width).view(1, -1, 1, 1)

    def _locate(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Flat index of each response's left knot and the fraction past it
        (< 0 or > 1 beyond the range: the end segments go on)."""
        start = (torch.arange(self.n_potentials, device=t.device) * self.bins).view(1, -1, 1, 1)
        index = t.clamp(start, start + self.bins - 2).long()  # ≥ 0: truncation is floor
        return index, t - index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self._knot_coordinates(x)
        index, frac = self._locate(t.detach())
        return -_PiecewiseLinear.apply(t, self.potentials, index, frac).sum(dim=(1, 2, 3))

    @torch.no_grad()
    def histograms(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised response histograms ``(C·K, bins)`` of ``x`` at the knots
        (soft counts, linear interpolation: the potentials' own statistic)."""
        index, frac = self._locate(self._knot_coordinates(x.float()))
        hist = _soft_counts(index, frac.clamp(0, 1), self.potentials.numel())
        hist = hist.view(self.n_potentials, self.bins)
        return hist / hist.sum(1, keepdim=True).clamp_min(1e-12)


def _soft_counts(index: torch.Tensor, frac: torch.Tensor, size: int,
                 weight: torch.Tensor | None = None) -> torch.Tensor:
    """Linear-interpolation counts of responses at their two knots (flat, ``size``)."""
    w = torch.ones_like(frac) if weight is None else weight
    out = torch.zeros(size, device=frac.device, dtype=frac.dtype)
    flat = index.flatten()
    out.index_add_(0, flat, (w * (1 - frac)).flatten())
    out.index_add_(0, flat + 1, (w * frac).flatten())
    return out


class _PiecewiseLinear(torch.autograd.Function):
    """``φ(t) = λ[i] + frac · (λ[i+1] − λ[i])`` (``t`` in knot units) with
    hand-written gradients: ``∂φ/∂t`` is the segment's rise (one gather, all
    Langevin needs) and ``∂φ/∂λ`` the soft counts (only when learning)."""

    @staticmethod
    def forward(ctx, t, potentials, index, frac):
        flat = potentials.reshape(-1).to(t.dtype)
        rises = torch.cat([flat[1:] - flat[:-1], flat.new_zeros(1)])
        rise = rises.take(index)
        ctx.save_for_backward(index, frac, rise)
        ctx.shape = potentials.shape
        return flat.take(index) + frac * rise

    @staticmethod
    def backward(ctx, grad):
        index, frac, rise = ctx.saved_tensors
        grad_t = grad * rise if ctx.needs_input_grad[0] else None
        grad_p = None
        if ctx.needs_input_grad[1]:
            grad_p = _soft_counts(index, frac, ctx.shape.numel(), grad).view(ctx.shape)
        return grad_t, grad_p, None, None


@register("frame", reads=())
def build_frame(cfg: ModelConfig, data_shape: tuple[int, ...]) -> nn.Module:
    """The FRAME energy (method ``frame`` sets its bank and bins from its own knobs)."""
    if len(data_shape) != 3:
        raise ConfigError(f"model 'frame' needs (C, H, W) images, got items of shape {data_shape}")
    return FrameEnergy(data_shape[0])
