"""What a Learn demonstration yields: small, frozen, numpy-only pictures of a moment.

A demo (:mod:`ebm_engine.learn.demos`) is a generator of :class:`LearnFrame`.
A frame says *what* to draw, never *how*: each :class:`Plot` holds layers
(point sets, curves, a heat map over the plane) named by a ``role`` (``data``,
``samples``, ``short-run``, ``class 3`` …) that the app maps to colours. So a
view can draw any demo without knowing it, and a test can read the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Points:
    """A 2D point set, ``xy`` of shape ``(n, 2)``; ``labels`` (``(n,)`` ints) colour by class."""

    role: str
    xy: np.ndarray
    labels: np.ndarray | None = None


@dataclass(frozen=True)
class Curve:
    """A curve ``y`` against ``x`` (both ``(n,)``), e.g. a quantity against iterations."""

    role: str
    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class Heat:
    """Values on a grid over ``bounds = (xmin, xmax, ymin, ymax)``, row ``i`` at ``y_i``.

    ``kind`` is ``energy`` (lower = more probable, drawn darker) or ``classes``
    (integer class per cell; ``confidence`` in [0, 1] fades uncertain cells).
    """

    values: np.ndarray
    bounds: tuple[float, float, float, float]
    kind: str = "energy"
    confidence: np.ndarray | None = None


@dataclass(frozen=True)
class Plot:
    """One plot of a frame, at ``(row, col)`` of the demo's grid, spanning ``span`` cells.

    ``plane`` plots are square views of the 2D data plane over ``bounds``
    (``(xmin, xmax, ymin, ymax)``); the others are curves against iterations
    with axis labels.
    """

    title: str
    layers: tuple[Points | Curve | Heat, ...]
    row: int = 0
    col: int = 0
    span: tuple[int, int] = (1, 1)
    plane: bool = True
    x_label: str = ""
    y_label: str = ""
    bounds: tuple[float, float, float, float] | None = None


@dataclass(frozen=True)
class LearnFrame:
    """One moment of a demo: its plots and a one-line caption of what is happening."""

    iteration: int
    total: int
    plots: tuple[Plot, ...]
    caption: str = ""
    values: dict[str, float] = field(default_factory=dict)

    def plot(self, title: str) -> Plot:
        """The plot titled ``title`` (tests and the view look plots up by title)."""
        for p in self.plots:
            if p.title == title:
                return p
        raise KeyError(title)
