"""How many samples "Sample only" and "Load pretrained" draw: as many as the view shows.

A 3D or video view shows 16 samples; drawing 64 point clouds or clips for it took
four times as long before anything appeared. The data kind is read from the
checkpoint's ``state.json`` (no weights are loaded for it).
"""

from __future__ import annotations

import json
from pathlib import Path

from app.views.registry import view_class

DEFAULT = 64
"""Samples drawn for views that show them all (image grids, 2D points, text)."""


def checkpoint_kind(path: str | Path) -> str | None:
    """The data kind of the run or checkpoint folder ``path`` (``None`` if unreadable)."""
    from ebm_engine.runs.rundir import RunDir

    folder = Path(path)
    if not (folder / "state.json").is_file():
        folder = RunDir(folder).latest_checkpoint()
    try:
        return str(json.loads((folder / "state.json").read_text(encoding="utf-8"))["data"]["kind"])
    except (OSError, TypeError, KeyError, ValueError):  # the loader will say what is wrong
        return None


def samples_to_draw(path: str | Path) -> int:
    """Samples to draw from ``path`` for its view: at most :data:`DEFAULT`."""
    kind = checkpoint_kind(path)
    shown = getattr(view_class(kind), "max_samples", None) if kind else None
    return min(DEFAULT, shown) if shown else DEFAULT
