"""Video samples: every clip plays in a loop in the image grid.

The chain scrubber (``show_frame``) picks the Langevin step; a second slider
picks the frame *within* the clips (time), and *Play* cycles through it on a
GUI-thread timer. Every time step's grid is made at once, as uint8, by
:func:`prepare_clips` (on the controller's worker for live snapshots, see
:mod:`app.display`), so playing a clip only uploads images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from app.display import prepared_frame
from app.views import steady_label
from app.views.image_grid import GridImage, ImageGridWidget, grid_image
from app.views.registry import register_view

FRAME_MS = 125  # 8 frames per second


@dataclass(frozen=True)
class ClipGrids:
    """The clips of a snapshot as one uint8 grid per time step.

    Attributes
    ----------
    frames : np.ndarray
        ``(T, H, W, 3)`` uint8: the grid of every clip at each time step.
    layout : tuple of int
        ``(clips, frame height, frame width)``.
    """

    frames: np.ndarray
    layout: tuple[int, int, int]

    @property
    def length(self) -> int:
        return len(self.frames)

    def grid(self, t: int) -> GridImage:
        return GridImage(self.frames[t], self.layout)


def prepare_clips(snapshot, frame: int = -1) -> ClipGrids:
    """The :class:`ClipGrids` of the final clips (``frame`` −1) or of recorded frame ``frame``."""
    x = snapshot.frames[frame].x if 0 <= frame < len(snapshot.frames) else snapshot.samples
    x = np.asarray(x)
    if x.ndim == 4:  # (N, T, H, W) grey clips without a channel axis
        x = x[:, None]
    frames = np.stack([grid_image(x[:, :, t], "image", snapshot.value_range)
                       for t in range(x.shape[2])])
    return ClipGrids(frames, (len(x), x.shape[-2], x.shape[-1]))


@register_view("video")
class VideoView(QWidget):
    """Clips ``(N, C, T, H, W)`` in a looping grid; a time slider under it."""

    sigSampleClicked = Signal(int)
    max_samples = 16  # clips: 4 × 4 stay large enough to see them move
    sigTimeChanged = Signal(int)
    prepare = staticmethod(prepare_clips)
    prepare_frames = True

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.grid = ImageGridWidget(self)
        self.grid.sigTileClicked.connect(self.sigSampleClicked)
        self.play = QPushButton()
        self._show_play_state(True)
        self.play.setCheckable(True)
        self.play.setChecked(True)
        self.play.setToolTip("Play the clips in a loop")
        self.play.toggled.connect(self._toggle)
        self.time_slider = QSlider(Qt.Orientation.Horizontal)
        self.time_slider.setRange(0, 0)
        self.time_slider.setToolTip("Frame within the clips (time)")
        self.time_slider.valueChanged.connect(self._time_changed)
        self.time_label = steady_label("frame –", min_width=90)
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.play)
        bar.addWidget(QLabel("clip time"))  # the chain scrubber below has its own Play
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
        self.clips: np.ndarray | None = None  # model space (N, C, T, H, W) of the shown step
        self.clip_grids: ClipGrids | None = None  # what is drawn: a grid per time step
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
        frame = self.frame_index if 0 <= self.frame_index < len(s.frames) else -1
        x = np.asarray(s.frames[frame].x if frame >= 0 else s.samples)
        self.clips = x[:, None] if x.ndim == 4 else x  # (N, T, H, W) grey clips: a channel axis
        self.clip_grids = prepared_frame(s, frame, prepare_clips)
        length = self.clip_grids.length
        self.time_slider.blockSignals(True)
        self.time_slider.setRange(0, length - 1)
        self.time_slider.setValue(min(self.time_slider.value(), length - 1))
        self.time_slider.blockSignals(False)
        self._draw()
        if self.play.isChecked() and not self.timer.isActive():
            self.timer.start()

    def _draw(self) -> None:
        if self.clip_grids is None:
            return
        t = min(self.time, self.clip_grids.length - 1)
        self.grid.set_grid(self.clip_grids.grid(t))
        self.time_label.setText(f"frame {t + 1}/{self.clip_grids.length}")
        self.frames_drawn += 1

    def clear(self) -> None:
        """No clips (a new run): the grid empties, playing stops drawing."""
        self.snapshot = None
        self.clips = self.clip_grids = None
        self.frame_index = -1
        self.grid.clear_grid()

    def paint_now(self) -> None:
        self.grid.paint_now()

    def _time_changed(self, t: int) -> None:
        self._draw()
        self.sigTimeChanged.emit(t)

    def _advance(self) -> None:
        if self.clip_grids is None or not self.isVisible():  # nothing to see: no redraw
            return
        self.time_slider.setValue((self.time + 1) % self.clip_grids.length)

    def _show_play_state(self, playing: bool) -> None:
        # the style's icons: the "⏸" glyph is missing from common fonts (a box on screen)
        icon = QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay
        self.play.setIcon(self.style().standardIcon(icon))
        self.play.setText("Pause" if playing else "Play")

    def _toggle(self, on: bool) -> None:
        self._show_play_state(on)
        if on and self.clip_grids is not None:
            self.timer.start()
        else:
            self.timer.stop()
