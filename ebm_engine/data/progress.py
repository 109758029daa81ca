"""Progress of a long decode: a bar on stderr once it has taken long enough to matter.

Readers say how many files they will decode (:func:`expect`) and tick each
one off (:func:`advance`); both are no-ops outside a :func:`decoding`
block, so a reader called directly (tests, the app's preview) stays quiet.
:func:`ebm_engine.data.load_dataset` opens the block. The cache also hooks
its lock's heartbeat here, so a process waiting for another one's build can
tell a slow build from a dead one.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

# A decode shorter than this shows nothing: a bar that flashes for half a
# second is noise in a log.
SHOW_AFTER_SECONDS = 2.0

# The heartbeat runs at most this often (it touches a file).
HEARTBEAT_SECONDS = 5.0


class _Progress:
    """One decode: a counter, a lazily created tqdm bar and a heartbeat."""

    def __init__(self, what: str, heartbeat: Callable[[], None] | None, show: bool):
        self.what = what
        self.heartbeat = heartbeat
        self.show = show
        self.total: int | None = None
        self.done = 0
        self.started = time.monotonic()
        self.last_beat = self.started
        self.bar: Any = None

    def advance(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.heartbeat is not None and now - self.last_beat >= HEARTBEAT_SECONDS:
            self.last_beat = now
            self.heartbeat()
        if self.bar is None and self.show and now - self.started >= SHOW_AFTER_SECONDS:
            from tqdm import tqdm

            # A log file (not a terminal) gets a line every 10 s, not ten a second.
            every = 0.1 if sys.stderr.isatty() else 10.0
            self.bar = tqdm(total=self.total, initial=self.done, desc=self.what, unit="file",
                            file=sys.stderr, dynamic_ncols=True, leave=False, mininterval=every)
        elif self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            elapsed = time.monotonic() - self.started
            sys.stderr.write(f"{self.what}: {self.done} files in {elapsed:.0f} s\n")


_current: contextvars.ContextVar[_Progress | None] = contextvars.ContextVar(
    "ebm_decode_progress", default=None)


@contextlib.contextmanager
def decoding(what: str, heartbeat: Callable[[], None] | None = None,
             show: bool = True) -> Iterator[None]:
    """Report the decoding done inside this block.

    Parameters
    ----------
    what : str
        The bar's label (``decoding /data/celeba``).
    heartbeat : callable, optional
        Called every :data:`HEARTBEAT_SECONDS` while files are decoded.
    show : bool
        Whether a bar may appear (off on all but one process of a job).
    """
    progress = _Progress(what, heartbeat, show)
    token = _current.set(progress)
    try:
        yield
    finally:
        _current.reset(token)
        progress.close()


def expect(total: int) -> None:
    """The number of files the current decode will read."""
    progress = _current.get()
    if progress is not None:
        progress.total = total
        if progress.bar is not None:
            progress.bar.total = total


def advance(n: int = 1) -> None:
    """``n`` more files decoded."""
    progress = _current.get()
    if progress is not None:
        progress.advance(n)


def is_first_rank() -> bool:
    """Whether this process is the one of a ``torchrun`` job (or alone) that speaks."""
    return os.environ.get("RANK", "0") in ("", "0")
