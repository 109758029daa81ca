"""Follow a run folder that another process (CLI, cluster job) is still writing.

:class:`RunFollower` is polled (the app drives it from a timer); each
:meth:`RunFollower.poll` returns only what is new since the last call:

- metrics rows appended to ``metrics.csv`` (same rules as
  :func:`~ebm_engine.runs.rundir.parse_metrics`: a torn last line waits for
  the next poll, a malformed row is skipped). A file rewritten since the last
  poll — a resume or a rollback replaces it atomically, then appends — is
  re-read from its start: it is told by its identity (device and inode), by
  a size below what was read, or by bytes before the read offset that
  changed; its size alone misses a new file that has already grown past the
  old one;
- ``samples/latest.npz`` when its modification time changed;
- new lines of ``events.jsonl``.

:meth:`RunFollower.events` turns the same poll into the typed events a live
training yields (:mod:`ebm_engine.learning.events`), so whatever consumes a
live run also follows one.
"""

from __future__ import annotations

import json
import math
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
# The last bytes read of metrics.csv, compared at each poll: a file rewritten in place
# (or a new file that got the old one's inode back) differs there.
TAIL_BYTES = 256


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

    Raises
    ------
    CheckpointError
        ``path`` is no run folder, or a trained model that nothing trains (a zoo
        entry, a pretrained copy): a checkpoint, but neither ``metrics.csv`` nor
        ``events.jsonl``, which every training writes before it trains.
    """

    def __init__(self, path: str | Path):
        self.run = RunDir(path)
        if not self.run.exists():
            raise CheckpointError(f"{self.run.path}: not a run folder (no config.json)")
        # Said at once, not after minutes of "following iteration 0". A folder with no
        # checkpoint either may be a run still loading its data: that one is followed.
        if (not self.run.metrics_path.exists() and not self.run.events_path.exists()
                and self.run.latest_checkpoint() is not None):
            raise CheckpointError(f"{self.run.path}: a trained model with no training log "
                                  "(no metrics.csv, no events.jsonl), so nothing trains it "
                                  "and there is nothing to follow; open it to sample it or "
                                  "to train it further")
        self._metrics_pos = 0
        self._metrics_id: tuple[int, int] | None = None  # (device, inode) of the file read
        self._metrics_tail = b""  # its last bytes read (up to TAIL_BYTES), ending at _metrics_pos
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
        try:
            # identity, size and bytes from one open file: a replacement between a stat
            # and the open would otherwise be read at the old file's offset
            with open(self.run.metrics_path, "rb") as fh:
                chunk = self._read_new(fh, update)
        except OSError:
            return  # not there yet, or moved aside and not yet begun again
        end = chunk.rfind(b"\n")
        if end < 0:
            return  # nothing complete yet
        text = chunk[: end + 1].decode("utf-8", errors="replace")
        self._metrics_pos += end + 1
        self._metrics_tail = (self._metrics_tail + chunk[: end + 1])[-TAIL_BYTES:]
        if self._header is None:
            header, _, text = text.partition("\n")
            self._header = header + "\n"
        update.rows.extend(row for row in parse_metrics(self._header + text) if _whole(row))

    def _read_new(self, fh, update: FollowUpdate) -> bytes:
        """The bytes of ``fh`` past what was read; from the start (``update.reset``) if
        it is not the file read so far."""
        st = os.fstat(fh.fileno())
        ident = (st.st_dev, st.st_ino)
        if self._metrics_pos and (ident != self._metrics_id or st.st_size < self._metrics_pos
                                  or not self._same_tail(fh)):
            self._metrics_pos, self._metrics_tail, self._header = 0, b"", None
            update.reset = True
        self._metrics_id = ident
        if st.st_size <= self._metrics_pos:
            return b""
        fh.seek(self._metrics_pos)
        return fh.read(st.st_size - self._metrics_pos)

    def _same_tail(self, fh) -> bool:
        """Whether the bytes before the read offset are still those read there."""
        fh.seek(self._metrics_pos - len(self._metrics_tail))
        return fh.read(len(self._metrics_tail)) == self._metrics_tail

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
        except (OSError, ValueError, KeyError, CheckpointError):
            return  # replaced while reading (or cut short); next poll
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


def _whole(row: dict[str, float]) -> bool:
    """Whether a parsed row is one the run wrote: a row glued to a torn one, or read
    from the middle of a line, has no whole, non-negative iteration."""
    it = row.get("iteration", math.nan)
    return math.isfinite(it) and it >= 0 and it == int(it)


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
        return Finished(it, str(ev.get("reason", "completed")), str(ev.get("unsaved", "")))
    if kind == "target":
        return TargetSet(it, int(ev.get("target", 0) or 0))
    return None
