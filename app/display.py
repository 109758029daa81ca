"""Display-ready snapshots: the worker thread does the per-pixel work, the GUI thread uploads.

The engine's :class:`~ebm_engine.learning.events.SamplesReady` carries
model-space arrays. Turning them into something a screen shows (uint8 image
grids, isosurfaces, clip frames, film-strip rows) costs CPU time; done on
the GUI thread it also holds Python's GIL there, which stalls the training
worker. So the controller's worker calls :func:`prepare` on each snapshot
before queuing it: the result is a :class:`PreparedSnapshot` (still a
``SamplesReady``, so everything that reads snapshots keeps working) whose
``display`` holds each part's payload.

What a payload is belongs to the view that draws it: a view class names its
preparer (``prepare(snapshot, frame=-1)``: pure numpy or VTK data objects,
no Qt) and whether the recorded Langevin frames are prepared too
(``prepare_frames``). A view given a snapshot without a payload (a test, a
preparer that failed) computes the same payload itself, on the GUI thread,
with the same function, so both paths draw the same pixels.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ebm_engine.learning.events import SamplesReady


@dataclass(frozen=True)
class Display:
    """The display payloads of one snapshot (made on the worker thread).

    Attributes
    ----------
    digest : str
        Fingerprint of everything drawn (samples, energies, frames, extras,
        landscape; not the iteration): equal digests draw equal pixels, so an
        identical snapshot is not drawn again.
    view : object
        The sample view's payload for the final samples (``None``: the view
        has no preparer).
    frames : tuple, optional
        The view's payload for each recorded Langevin frame (``None``: made
        on demand when the scrubber asks).
    chains : dict
        Film strip: recorded chain index → its prepared strip.
    extras : dict
        Method extras: name → prepared grid (arrays that are not images are
        drawn as they are).
    """

    digest: str
    view: Any = None
    frames: tuple[Any, ...] | None = None
    chains: dict[int, Any] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PreparedSnapshot(SamplesReady):
    """A :class:`SamplesReady` with its :class:`Display` (``None`` if none was made)."""

    display: Display | None = None


def display_of(snapshot: Any) -> Display | None:
    """The snapshot's prepared display, or ``None`` (a plain ``SamplesReady``)."""
    return getattr(snapshot, "display", None)


def prepared_frame(snapshot: Any, frame: int, prepare: Callable[[Any, int], Any]) -> Any:
    """The worker's payload for ``frame`` (−1: final samples), else ``prepare(snapshot, frame)`` now."""
    display = display_of(snapshot)
    if display is not None:
        if frame < 0 and display.view is not None:
            return display.view
        if frame >= 0 and display.frames is not None and frame < len(display.frames):
            return display.frames[frame]
    return prepare(snapshot, frame)


def snapshot_digest(event: SamplesReady) -> str:
    """A fingerprint of what a snapshot draws (kind, range, arrays; not iteration or origin)."""
    h = hashlib.blake2b(digest_size=16)

    def add(value: Any) -> None:
        if value is None:
            h.update(b"-")
            return
        arr = np.ascontiguousarray(value)
        h.update(f"{arr.dtype.str}{arr.shape}".encode())
        if arr.dtype.hasobject:  # strings, vocabularies … of display extras
            h.update(repr(value).encode())
        elif arr.size:
            h.update(arr.data)

    h.update(f"{event.kind}|{event.value_range}".encode())
    add(event.samples)
    add(event.energy)
    for frame in event.frames:
        h.update(f"{frame.step}|{frame.segment}".encode())
        add(frame.x)
        add(frame.energy)
    for name in sorted(event.extras):
        h.update(name.encode())
        add(event.extras[name])
    if event.landscape is not None:
        h.update(str(event.landscape.bounds).encode())
        add(event.landscape.energy)
    add(event.data_points)
    return h.hexdigest()


def prepare(event: SamplesReady) -> SamplesReady:
    """The snapshot with its display payloads (call on the worker thread).

    A preparer that fails leaves the snapshot as it was: the view then
    draws it the old way, on the GUI thread, and reports the problem there
    instead of ending the run.
    """
    if isinstance(event, PreparedSnapshot):
        return event
    try:
        display = _display(event)
    except Exception:  # shapes a view cannot draw: the view says so when it tries
        return event
    values = {f.name: getattr(event, f.name) for f in dataclasses.fields(SamplesReady)}
    return PreparedSnapshot(**values, display=display)


def _display(event: SamplesReady) -> Display:
    from app.views.extras import prepare_extras
    from app.views.film_strip import prepare_chains
    from app.views.registry import view_class

    cls = view_class(event.kind)
    prep = getattr(cls, "prepare", None)
    view = frames = None
    if prep is not None:
        view = prep(event, -1)
        if getattr(cls, "prepare_frames", False):
            frames = tuple(prep(event, i) for i in range(len(event.frames)))
    from ebm_engine.export.samples import RAW

    beside = {k: v for k, v in event.extras.items() if k not in RAW}  # raw answers: for files
    return Display(snapshot_digest(event), view, frames, prepare_chains(event),
                   prepare_extras(beside, event.kind, event.value_range))
