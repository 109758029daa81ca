"""Image samples as a tiled grid (pyqtgraph ImageItem); click a tile to pick its chain.

The grid's pixels are made by :func:`prepare_grid` (numpy only), which the
controller's worker thread runs for live snapshots (see :mod:`app.display`):
the GUI thread then only uploads a uint8 image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from app.display import prepared_frame
from app.views import unindexed
from app.views.registry import register_view
from ebm_engine.data.dataset import to_display
from ebm_engine.export.images import grid_columns, make_grid

PAD = 2


@dataclass(frozen=True)
class GridImage:
    """An image grid ready to upload.

    Attributes
    ----------
    pixels : np.ndarray
        ``(H, W, 3)`` uint8, top row first.
    layout : tuple of int
        ``(tiles, tile height, tile width)``, for :func:`tile_at`.
    columns : int
        Tiles per row (0: as :func:`make_grid` lays them out by default).
    index : np.ndarray, optional
        The sample each tile shows (−1: none, a label tile or a blank), where the
        tiles are not the samples in order (one class per row).
    """

    pixels: np.ndarray
    layout: tuple[int, int, int]
    columns: int = 0
    index: np.ndarray | None = None

    def sample_at(self, x: float, y: float) -> int | None:
        """The sample under grid pixel ``(x, y)`` (``None``: padding, a label, outside)."""
        n, h, w = self.layout
        tile = tile_at(x, y, n, h, w, self.columns)
        if tile is None or self.index is None:
            return tile
        sample = int(self.index[tile])
        return sample if sample >= 0 else None


def grid_image(samples: np.ndarray, kind: str, value_range) -> np.ndarray:
    """Model-space image samples → one RGB uint8 grid (as :func:`make_grid`)."""
    return make_grid(to_display(samples, kind, value_range), pad=PAD, pad_value=40)


def prepare_grid(samples: np.ndarray, kind: str, value_range) -> GridImage:
    """The :class:`GridImage` of ``samples`` (video clips ``(N, C, T, H, W)``: their first frame).

    Pure numpy: safe on any thread.
    """
    samples = np.asarray(samples)
    if samples.ndim == 5:
        samples = samples[:, :, 0]
    grid = grid_image(samples, "image" if kind == "video" else kind, value_range)
    return GridImage(grid, (len(samples), samples.shape[-2], samples.shape[-1]))


def prepare_class_rows(samples: np.ndarray, classes: np.ndarray, kind: str,
                       value_range) -> GridImage:
    """Image ``samples`` one class per row, each row led by its class's glyph: the
    layout of the PNG export (:func:`~ebm_engine.export.by_class.class_rows`)."""
    from ebm_engine.export.by_class import class_rows

    tiles, per_row, index, _ = class_rows(to_display(samples, kind, value_range), classes)
    grid = make_grid(tiles, nrow=per_row, pad=PAD, pad_value=40)
    return GridImage(grid, (len(tiles), tiles.shape[-2], tiles.shape[-1]), per_row, index)


def sample_classes(snapshot, n: int) -> np.ndarray | None:
    """The class of each of the first ``n`` samples of an image snapshot whose samples
    come with one (``extras["sample_class"]``, class-conditional sampling), else ``None``."""
    classes = snapshot.extras.get("sample_class") if snapshot.kind == "image" else None
    if classes is None or np.ndim(classes) != 1 or len(classes) < n or n == 0:
        return None
    return np.asarray(classes)[:n]


def class_rows_caption(classes: np.ndarray) -> str:
    """What the rows of :func:`prepare_class_rows` are, top to bottom."""
    present = [int(k) for k in np.unique(classes)]
    if len(present) == 1:
        return f"all of class {present[0]} (each row led by its glyph)"
    if present == list(range(present[0], present[-1] + 1)):
        listed = f"{present[0]}–{present[-1]}"
    else:
        listed = ", ".join(map(str, present))
    return f"one class per row, led by its glyph: classes {listed}, top to bottom"


def tile_at(x: float, y: float, n: int, h: int, w: int, columns: int = 0) -> int | None:
    """Index of the tile under grid pixel ``(x, y)`` (``None`` on padding/outside);
    ``columns`` tiles per row (0: as :func:`make_grid` lays ``n`` tiles out)."""
    nrow = columns or (min(grid_columns(n, w / h), n) if n else 1)
    col, row = int((x - PAD) // (w + PAD)), int((y - PAD) // (h + PAD))
    if x < PAD or y < PAD or col >= nrow or col < 0 or row < 0:
        return None
    i = row * nrow + col
    return i if i < n else None


class ImageGridWidget(pg.GraphicsLayoutWidget):
    """A pannable, aspect-locked image grid with an optional title.

    A grid set while the widget is hidden is uploaded when it is shown.
    """

    sigTileClicked = Signal(int)

    def __init__(self, parent: QWidget | None = None, title: str | None = None):
        super().__init__(parent)
        unindexed(self)
        self.setBackground("#202124")
        self.view = self.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.image = pg.ImageItem()
        self.view.addItem(self.image)
        self._grid: GridImage | None = None  # what a click is read against
        self.last_grid: np.ndarray | None = None
        self.upload_count = 0
        self._uploaded: np.ndarray | None = None
        if title:
            self.ci.addLabel(title, row=1, col=0, color="#dddddd", size="9pt")
        self.scene().sigMouseClicked.connect(self._clicked)

    def set_images(self, samples: np.ndarray, kind: str, value_range) -> None:
        """Show model-space ``samples`` (made into a grid here, on the calling thread)."""
        self.set_grid(prepare_grid(samples, kind, value_range))

    def set_grid(self, grid: GridImage) -> None:
        """Show a prepared grid: an upload, no per-pixel work."""
        self.last_grid = grid.pixels
        self._grid = grid
        if self.isVisible():
            self._upload()

    def clear_grid(self) -> None:
        """Show nothing."""
        self.image.clear()
        self.last_grid = self._uploaded = self._grid = None

    def _upload(self) -> None:
        grid = self.last_grid
        if grid is None or grid is self._uploaded:
            return
        shape = None if self._uploaded is None else self._uploaded.shape
        self.image.setImage(grid, autoLevels=False, levels=(0, 255))
        if grid.shape != shape:  # same size: the view already frames it
            self.view.autoRange(padding=0.01)
        self._uploaded = grid
        self.upload_count += 1

    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().showEvent(event)
        self._upload()

    def paint_now(self) -> None:
        """Paint a pending change now (so its cost is measured with the draw)."""
        if self.isVisible():
            self.viewport().repaint()

    def _clicked(self, ev) -> None:
        if self._grid is None:
            return
        pos = self.image.mapFromScene(ev.scenePos())
        i = self._grid.sample_at(pos.x(), pos.y())
        if i is not None:
            self.sigTileClicked.emit(i)


def prepare_images(snapshot, frame: int = -1) -> GridImage:
    """The grid of a snapshot's final samples (``frame`` −1) or of recorded frame ``frame``;
    samples that come with their class one class per row (:func:`prepare_class_rows`)."""
    x = snapshot.frames[frame].x if 0 <= frame < len(snapshot.frames) else snapshot.samples
    classes = sample_classes(snapshot, len(x)) if np.ndim(x) == 4 else None
    if classes is not None:
        return prepare_class_rows(x, classes, snapshot.kind, snapshot.value_range)
    return prepare_grid(x, snapshot.kind, snapshot.value_range)


@register_view("image")
class ImageGridView(QWidget):
    """Current chains as an image grid; a scrubbed frame shows the recorded chains at that step."""

    sigSampleClicked = Signal(int)
    prepare = staticmethod(prepare_images)
    prepare_frames = True  # a few small grids: the worker makes every recorded step's
    #: extras this view draws itself: each sample's class sets the rows (not a panel
    #: beside the grid that said only "shape 64")
    own_extras = ("sample_class",)

    @staticmethod
    def layout_caption(snapshot) -> str:
        """What the grid's layout means, where it is not the samples in order (or ``""``)."""
        classes = sample_classes(snapshot, len(snapshot.samples))
        return "" if classes is None else class_rows_caption(classes)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.grid = ImageGridWidget(self)
        self.grid.sigTileClicked.connect(self.sigSampleClicked)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.grid)
        self.snapshot = None
        self.frame_index = -1
        self.update_count = 0

    def set_snapshot(self, snapshot) -> None:
        self.snapshot = snapshot
        self.show_frame(self.frame_index)
        self.update_count += 1

    def show_frame(self, index: int) -> None:
        s = self.snapshot
        self.frame_index = index
        if s is None:
            return
        frame = index if 0 <= index < len(s.frames) else -1
        self.grid.set_grid(prepared_frame(s, frame, prepare_images))

    def clear(self) -> None:
        """No samples (a new run): the grid empties."""
        self.snapshot = None
        self.frame_index = -1
        self.grid.clear_grid()

    def paint_now(self) -> None:
        self.grid.paint_now()

