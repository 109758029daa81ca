"""The training data of a demo as a snapshot, shown before a run starts.

:func:`preview_events` is a generator like the session's, so the controller
runs it on its worker (loading ``digits`` takes about a second).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.views.trajectory_view import MAX_CELLS
from ebm_engine.config import RunConfig
from ebm_engine.data.training_points import DATA_POINTS_SHOWN
from ebm_engine.learning.events import SamplesReady, Warned

SHOWN = 64  # items of image-like data shown (the size of a sample grid)
# Kinds whose view draws fewer cells: as many items, spread over the whole data set (the
# first 16 of 64 spread items were one domain of a translation's two)
SHOWN_BY_KIND = {"trajectory": MAX_CELLS}


def preview_snapshot(cfg: RunConfig, notes: list[str] | None = None) -> SamplesReady:
    """Up to 64 items of ``cfg.data`` (2D points: up to 1500, drawn as data points).

    The snapshot has no energies (nothing is trained yet) and ``origin="preview"``.
    ``notes`` gets what the user should know about the data read, e.g. the
    unreadable pictures left out (said also when the data came from the cache).
    """
    from ebm_engine.data import load_dataset

    data = load_dataset(cfg.data)
    skipped = data.meta.get("skipped") or []
    if notes is not None and skipped and data.kind == "image":
        first = Path(str(skipped[0])).name
        notes.append(f"{cfg.data.source}: left out {len(skipped)} unreadable "
                     f"picture{'s' if len(skipped) > 1 else ''} ({first}"
                     f"{' …' if len(skipped) > 1 else ''}); {len(data)} read")
    n = len(data)
    none = np.empty(0, np.float32)
    if data.kind == "points" and tuple(data.item_shape) == (2,):
        step = -(-n // DATA_POINTS_SHOWN)  # every step-th point: at most DATA_POINTS_SHOWN
        points = data.take(slice(None, None, step)).numpy()
        return SamplesReady(0, data.kind, data.value_range, np.empty((0, 2), np.float32), none,
                            data_points=points, origin="preview")
    # evenly spread over the data set, so a sorted folder shows its variety; only
    # these items are decoded (a large folder stays 8-bit / memory-mapped)
    shown = SHOWN_BY_KIND.get(data.kind, SHOWN)
    index = np.unique(np.linspace(0, n - 1, min(n, shown)).astype(int))
    from ebm_engine.data.molecules import property_extras
    from ebm_engine.data.scenes import condition_rows
    from ebm_engine.methods.base import DataSpec

    # Text and molecules: the vocabulary that decodes the ids rides along;
    # trajectories: each item's scene (or observed past).
    extras = {**DataSpec.of(data).display_extras(), **condition_rows(data.meta, index)}
    extras.update(property_extras(data))  # molecules: the whole data's property histograms
    items = data.take(index).numpy()
    scene = data.meta.get("scene") or {}
    if data.kind == "trajectory" and "observed" in extras and len(scene.get("obstacles", ())):
        # the plaza's pillars, as the predictions are drawn (the walkers go round them)
        from ebm_engine.methods.lbebm import prediction_display

        extras["scenes"] = prediction_display(extras["observed"], items,
                                              np.asarray(scene["obstacles"]))["scenes"]
    return SamplesReady(0, data.kind, data.value_range, items, none,
                        extras=extras, origin="preview")


@dataclass(frozen=True)
class PreviewFailed:
    """A user's data could not be previewed: the view says why instead of a dialog."""

    message: str


def preview_events(cfg: RunConfig, quiet: bool = False
                   ) -> Iterator[SamplesReady | PreviewFailed | Warned]:
    """Yield the one preview snapshot of ``cfg``'s data (after a :class:`Warned` for each
    note on the data, e.g. unreadable pictures left out).

    ``quiet``: data that cannot be read yields a :class:`PreviewFailed` instead of
    an error (a user's folder: choosing it should not raise a dialog, but the
    view must not say "loading its data…" for ever either).
    """
    from ebm_engine.errors import EBMError

    notes: list[str] = []
    try:
        snap = preview_snapshot(cfg, notes)
    except EBMError as exc:
        if not quiet:
            raise
        yield PreviewFailed(str(exc))
        return
    for note in notes:
        yield Warned(0, note, note=True)  # logged; not a training warning
    yield snap
