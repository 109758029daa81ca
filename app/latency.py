"""A probe of the GUI event loop's latency (used by tests and ``benchmarks/gui_latency.py``).

A precise timer asks to fire every 10 ms; its lateness (actual gap − 10 ms) is
the time the GUI thread could not react.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QElapsedTimer, QObject, Qt, QTimer

INTERVAL_MS = 10


class LatencyProbe(QObject):
    """Records how late a precise 10 ms timer fires on the GUI thread."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = INTERVAL_MS):
        super().__init__(parent)
        self.interval_ms = interval_ms
        self.lateness_ms: list[float] = []
        self._clock = QElapsedTimer()
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)
        self._last = 0

    def start(self) -> None:
        self.lateness_ms.clear()
        self._clock.start()
        self._last = self._clock.nsecsElapsed()
        self._timer.start()

    def stop(self) -> dict[str, float]:
        self._timer.stop()
        return self.summary()

    def _tick(self) -> None:
        now = self._clock.nsecsElapsed()
        self.lateness_ms.append(max(0.0, (now - self._last) / 1e6 - self.interval_ms))
        self._last = now

    def summary(self) -> dict[str, float]:
        x = np.asarray(self.lateness_ms) if self.lateness_ms else np.zeros(1)
        return {"samples": len(self.lateness_ms), "p50_ms": float(np.percentile(x, 50)),
                "p99_ms": float(np.percentile(x, 99)), "max_ms": float(x.max())}
