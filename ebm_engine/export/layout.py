"""Where several 3D samples go when they share one file, and what their own
files are called when they do not."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np


def grid_offsets(n: int, spacing: float = 2.5) -> np.ndarray:
    """Offsets ``(n, 3)`` placing ``n`` shapes of the ``[-1, 1]³`` cube on a
    square-ish grid in the ``x–y`` plane (``z`` stays up), row by row.

    ``spacing`` is the distance between neighbouring centres (> 2 leaves a gap).
    """
    cols = max(1, math.ceil(math.sqrt(n)))
    i = np.arange(n)
    return np.stack([(i % cols) * spacing, -(i // cols) * spacing, np.zeros(n)], axis=1)


def numbered_paths(path: str | Path, n: int) -> list[Path]:
    """``shapes.stl`` → ``shapes_000.stl``, ``shapes_001.stl`` … (``n`` names)."""
    path = Path(path)
    width = max(3, len(str(n - 1)))
    return [path.with_name(f"{path.stem}_{i:0{width}d}{path.suffix}") for i in range(n)]
