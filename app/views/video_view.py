"""Video samples: every clip plays in a loop in the image grid.

The chain scrubber (``show_frame``) picks the Langevin step; a second slider
picks the frame *within* the clips (time), and *Play* cycles through it on a
GUI-thread timer. Each frame is drawn with the image grid's renderer.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from app.views.image_grid import ImageGridWidget
from app.views.registry import register_view

FRAME_MS = 125  # 8 frames per second


@register_view("video")
class VideoView(QWidget):
    """Clips ``(N, C, T, H, W)`` in a looping grid; a time slider under it."""

    sigSampleClicked = Signal(int)
    sigTimeChanged = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.grid = ImageGridWidget(self)
        self.grid.sigTileClicked.connect(self.sigSampleClicked)
        self.play = QPushButton("⏸ Pause")
        self.play.setCheckable(True)
        self.play.setChecked(True)
        self.play.setToolTip("Play the clips in a loop")
        self.play.toggled.connect(self._toggle)
        self.time_slider = QSlider(Qt.Orientation.Horizontal)
        self.time_slider.setRange(0, 0)
        self.time_slider.setToolTip("Frame within the clips (time)")
        self.time_slider.valueChanged.connect(self._time_changed)
        self.time_label = QLabel("frame –")
        self.time_label.setMinimumWidth(90)
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.play)
        bar.addWidget(QLabel("time"))
        bar.addWidget(self.time_slider, 1)
        bar.addWidget(self.time_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.grid, 1)
        layout.addLayout(bar)
        self.timer = QTimer(self)
        self.timer.setInterval(FRAME_MS)
        self.timer.timeout.connect(self._advance)
        self.snapshot = None
        self.clips: np.ndarray | None = None
        self.frame_index = -1
        self.update_count = 0
        self.frames_drawn = 0

    # --- view interface -----------------------------------------------------------------
    def set_snapshot(self, snapshot) -> None:
        self.snapshot = snapshot
        if self.frame_index >= len(snapshot.frames):
            self.frame_index = -1
        self._pick_clips()
        self.update_count += 1

    def show_frame(self, index: int) -> None:
        """Clips at recorded Langevin step ``index`` of the first chains (``-1``: final)."""
        self.frame_index = index
        if self.snapshot is not None:
            self._pick_clips()

    # --- time -------------------------------------------------------------------------------
    @property
    def time(self) -> int:
        return self.time_slider.value()

    def _pick_clips(self) -> None:
        s = self.snapshot
        x = s.frames[self.frame_index].x if 0 <= self.frame_index < len(s.frames) else s.samples
        x = np.asarray(x)
        if x.ndim == 4:  # (N, T, H, W) grey clips without a channel axis
            x = x[:, None]
        self.clips = x
        length = x.shape[2]
        self.time_slider.blockSignals(True)
        self.time_slider.setRange(0, length - 1)
        self.time_slider.setValue(min(self.time_slider.value(), length - 1))
        self.time_slider.blockSignals(False)
        self._draw()
        if self.play.isChecked() and not self.timer.isActive():
            self.timer.start()

    def _draw(self) -> None:
        if self.clips is None:
            return
        t = self.time
        self.grid.set_images(self.clips[:, :, t], "image", self.snapshot.value_range)
        self.time_label.setText(f"frame {t + 1}/{self.clips.shape[2]}")
        self.frames_drawn += 1

    def _time_changed(self, t: int) -> None:
        self._draw()
        self.sigTimeChanged.emit(t)

    def _advance(self) -> None:
        if self.clips is None:
            return
        self.time_slider.setValue((self.time + 1) % self.clips.shape[2])

    def _toggle(self, on: bool) -> None:
        self.play.setText("⏸ Pause" if on else "▶ Play")
        if on and self.clips is not None:
            self.timer.start()
        else:
            self.timer.stop()
