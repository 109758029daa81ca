"""What ``python -m benchmarks.quality`` measured for each demo: the minutes
it takes on a 2-core CPU and the metric it reaches, shown by the catalogue and
``ebm demos`` instead of a guess (``resources/measured.json``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

from ebm_engine.resources import resources_dir

MEASURED_FILE = "measured.json"


@dataclass(frozen=True)
class Measured:
    """One demo's measurement.

    Attributes
    ----------
    minutes : float
        Training minutes of the whole preset when the run finished it; for a run the
        budget cut short, until the goal was met, or until the metric settled (within
        10 % of its final value), or the whole budget.
    metric : str
        Headline metric name (``digits_fd`` …).
    value : float
        Its value at those minutes.
    goal_met : bool
        Whether the goal of the metric (e.g. digits FD ≤ 30) was reached.
    """

    minutes: float
    metric: str
    value: float
    goal_met: bool

    def line(self) -> str:
        """Short text for the catalogue: ``digits_fd 15.2 (goal met)``."""
        return f"{self.metric} {self.value:.3g}" + (" (goal met)" if self.goal_met else "")


@lru_cache(maxsize=1)
def measurements() -> dict[str, Measured]:
    """All measurements by demo name (empty when the file is absent or unreadable)."""
    try:
        raw = json.loads((resources_dir() / MEASURED_FILE).read_text(encoding="utf-8"))
        return {name: Measured(float(m["minutes"]), str(m["metric"]), float(m["value"]),
                               bool(m["goal_met"])) for name, m in raw.items()}
    except (OSError, ValueError, KeyError, TypeError):
        return {}
