"""A noise-level-conditioned ConvNet ``f_θ(y, t)`` for diffusion recovery likelihood.

The Generative ConvNet (:mod:`ebm_engine.models.convnet`) with a learned
per-level bias added after every convolution and a per-level read-out bias,
so one network serves all ``T`` conditional EBMs (Gao et al., ICLR 2021,
share one network across noise levels the same way, with a time embedding).
With ``level_scales`` each level also scales every channel, ``conv(h) · (1 +
γ_t) + β_t`` (FiLM): a bias alone shifts the same features, while the noisy
levels, which draw a whole digit from faint strokes, and the clean ones, which
sharpen, want different features.
Not registered as a model: it takes the level ``t`` as a second input.
"""

from __future__ import annotations

import torch
from torch import nn

from ebm_engine.models.layers import maybe_sn


class TimeConditionedConvNet(nn.Module):
    """``(B, C, H, W)`` images and ``(B,)`` integer levels → ``(B,)``.

    Parameters
    ----------
    channels, size : int
        Image channels and side (4..128).
    levels : int
        Number of noise levels ``T``.
    width, depth : int
        Base channel count and number of strided blocks.
    spectral_norm : bool
        Spectral normalisation on the convolutions and the read-out.
    slope : float
        LeakyReLU slope.
    level_scales : bool
        Per-level channel scales beside the per-level biases (FiLM).
    """

    def __init__(self, channels: int, size: int, levels: int, width: int = 32, depth: int = 3,
                 spectral_norm: bool = False, slope: float = 0.2, level_scales: bool = False):
        super().__init__()
        convs: list[nn.Module] = [maybe_sn(nn.Conv2d(channels, width, 3, 1, 1), spectral_norm)]
        embeds: list[nn.Module] = [nn.Embedding(levels, width)]
        ch, res = width, size
        for _ in range(depth):
            out = min(ch * 2, width * 8)
            stride = 2 if res > 4 else 1
            convs.append(maybe_sn(nn.Conv2d(ch, out, 4 if stride == 2 else 3, stride, 1), spectral_norm))
            embeds.append(nn.Embedding(levels, out))
            ch, res = out, res // stride
        self.convs = nn.ModuleList(convs)
        self.embeds = nn.ModuleList(embeds)
        for emb in self.embeds:
            nn.init.zeros_(emb.weight)  # start as the unconditioned ConvNet
        self.scales = None
        if level_scales:
            self.scales = nn.ModuleList(nn.Embedding(levels, e.embedding_dim) for e in embeds)
            for scale in self.scales:
                nn.init.zeros_(scale.weight)  # γ_t = 0: scale 1 at every level
        self.act = nn.LeakyReLU(slope)
        self.readout = maybe_sn(nn.Linear(ch * res * res, 1), spectral_norm)
        self.level_bias = nn.Embedding(levels, 1)
        nn.init.zeros_(self.level_bias.weight)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h = x
        for i, (conv, emb) in enumerate(zip(self.convs, self.embeds)):
            z = conv(h)
            if self.scales is not None:
                z = z * (1 + self.scales[i](t)[:, :, None, None])
            h = self.act(z + emb(t)[:, :, None, None])
        return self.readout(h.flatten(1)).squeeze(1) + self.level_bias(t).squeeze(1)
