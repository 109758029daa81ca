"""A bottom axis whose tick labels never run together on a narrow plot.

pyqtgraph picks at least two labelled major ticks whatever the axis length; on
the curves pane's narrow plots four-digit iterations then print as
"160017001800". This axis labels only major ticks, spaced so that each label
has room, at 1, 2 or 5 × 10ᵏ.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtGui import QFontMetrics

GAP_PX = 14  # free space between two labels


def nice_step(span: float, most: int) -> float:
    """The smallest of 1, 2, 5 × 10ᵏ that cuts ``span`` into at most ``most`` steps.

    Parameters
    ----------
    span : float
        Width of the visible range (> 0).
    most : int
        How many labelled steps fit.

    Returns
    -------
    float
        The step.

    Examples
    --------
    >>> nice_step(300, 2)
    200.0
    """
    raw = span / max(most, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return factor * power
    return 10 * power


def label_chars(low: float, high: float, step: float) -> int:
    """Characters of the longest tick label between ``low`` and ``high`` at ``step``."""
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return max(len(f"{v:.{decimals}f}") for v in (low, high))


class SpacedAxis(pg.AxisItem):
    """An :class:`pyqtgraph.AxisItem` (bottom) labelling only majors that fit."""

    def __init__(self, orientation: str = "bottom", **kwargs):
        super().__init__(orientation, **kwargs)
        # minor ticks are drawn, not labelled; a fixed text height, so that a frame without
        # room for a label does not shrink the axis to where no label fits again
        self.setStyle(maxTextLevel=0, autoExpandTextSpace=False)

    def tickSpacing(self, minVal: float, maxVal: float, size: float):  # noqa: N802, N803 (Qt)
        span = abs(maxVal - minVal)
        if span == 0 or size <= 0 or not math.isfinite(span):
            return super().tickSpacing(minVal, maxVal, size)
        digit = QFontMetrics(self.style.get("tickFont") or self.font()).horizontalAdvance("8")
        most = 10
        for _ in range(4):  # fewer labels → a coarser step → maybe shorter labels
            major = nice_step(span, most)
            room = int(size // (digit * label_chars(minVal, maxVal, major) + GAP_PX))
            if room >= most:
                break
            most = max(room, 1)
        major = nice_step(span, max(most, 2))  # two steps: at least one tick inside the span
        leading = round(major / 10.0 ** math.floor(math.log10(major)))  # 1, 2 or 5
        return [(major, 0.0), (major / (4 if leading == 2 else 5), 0.0)]
