"""A slider (and play button) through the recorded Langevin steps of the latest sampling."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QWidget

from app.views import steady_label

PLAY_MS = 120


class ChainScrubber(QWidget):
    """Emits ``sigFrameChanged(index)``: a recorded frame, or ``-1`` for the final samples.

    The slider's last position is the final state; while it sits there the
    view follows live snapshots.
    """

    sigFrameChanged = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.steps: list[int] = []
        self.final_step = 0
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setToolTip("Langevin step of the latest sampling (right end = final samples)")
        self.slider.valueChanged.connect(self._changed)
        self.play = QPushButton("Play")
        self.play.setCheckable(True)
        self.play.setToolTip("Replay the chains step by step")
        self.play.toggled.connect(self._toggle)
        self.label = steady_label("no chain recorded", min_width=150)
        self._timer = QTimer(self)
        self._timer.setInterval(PLAY_MS)
        self._timer.timeout.connect(self._advance)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.play)
        layout.addWidget(QLabel("chain"))  # which Play this is, beside a video's own
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.label)

    def set_frames(self, frames, final_step: int | None = None) -> None:
        """Take a snapshot's frames; stay at the end unless the user is scrubbing."""
        at_end = self.slider.value() == self.slider.maximum()
        self.steps = [f.step for f in frames]
        self.final_step = final_step if final_step is not None else (self.steps[-1] if self.steps else 0)
        self.slider.blockSignals(True)
        self.slider.setRange(0, len(self.steps))
        if at_end and not self.play.isChecked():
            self.slider.setValue(len(self.steps))
        self.slider.blockSignals(False)
        self._update_label()

    @property
    def index(self) -> int:
        v = self.slider.value()
        return -1 if v >= len(self.steps) else v

    def _update_label(self) -> None:
        if not self.steps:
            self.label.setText("no chain recorded")
        elif self.index < 0:
            self.label.setText(f"final samples ({len(self.steps)} frames)")
        else:
            self.label.setText(f"Langevin step {self.steps[self.index]}")

    def _changed(self, _value: int) -> None:
        self._update_label()
        self.sigFrameChanged.emit(self.index)

    def _toggle(self, on: bool) -> None:
        self.play.setText("Pause" if on else "Play")
        if on:
            if self.slider.value() >= self.slider.maximum():
                self.slider.setValue(0)
            self._timer.start()
        else:
            self._timer.stop()

    def _advance(self) -> None:
        if self.slider.value() >= self.slider.maximum():
            self.play.setChecked(False)
            return
        self.slider.setValue(self.slider.value() + 1)
