"""Spatial-temporal Generative ConvNet (Xie, Zhu & Wu, CVPR 2017) for videos.

The model of a dynamic texture is an exponential tilting of Gaussian white
noise,

    p(V; θ) = exp(f(V; θ)) q(V) / Z(θ),    f(V; θ) = Σ_k Σ_{x,y,t} [F_k^(L) ∗ V](x, y, t),

where ``F^(L)`` are the filters of the top layer of a bottom-up ConvNet of 3D
(spatial-temporal) convolutions: the energy is a *sum over positions* of
filter responses, so the model is stationary in time (and, for textures,
in space). We keep exactly that structure:

- every conv pads time *circularly* and never strides in time, so rolling a
  clip along ``T`` rolls every feature map the same way and leaves the sum
  ``f`` unchanged (a clip is read as one period of a looping texture);
- space is padded with zeros and downsampled by strided convs;
- the read-out is a 1×1×1 conv summed over all remaining positions
  (``spatial_readout = "sum"``, spatially and temporally stationary), or a
  per-pixel linear map shared over time (``"linear"``: the paper's
  spatially fully-connected variant for textures that are stationary in
  time only, e.g. a fire in a fixed pot).

Options (``model.options``): ``leaky_slope`` (0.2), ``temporal_padding``
(``"circular"`` or ``"zeros"``), ``spatial_readout`` (``"sum"`` or
``"linear"``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ebm_engine.config import ModelConfig
from ebm_engine.errors import ConfigError
from ebm_engine.models.layers import maybe_sn, option
from ebm_engine.models.registry import register

TEMPORAL_PADDINGS = ("circular", "zeros")
SPATIAL_READOUTS = ("sum", "linear")


class SpaceTimeConv(nn.Module):
    """3D conv with its own padding: circular (or zero) in time, zero in space,
    stride 1 in time so the layer commutes with temporal shifts."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_t: int,
        kernel_s: int,
        stride_s: int,
        temporal_padding: str,
        spectral_norm: bool,
    ):
        super().__init__()
        self.conv = maybe_sn(
            nn.Conv3d(in_ch, out_ch, (kernel_t, kernel_s, kernel_s), (1, stride_s, stride_s)),
            spectral_norm,
        )
        self.pad_t = (kernel_t - 1) // 2, kernel_t // 2
        # Strided 4×4 convs with padding 1 halve even sizes exactly (as in convnet.py).
        self.pad_s = 1 if stride_s == 2 else (kernel_s - 1) // 2
        self.circular = temporal_padding == "circular"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.pad_s
        x = F.pad(x, (s, s, s, s, 0, 0))
        if self.circular:
            x = F.pad(x, (0, 0, 0, 0, *self.pad_t), mode="circular")
        else:
            x = F.pad(x, (0, 0, 0, 0, *self.pad_t))
        return self.conv(x)


class SpatialTemporalConvNet(nn.Module):
    """Descriptor net for ``(B, C, T, H, W)`` clips → ``f(V)`` of shape ``(B,)``.

    Parameters
    ----------
    channels : int
        Colour channels ``C``.
    size : tuple of int
        Frame size ``(H, W)``.
    width : int
        Channels of the first layer (doubled per block, at most ``4 · width``).
    depth : int
        Blocks after the first layer; the first layer and each block halve
        ``H`` and ``W`` until they are 4 or less.
    spectral_norm : bool
        Spectral normalisation on every weight layer.
    slope : float
        Leaky ReLU slope.
    temporal_padding : str
        ``"circular"`` (exactly shift-invariant in time) or ``"zeros"``.
    spatial_readout : str
        ``"sum"`` over all positions, or ``"linear"`` per pixel, summed over time.
    """

    def __init__(
        self,
        channels: int,
        size: tuple[int, int],
        width: int = 32,
        depth: int = 3,
        spectral_norm: bool = False,
        slope: float = 0.2,
        temporal_padding: str = "circular",
        spatial_readout: str = "sum",
    ):
        super().__init__()
        # The first layer already strides in space (as the paper's do): the
        # full-resolution activations would dominate every Langevin step.
        layers: list[nn.Module] = [
            SpaceTimeConv(channels, width, 3, 4, 2, temporal_padding, spectral_norm),
            nn.LeakyReLU(slope),
        ]
        ch, (h, w) = width, (size[0] // 2, size[1] // 2)
        for _ in range(depth):
            out = min(ch * 2, width * 4)
            stride = 2 if min(h, w) > 4 else 1
            kernel = 4 if stride == 2 else 3
            layers += [
                SpaceTimeConv(ch, out, 3, kernel, stride, temporal_padding, spectral_norm),
                nn.LeakyReLU(slope),
            ]
            ch, h, w = out, h // stride, w // stride
        self.features = nn.Sequential(*layers)
        self.spatial_readout = spatial_readout
        if spatial_readout == "sum":
            self.readout = maybe_sn(nn.Conv3d(ch, 1, 1), spectral_norm)
        else:
            # One weight per (channel, y, x), shared by every frame.
            self.readout = maybe_sn(nn.Linear(ch * h * w, 1), spectral_norm)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """Top-layer responses ``(B, K, T, H', W')``; they roll with ``x`` along ``T``."""
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.features(x)
        if self.spatial_readout == "sum":
            return self.readout(feats).sum(dim=(1, 2, 3, 4))
        per_frame = feats.permute(0, 2, 1, 3, 4).flatten(2)  # (B, T, K·H'·W')
        return self.readout(per_frame).squeeze(2).sum(1)


@register("stgconvnet", options=("leaky_slope", "temporal_padding", "spatial_readout"))
def build_stgconvnet(cfg: ModelConfig, data_shape: tuple[int, ...]) -> nn.Module:
    """Build a :class:`SpatialTemporalConvNet` for ``(C, T, H, W)`` clips."""
    if len(data_shape) != 4:
        raise ConfigError(
            f"model 'stgconvnet' needs (C, T, H, W) videos, got items of shape {data_shape}"
        )
    channels, frames, height, width = data_shape
    if frames < 2 or not (8 <= height <= 256 and 8 <= width <= 256):
        raise ConfigError(
            f"model 'stgconvnet' needs >= 2 frames of 8..256 px, got {frames} frames of {height}x{width}"
        )
    slope = option(cfg.options, "leaky_slope", 0.2, float, ge=0, le=1)
    padding = option(cfg.options, "temporal_padding", "circular", str)
    readout = option(cfg.options, "spatial_readout", "sum", str)
    if padding not in TEMPORAL_PADDINGS:
        raise ConfigError(
            f"model.options.temporal_padding must be one of {TEMPORAL_PADDINGS}, got {padding!r}"
        )
    if readout not in SPATIAL_READOUTS:
        raise ConfigError(
            f"model.options.spatial_readout must be one of {SPATIAL_READOUTS}, got {readout!r}"
        )
    return SpatialTemporalConvNet(
        channels, (height, width), cfg.width, cfg.depth, cfg.spectral_norm, slope, padding, readout
    )
