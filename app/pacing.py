"""Adaptive frame rate: space redraws so drawing takes a bounded share of wall time.

The GUI thread shares the machine (and Python's GIL) with the training
worker: every millisecond it spends drawing is a millisecond the worker may
wait. A :class:`FramePacer` is told how long each draw took and answers
whether the next one is due, so that ``draw time ÷ interval`` stays at or
under its ``budget`` (5 % for the sample views, 2 % for the curves: a cheap
image grid redraws up to 30 times a second, 16 software-rendered 3D cells
about once a second). Live views draw the *latest* data when due; nothing
queues up behind a slow draw.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

SAMPLES_BUDGET = 0.05  # sample view, extras and film strip: share of wall time
CURVES_BUDGET = 0.02  # the four training curves


class FramePacer:
    """Decide when the next redraw is due from the measured cost of the last ones.

    Parameters
    ----------
    budget : float
        Largest share of wall time drawing may take (0.05 = 5 %).
    min_interval, max_interval : float
        Bounds of the interval between draws, in seconds: at most ``1 /
        min_interval`` draws per second however cheap they are, and at least
        one every ``max_interval`` however slow (the user still sees progress).
    clock : callable
        Seconds, monotonic (tests pass a fake one).

    Notes
    -----
    The draw cost is tracked asymmetrically: a draw slower than the estimate
    becomes the estimate at once (a stall is what the budget prevents), cheaper
    draws lower it gradually (a single fast frame is no proof the next is cheap).
    """

    FALL = 0.2  # weight of a draw faster than the estimate

    def __init__(self, budget: float = SAMPLES_BUDGET, min_interval: float = 1 / 30,
                 max_interval: float = 2.0, clock: Callable[[], float] = time.perf_counter):
        if not 0 < budget <= 1:
            raise ValueError(f"budget must be in (0, 1], got {budget}")
        self.budget = budget
        self.min_interval = min_interval
        self.max_interval = max_interval
        self.clock = clock
        self.cost = 0.0  # smoothed seconds per draw
        self.draws = 0
        self._last_start = -math.inf

    @property
    def interval(self) -> float:
        """Seconds between the starts of two draws: ``cost / budget``, within the bounds."""
        return min(max(self.cost / self.budget, self.min_interval), self.max_interval)

    def due(self, now: float | None = None) -> bool:
        """True if a draw started now would keep drawing within the budget."""
        now = self.clock() if now is None else now
        return now - self._last_start >= self.interval

    def wait(self, now: float | None = None) -> float:
        """Seconds until the next draw is due (0 if it is)."""
        now = self.clock() if now is None else now
        return max(0.0, self._last_start + self.interval - now)

    def drawn(self, seconds: float, started: float | None = None) -> None:
        """Record a draw that took ``seconds`` (and started at ``started``; default: now − seconds)."""
        seconds = max(0.0, float(seconds))
        self._last_start = (self.clock() - seconds) if started is None else started
        if self.draws == 0 or seconds > self.cost:
            self.cost = seconds
        else:
            self.cost += self.FALL * (seconds - self.cost)
        self.draws += 1

    def reset(self) -> None:
        """Make the next draw due at once (a new run's first frame); the cost estimate stays."""
        self._last_start = -math.inf
