"""Stop requests that reach inside a Langevin chain.

A chain of 10⁶ steps must stop within a couple of seconds when the user
presses Stop, closes the window, or the cluster sends SIGTERM. The trainer
(or a sampling session) installs its stop flag for the current thread with
:func:`stop_on`; every Langevin step calls :func:`check`, which raises
:class:`Interrupted` once the flag is set. The caller discards the
interrupted iteration: nothing it prepared is applied.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

_local = threading.local()


class Interrupted(Exception):
    """A stop was requested in the middle of a chain."""


@contextlib.contextmanager
def stop_on(flag: threading.Event | None) -> Iterator[None]:
    """Make :func:`check` raise :class:`Interrupted` in this thread once ``flag`` is set."""
    previous = getattr(_local, "flag", None)
    _local.flag = flag
    try:
        yield
    finally:
        _local.flag = previous


def check() -> None:
    """Raise :class:`Interrupted` if this thread's stop flag is set (cheap: one lookup)."""
    flag = getattr(_local, "flag", None)
    if flag is not None and flag.is_set():
        raise Interrupted
