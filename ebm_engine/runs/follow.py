"""Follow a run folder that another process (CLI, cluster job) is still writing.

:class:`RunFollower` is polled (the app drives it from a timer); each
:meth:`RunFollower.poll` returns only what is new since the last call:

- metrics rows appended to ``metrics.csv`` (same rules as
  :func:`~ebm_engine.runs.rundir.parse_metrics`: a torn last line waits for
  the next poll; a file that shrank — a resumed run rewrote it — is re-read);
- ``samples/latest.npz`` when its modification time changed;
- new lines of ``events.jsonl``.

:meth:`RunFollower.events` turns the same poll into the typed events a live
training yields (:mod:`ebm_engine.learning.events`), so whatever consumes a
live run also follows one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ebm_engine.errors import CheckpointError
from ebm_engine.learning.events import (
    Checkpointed,
    Diverged,
    Event,
    Finished,
    KnobApplied,
    Rewound,
    RolledBack,
    SamplesReady,
    TargetSet,
    TrainStep,
    Warned,
)
from ebm_engine.runs.rundir import RunDir, parse_metrics

# events.jsonl lines that say a run goes on after an earlier "finished"
GOES_ON = ("resumed", "rollback")


@dataclass
class FollowUpdate:
    """What changed since the previous poll.

    ``reset`` is true when ``metrics.csv`` was rewritten and ``rows`` holds
    the whole file again (drop what you had).
    """

    rows: list[dict[str, float]] = field(default_factory=list)
    samples: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    reset: bool = False

    def __bool__(self) -> bool:
        return bool(self.rows or self.samples is not None or self.events or self.reset)


class RunFollower:
    """Incremental reader of one run folder.

    Parameters
    ----------
    path : path
        A run folder (must hold ``config.json``).
    """

    def __init__(self, path: str | Path):
        self.run = RunDir(path)
        if not self.run.exists():
            raise CheckpointError(f"{self.run.path}: not a run folder (no config.json)")
        self._metrics_pos = 0
        self._header: str | None = None
        self._events_pos = 0
        self._samples_mtime: int | None = None
        self.went_on = False  # the latest poll read a line saying the run goes on (GOES_ON)

    @property
    def path(self) -> Path:
        return self.run.path

    def poll(self) -> FollowUpdate:
        """Read what is new; never raises on a half-written file."""
        update = FollowUpdate()
        self._poll_metrics(update)
        self._poll_samples(update)
        self._poll_events(update)
        return update

    def events(self) -> list[Event]:
        """What is new, as typed events: metrics, the latest samples, then log lines
        (a ``Finished`` comes last: the run wrote it after everything else)."""
        update = self.poll()
        out: list[Event] = []
        if update.reset:
            out.append(Rewound(0))
        for row in update.rows:
            row = dict(row)
            it, wall = int(row.pop("iteration", 0)), float(row.pop("wall_time", 0.0))
            out.append(TrainStep(it, wall, row))
        s = update.samples
        if s is not None:
            out.append(SamplesReady(int(s["iteration"]), s["kind"], s["value_range"], s["samples"],
                                    s["energy"], extras=dict(s.get("display", {})),
                                    origin="follow"))
        # A run stopped and resumed (each job of a cluster chain) has "finished" lines
        # in its history: only one after the last "resumed" ends the run.
        again = max((i for i, ev in enumerate(update.events) if ev.get("event") in GOES_ON),
                    default=-1)
        self.went_on = again >= 0
        for i, ev in enumerate(update.events):
            event = _typed(ev)
            if event is not None and not (isinstance(event, Finished) and i < again):
                out.append(event)
        return out

    def _poll_metrics(self, update: FollowUpdate) -> None:
        path = self.run.metrics_path
        try:
            size = path.stat().st_size
        except OSError:
            return
        if size < self._metrics_pos:
            self._metrics_pos, self._header, update.reset = 0, None, True
        if size == self._metrics_pos:
            return
        with open(path, "rb") as fh:
            fh.seek(self._metrics_pos)
            chunk = fh.read(size - self._metrics_pos)
        end = chunk.rfind(b"\n")
        if end < 0:
            return  # nothing complete yet
        text = chunk[: end + 1].decode("utf-8", errors="replace")
        self._metrics_pos += end + 1
        if self._header is None:
            header, _, text = text.partition("\n")
            self._header = header + "\n"
        update.rows.extend(parse_metrics(self._header + text))

    def _poll_samples(self, update: FollowUpdate) -> None:
        path = self.run.samples / "latest.npz"
        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError:
            return
        if mtime == self._samples_mtime:
            return
        try:
            update.samples = self.run.read_samples()
        except (OSError, ValueError, KeyError):
            return  # replaced while reading; next poll
        self._samples_mtime = mtime

    def _poll_events(self, update: FollowUpdate) -> None:
        path = self.run.events_path
        try:
            size = path.stat().st_size
        except OSError:
            return
        if size < self._events_pos:
            self._events_pos = 0
        if size == self._events_pos:
            return
        with open(path, "rb") as fh:
            fh.seek(self._events_pos)
            chunk = fh.read(size - self._events_pos)
        end = chunk.rfind(b"\n")
        if end < 0:
            return
        self._events_pos += end + 1
        for line in chunk[: end + 1].decode("utf-8", errors="replace").splitlines():
            try:
                update.events.append(json.loads(line))
            except json.JSONDecodeError:
                continue


def _typed(ev: dict[str, Any]) -> Event | None:
    """One ``events.jsonl`` line as an event (``None`` for kinds followers ignore)."""
    kind = ev.get("event")
    it = int(ev.get("iteration", 0) or 0)
    if kind == "knob":
        return KnobApplied(it, str(ev.get("key")), ev.get("old"), ev.get("new"))
    if kind == "diverged":
        return Diverged(it, str(ev.get("message", "")))
    if kind == "rollback":
        changes = {k: ev[k] for k in ("lr", "n_steps", "step_size") if isinstance(ev.get(k), list)}
        return RolledBack(it, int(ev.get("diverged_at", it) or it), str(ev.get("reason", "")), changes)
    if kind == "checkpoint":
        return Checkpointed(it, str(ev.get("path", "")))
    if kind == "warning":
        return Warned(it, str(ev.get("message", "")))
    if kind == "finished":
        return Finished(it, str(ev.get("reason", "completed")))
    if kind == "target":
        return TargetSet(it, int(ev.get("target", 0) or 0))
    return None
