"""Image samples as a tiled grid (pyqtgraph ImageItem); click a tile to pick its chain."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from app.views.registry import register_view
from ebm_engine.data.dataset import to_display
from ebm_engine.export.images import make_grid

PAD = 2


def grid_image(samples: np.ndarray, kind: str, value_range) -> np.ndarray:
    """Model-space image samples → one RGB uint8 grid (as :func:`make_grid`)."""
    return make_grid(to_display(samples, kind, value_range), pad=PAD, pad_value=40)


def tile_at(x: float, y: float, n: int, h: int, w: int) -> int | None:
    """Index of the tile under grid pixel ``(x, y)`` (``None`` on padding/outside)."""
    nrow = min(math.ceil(math.sqrt(n)), n) if n else 1
    col, row = int((x - PAD) // (w + PAD)), int((y - PAD) // (h + PAD))
    if x < PAD or y < PAD or col >= nrow or col < 0 or row < 0:
        return None
    i = row * nrow + col
    return i if i < n else None


class ImageGridWidget(pg.GraphicsLayoutWidget):
    """A pannable, aspect-locked image grid with an optional title."""

    sigTileClicked = Signal(int)

    def __init__(self, parent: QWidget | None = None, title: str | None = None):
        super().__init__(parent)
        self.setBackground("#202124")
        self.view = self.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.image = pg.ImageItem()
        self.view.addItem(self.image)
        self._layout = (0, 1, 1)
        self.last_grid: np.ndarray | None = None
        if title:
            self.ci.addLabel(title, row=1, col=0, color="#dddddd", size="9pt")
        self.scene().sigMouseClicked.connect(self._clicked)

    def set_images(self, samples: np.ndarray, kind: str, value_range) -> None:
        samples = np.asarray(samples)
        if samples.ndim == 5:  # video clips: show their first frame
            samples = samples[:, :, 0]
        grid = grid_image(samples, kind if kind != "video" else "image", value_range)
        self.last_grid = grid
        self.image.setImage(grid, autoLevels=False, levels=(0, 255))
        self._layout = (len(samples), samples.shape[-2], samples.shape[-1])
        self.view.autoRange(padding=0.01)

    def _clicked(self, ev) -> None:
        pos = self.image.mapFromScene(ev.scenePos())
        n, h, w = self._layout
        i = tile_at(pos.x(), pos.y(), n, h, w)
        if i is not None:
            self.sigTileClicked.emit(i)


@register_view("image")
class ImageGridView(QWidget):
    """Current chains as an image grid; a scrubbed frame shows the recorded chains at that step."""

    sigSampleClicked = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.grid = ImageGridWidget(self)
        self.grid.sigTileClicked.connect(self.sigSampleClicked)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.grid)
        self.snapshot = None
        self.update_count = 0

    def set_snapshot(self, snapshot) -> None:
        self.snapshot = snapshot
        self.grid.set_images(snapshot.samples, snapshot.kind, snapshot.value_range)
        self.update_count += 1

    def show_frame(self, index: int) -> None:
        s = self.snapshot
        if s is None:
            return
        if index < 0 or index >= len(s.frames):
            self.grid.set_images(s.samples, s.kind, s.value_range)
        else:
            self.grid.set_images(s.frames[index].x, s.kind, s.value_range)
