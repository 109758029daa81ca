"""Networks of supervised conditional learning (method ``conditional_coop``).

The condition ``c`` reaches both networks as image planes of the output's
size (a masked image and its mask, one-hot label planes, or a picture):

- the **fast-thinking initializer** ``y = g_α(c, z)``: a small encoder–decoder
  (U-Net) with coordinate planes and a fully connected bottleneck, where the
  noise ``z ~ N(0, I)`` enters (different ``z``, different outputs);
- the **slow-thinking solver**'s energy ``E_θ(c, y) = −f_θ([c, y])``: any
  registered energy network (``model.name``, e.g. the Generative ConvNet) on
  the condition planes stacked on the output's channels (see
  :class:`ConditionalEnergy`).

With ``context`` (pop-out saliency) both networks also see, at every
scale, the scene-wide mean of their features next to each pixel's own: an
item is salient when it differs from the others, a comparison across the
whole scene that a few local convolutions cannot make. The solver's energy
then reads the output next to a learned encoding of the condition
(:class:`ConditionEncoder`) instead of the raw condition planes.
"""

from __future__ import annotations

import torch
from torch import nn

from ebm_engine.config import ModelConfig
from ebm_engine.errors import ConfigError
from ebm_engine.models.registry import build_model


def _coords(b: int, h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    """Two planes of pixel coordinates in ``[-1, 1]`` (where things are, for a conv net)."""
    ys = torch.linspace(-1, 1, h, device=like.device, dtype=like.dtype)
    xs = torch.linspace(-1, 1, w, device=like.device, dtype=like.dtype)
    grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij"))
    return grid.expand(b, 2, h, w)


Z_PLANES = 4  # planes of z in the decoder (context initializer)


class Context(nn.Module):
    """Features ``h`` seen against the whole scene: ``[h · σ(W m + b), m]`` with ``m`` the
    mean of ``h`` over the image (broadcast to every pixel; channels doubled).

    The gate (squeeze-and-excitation, Hu et al. 2018) lets a feature that is
    common in this scene be turned down everywhere, so what stays is what is
    rare: the odd item (a product a few convolutions of ``[h, m]`` learn slowly).
    """

    def __init__(self, channels: int):
        super().__init__()
        self.gate = nn.Linear(channels, channels)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        m = h.mean((2, 3))
        s = torch.sigmoid(self.gate(m))[:, :, None, None]
        return torch.cat([h * s, m[:, :, None, None].expand_as(h)], 1)


class ConditionEncoder(nn.Module):
    """Condition planes to ``width`` feature planes of the same size (no striding, so a
    small item keeps its pixels), each layer seeing the scene-wide mean next to the pixel."""

    def __init__(self, c_channels: int, width: int):
        super().__init__()
        act = nn.LeakyReLU(0.2)
        self.l1 = nn.Sequential(nn.Conv2d(c_channels + 2, width, 3, 1, 1), act)
        self.l2 = nn.Sequential(Context(width), nn.Conv2d(2 * width, width, 3, 1, 1), act)
        self.l3 = nn.Sequential(Context(width), nn.Conv2d(2 * width, width, 3, 1, 2, dilation=2), act)
        self.l4 = nn.Sequential(Context(width), nn.Conv2d(2 * width, width, 1))

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        b, _, h, w = c.shape
        x = self.l1(torch.cat([c, _coords(b, h, w, c)], 1))
        return self.l4(self.l3(self.l2(x)))


class ConditionalInitializer(nn.Module):
    """``g_α(c, z)``: condition planes ``(B, c_channels, S, S)`` and ``z (B, z_dim)``
    to an output ``(B, y_channels, S, S)`` in ``[-1, 1]`` (tanh; linear with ``context``).

    Encoder at ``S``, ``S/2``, ``S/4``; the bottleneck is flattened, joined
    with ``z`` and mapped back through a hidden layer (global structure: a
    label's digit has to be drawn from constant planes); the decoder gets the
    encoder's features at each scale (skips keep the visible pixels sharp).
    With ``context`` every encoder stage and the decoder's first also see
    the scene-wide mean of the previous stage's features (:class:`Context`),
    and ``z`` also enters the decoder as ``Z_PLANES`` planes at ``S/4`` (a
    linear map of ``z``): from the start each ``z`` favours other places, so
    inferring ``z`` (``data_weight``) tells answers apart at once, where 8
    numbers among the bottleneck's thousands are first ignored.
    """

    def __init__(self, c_channels: int, y_channels: int, size: int, z_dim: int,
                 width: int = 32, hidden: int = 256, context: bool = False):
        super().__init__()
        if size % 4 or size < 8:
            raise ConfigError(f"the initializer needs an output side divisible by 4 and >= 8, got {size}")
        w = width
        act = nn.LeakyReLU(0.2)
        self.z_dim, self.bottom = z_dim, size // 4
        k = 2 if context else 1  # context doubles a stage's input channels
        self.e1 = nn.Sequential(nn.Conv2d(c_channels + 2, w, 3, 1, 1), act)
        self.c1, self.c2, self.c3 = ((Context(w), Context(2 * w), Context(4 * w)) if context
                                     else (nn.Identity(), nn.Identity(), nn.Identity()))
        self.e2 = nn.Sequential(nn.Conv2d(k * w, 2 * w, 4, 2, 1), act)
        self.e3 = nn.Sequential(nn.Conv2d(k * 2 * w, 4 * w, 4, 2, 1), act)
        flat = 4 * w * self.bottom**2
        self.fc = nn.Sequential(nn.Linear(flat + z_dim, hidden), act, nn.Linear(hidden, flat), act)
        zp = Z_PLANES if context else 0
        self.zmap = nn.Linear(z_dim, zp * self.bottom**2) if context else None
        self.d3 = nn.Sequential(nn.ConvTranspose2d((k + 1) * 4 * w + zp, 2 * w, 4, 2, 1), act)
        self.d2 = nn.Sequential(nn.ConvTranspose2d(4 * w, w, 4, 2, 1), act)
        # A pop-out map is -1 nearly everywhere: a tanh there saturates for good after one
        # large step (then nothing learns); the context initializer stays linear (the
        # solver and the metrics clamp to the value range).
        self.out = nn.Sequential(nn.Conv2d(2 * w, y_channels, 3, 1, 1),
                                 nn.Identity() if context else nn.Tanh())

    def forward(self, c: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        b, _, h, w = c.shape
        h1 = self.e1(torch.cat([c, _coords(b, h, w, c)], 1))
        h2 = self.e2(self.c1(h1))
        h3 = self.e3(self.c2(h2))
        g = self.fc(torch.cat([h3.flatten(1), z], 1)).view_as(h3)
        parts = [self.c3(h3), g]
        if self.zmap is not None:
            parts.append(self.zmap(z).view(b, Z_PLANES, self.bottom, self.bottom))
        u2 = self.d3(torch.cat(parts, 1))
        u1 = self.d2(torch.cat([h2, u2], 1))
        return self.out(torch.cat([h1, u1], 1))


class ConditionalEnergy(nn.Module):
    """``f_θ(c, y)``: an energy network on ``[c, y]`` stacked along channels.

    With ``encoder`` > 0 the condition first goes through a
    :class:`ConditionEncoder` of that width (the body reads its planes, not
    the raw condition). Chains of a subset of the batch (recorded frames) use
    the first rows of ``c``.
    """

    def __init__(self, cfg: ModelConfig, c_channels: int, y_shape: tuple[int, ...],
                 encoder: int = 0):
        super().__init__()
        self.encoder = ConditionEncoder(c_channels, encoder) if encoder else None
        planes = encoder or c_channels
        self.body = build_model(cfg, (planes + y_shape[0], *y_shape[1:]))

    def forward(self, c: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        c = c[: y.shape[0]].to(y.dtype)
        if self.encoder is not None:
            c = self.encoder(c)
        return self.body(torch.cat([c, y], 1))
