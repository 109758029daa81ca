"""Feature-contrast planes of a scene (the front end of Itti, Koch & Niebur, "A model of
saliency-based visual attention for rapid scene analysis", PAMI 1998), for pop-out saliency.

An item pops out when one of its features differs from the scene's other
items. Three fixed (unlearned) feature maps are computed on the scene's
foreground (pixels brighter than the background), pooled over an item's
extent, and each compared with its foreground mean over the whole scene:

- **colour**: chromaticity ``rgb / (r + g + b)``;
- **orientation**: the doubled-angle structure tensor
  ``(Jxx − Jyy, 2 Jxy) / (Jxx + Jyy)`` of the luminance gradient (0° and 90°,
  45° and 135° bars map to opposite vectors);
- **size**: local foreground mass.

Each contrast plane is the squared distance of the pixel's pooled feature
to the scene mean, on the foreground, in units of a typical odd item's
(clamped). A learned network could in principle find these comparisons
from pixels and scene means, but in a short training it only finds the
local one (size); given the planes, both of its networks pick out colour
and orientation odd items too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

PLANES = 3  # colour, orientation, size
POOL = 5  # px: about one bar's length
# Squared feature distances of a typical odd item (a fraction of the 32x32 pop-out scenes'
# median peak), so each plane is ~1 on an odd item and ~0 elsewhere.
SCALES = (0.03, 0.4, 0.05)
CLAMP = 4.0


def _pool(x: torch.Tensor, k: int) -> torch.Tensor:
    return F.avg_pool2d(x, k, 1, k // 2, count_include_pad=False)


def feature_contrast(picture: torch.Tensor, background: float = 0.12) -> torch.Tensor:
    """``(B, 3, H, W)`` contrast planes in ``[-1, 1]`` of RGB pictures ``(B, 3, H, W)`` in ``[-1, 1]``.

    ``background``: the scene's background level in ``[0, 1]`` (below it: not an item).
    """
    c = ((picture[:, :3].float() + 1) / 2).clamp(0, 1)
    fg = ((c.amax(1, keepdim=True) - background).clamp(min=0) / (1 - background))
    lum = c.mean(1, keepdim=True)
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]],
                         device=c.device) / 8
    gx = F.conv2d(lum, sobel[None, None], padding=1)
    gy = F.conv2d(lum, sobel.t()[None, None], padding=1)
    jxx, jyy, jxy = _pool(gx * gx, POOL), _pool(gy * gy, POOL), _pool(gx * gy, POOL)
    mass = _pool(fg, POOL)
    features = (
        _pool(fg * c / (c.sum(1, keepdim=True) + 1e-3), POOL) / (mass + 1e-3),
        torch.cat([jxx - jyy, 2 * jxy], 1) / (jxx + jyy + 1e-4),
        _pool(fg, POOL + 2),
    )
    total = fg.sum((2, 3), keepdim=True) + 1e-6
    planes = []
    for f, scale in zip(features, SCALES, strict=True):
        mean = (fg * f).sum((2, 3), keepdim=True) / total
        d = (f - mean).pow(2).sum(1, keepdim=True) * mass / scale
        planes.append(d.clamp(0, CLAMP) / CLAMP * 2 - 1)
    return torch.cat(planes, 1).to(picture.dtype)
