"""The status bar: state, device, iteration / target, it/s, ETA, the latest warning and the
run folder."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QStatusBar

from app.views import steady_label
from ebm_engine.learning.events import RunStarted

FIELDS = ("state", "device", "iteration", "its", "eta", "warning", "run")
WARNING_CHARS = 70  # the bar shows this much of a warning; its tooltip and the log the rest


def eta_text(iteration: int, target: int, its: float) -> str:
    """``ETA m:ss`` (or ``h:mm:ss``) for the iterations left at ``its`` per second."""
    if its <= 0 or target <= iteration:
        return ""
    seconds = int((target - iteration) / its)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"ETA {h}:{m:02d}:{s:02d}" if h else f"ETA {m}:{s:02d}"


class RunStatus:
    """Permanent labels in a window's status bar, fed with the controller's events.

    ``labels[name]`` for ``name`` in :data:`FIELDS` (tests read them).
    """

    def __init__(self, bar: QStatusBar):
        self.labels: dict[str, QLabel] = {}
        for name in FIELDS:
            # the run folder and the warning may be long: cut with "…", never widening the window
            label = steady_label() if name in ("run", "warning") else QLabel("")
            label.setObjectName(f"status_{name}")
            self.labels[name] = label
            bar.addPermanentWidget(label, {"run": 3, "warning": 2}.get(name, 0))
        self.labels["warning"].setStyleSheet("color: #f9ab00")
        self.labels["warning"].setTextFormat(Qt.TextFormat.PlainText)
        self.warnings: list[str] = []
        self.target = 0
        self.state = "idle"
        self.clear()

    def clear(self) -> None:
        """Forget the run: nothing but ``device: –`` is shown."""
        self.target = 0
        self.warnings = []
        for label in self.labels.values():
            label.setText("")
            label.setToolTip("")
        self.labels["device"].setText("device: –")

    def set_state(self, state: str) -> None:
        self.state = state
        label = self.labels["state"]
        if not label.text().startswith(state):  # keep "finished (stopped)"
            label.setText("" if state == "idle" else state)
        if state != "running":
            self.labels["eta"].setText("")  # back with the next rows after Resume

    def run_started(self, ev: RunStarted) -> None:
        self.target = ev.target
        self.labels["device"].setText(f"device: {ev.device}")
        # the folder's name (it says the time and the data); the whole path in the tooltip
        self.labels["run"].setText(f"run: {Path(ev.run_dir).name}" if ev.run_dir else "")
        self.labels["run"].setToolTip(ev.run_dir)
        self.show_iteration(ev.iteration)

    def warned(self, message: str) -> None:
        """Show the run's latest warning (cut short; whole in the tooltip) and how many."""
        self.warnings.append(message)
        short = (message if len(message) <= WARNING_CHARS
                 else message[:WARNING_CHARS].rsplit(" ", 1)[0] + " …")
        count = f"({len(self.warnings)}) " if len(self.warnings) > 1 else ""
        self.labels["warning"].setText(f"⚠ {count}{short}")
        self.labels["warning"].setToolTip("\n\n".join(self.warnings[-5:]) + "\n\n(all in the Log tab)")

    def show_iteration(self, iteration: int) -> None:
        target = f" / {self.target}" if self.target else ""
        self.labels["iteration"].setText(f"iteration {iteration}{target}")

    def metrics(self, rows: list[dict]) -> None:
        last = rows[-1]
        it = int(last.get("iteration", 0))
        its = float(last.get("its", 0.0) or 0.0)
        self.show_iteration(it)
        self.labels["its"].setText(f"{its:.1f} it/s")
        # rows drawn after a pause (the pacer may hold them a frame) bring no ETA
        self.labels["eta"].setText(eta_text(it, self.target, its) if self.state == "running" else "")

    def finished(self, iteration: int, reason: str) -> None:
        """The run ended: no ETA, and why it ended."""
        self.show_iteration(iteration)
        self.labels["eta"].setText("")
        self.labels["state"].setText("finished" if reason == "completed" else f"finished ({reason})")
