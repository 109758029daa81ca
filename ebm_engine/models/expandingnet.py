"""A ConvNet that grows in input resolution, stage by stage (multi-stage expanding EBMs).

As in progressive growing (Karras et al. 2018) and the coarse-to-fine EBMs of
Zhao, Xie & Li (ICLR 2021): stage ``s`` reads ``r_s × r_s`` images through its
own 1×1 ``from_image`` layer and a block that shrinks them to ``r_{s−1}``,
then through the blocks of every earlier stage and a shared head at ``r_0``.
While a new stage fades in, its path is blended with the previous stage's
(reading the image averaged down) by ``α ∈ [0, 1]``:

    h = α · block_s(from_s(x)) + (1 − α) · from_{s−1}(avgpool(x)).

Every stage's layers exist from the start, so one state dict (and one
checkpoint layout) serves the whole schedule. Not registered as a model: it
takes the stage and ``α`` as inputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ebm_engine.models.layers import maybe_sn


class ExpandingConvNet(nn.Module):
    """``(B, C, r_s, r_s)`` images at stage ``s`` → ``(B,)``.

    Parameters
    ----------
    channels : int
        Image channels.
    resolutions : list of int
        Coarse-to-fine sides ``r_0 < r_1 < …``.
    width : int
        Feature channels throughout.
    """

    def __init__(self, channels: int, resolutions: list[int], width: int = 32,
                 spectral_norm: bool = False, slope: float = 0.2):
        super().__init__()
        self.resolutions = list(resolutions)
        self.act = nn.LeakyReLU(slope)
        self.from_image = nn.ModuleDict({
            f"r{r}": maybe_sn(nn.Conv2d(channels, width, 1), spectral_norm) for r in resolutions})
        self.blocks = nn.ModuleDict({
            f"r{r}": nn.Sequential(
                maybe_sn(nn.Conv2d(width, width, 3, 1, 1), spectral_norm), nn.LeakyReLU(slope),
                maybe_sn(nn.Conv2d(width, width, 3, 1, 1), spectral_norm), nn.LeakyReLU(slope))
            for r in resolutions[1:]})
        base = resolutions[0]
        self.head = nn.Sequential(maybe_sn(nn.Conv2d(width, width, 3, 1, 1), spectral_norm),
                                  nn.LeakyReLU(slope))
        self.readout = maybe_sn(nn.Linear(width * base * base, 1), spectral_norm)

    def _down(self, h: torch.Tensor, stage: int) -> torch.Tensor:
        """Stage ``stage``'s block: features at ``r_stage`` → ``r_{stage−1}``."""
        r, prev = self.resolutions[stage], self.resolutions[stage - 1]
        return F.adaptive_avg_pool2d(self.blocks[f"r{r}"](h), prev)

    def forward(self, x: torch.Tensor, stage: int, alpha: float = 1.0) -> torch.Tensor:
        r = self.resolutions[stage]
        h = self.act(self.from_image[f"r{r}"](x))
        if stage > 0:
            h = self._down(h, stage)
            if alpha < 1.0:
                prev = self.resolutions[stage - 1]
                skip = self.act(self.from_image[f"r{prev}"](F.adaptive_avg_pool2d(x, prev)))
                h = alpha * h + (1.0 - alpha) * skip
        for s in range(stage - 1, 0, -1):
            h = self._down(h, s)
        return self.readout(self.head(h).flatten(1)).squeeze(1)
