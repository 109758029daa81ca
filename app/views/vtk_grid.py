"""A small-multiples grid of VTK viewports: one QVTK widget, one renderer per sample.

One render window with many ``vtkRenderer`` viewports is far cheaper than a
widget per sample. Every renderer shares one ``vtkCamera``, so dragging in
any cell turns them all (linked cameras); *Reset view* restores the default
three-quarter view. Rendering happens on the GUI thread only (views are fed
by the controller's signals), and only while the widget is shown.

The render window is released (``close()`` on the QVTK widget, which
finalises it) when the grid or its :class:`Grid3DView` is closed (the main
window closes its sample view when it closes), or when it is scheduled for
deletion — never while it is shown, and :func:`live_render_windows` lets
tests check that nothing leaks. No Python event filter watches other
widgets: one would run, holding the GIL, for every event they get.

The isosurfaces and point sets are built on the controller's worker thread
(:func:`prepare_cells`, see :mod:`app.display`); the GUI thread hands them
to the mappers and renders.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import numpy as np
import vtkmodules.vtkInteractionStyle  # noqa: F401 (registers the interactor styles)
import vtkmodules.vtkRenderingFreeType  # noqa: F401 (text labels)
import vtkmodules.vtkRenderingOpenGL2  # noqa: F401 (the OpenGL back end)
from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QVBoxLayout, QWidget
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor
from vtkmodules.util.numpy_support import vtk_to_numpy
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkFiltersSources import vtkOutlineSource
from vtkmodules.vtkInteractionStyle import vtkInteractorStyleTrackballCamera
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkActor2D,
    vtkCamera,
    vtkCoordinate,
    vtkPolyDataMapper,
    vtkPolyDataMapper2D,
    vtkRenderer,
    vtkTextActor,
    vtkWindowToImageFilter,
)

from app.display import prepared_frame
from app.render.shapes import cell_geometries, make_actor, set_geometry
from app.views import steady_label

MAX_CELLS = 16  # 4×4 viewports
BACKGROUND = (0.125, 0.129, 0.141)  # #202124, as the image grid
GAP_RGB = (0.06, 0.06, 0.07)
GAP = 0.002  # viewport inset (fraction of the window) that draws the cell borders
LABEL_INSET = 4  # pixels from a cell's corner to its label
# The clicked cell: the style sheet's selection (a selected list row's #35507a, darker
# behind the shapes) and a frame in its accent #9cc3ff, until another click or a new run.
PICKED_BACKGROUND = (0.15, 0.2, 0.3)
PICKED_FRAME_RGB = (0.612, 0.765, 1.0)
PICKED_FRAME_PX = 3
PICKED_FRAME_INSET = 0.004  # of the cell: a frame on the very edge is half clipped
LABEL_CHAR_PX = 7.5  # a wide estimate of one character of the 12-pixel label font
CAPTION_SEP = "  "  # between a cell's index and its energy


def energy_text(value: float) -> str:
    """``value`` in 3 significant digits, its exponent without "+" and leading zeros
    (−2.97e3, not −2.97e+03: a narrow cell has room for a few characters)."""
    text = f"{value:.3g}"
    mantissa, e, exponent = text.partition("e")
    return f"{mantissa}e{int(exponent)}" if e else text
CLICK_PIXELS = 4  # a press and release closer than this is a click, not a drag

_live: weakref.WeakSet[VTKGrid] = weakref.WeakSet()


def live_render_windows() -> int:
    """How many grids still hold an unreleased render window (tests' leak check)."""
    return sum(1 for g in list(_live) if not g.released)


# The default camera's distance from the cube, and how far the wheel may zoom from it
# (the wheel had no limit: fifteen clicks out left every shape a dot).
CAMERA_DISTANCE = 5.6
ZOOM_RANGE = (0.35, 3.0)


def default_camera(camera: vtkCamera) -> vtkCamera:
    """Three-quarter view of the cube ``[-1, 1]³`` with ``z`` up."""
    azimuth, elevation, distance = math.radians(-60), math.radians(25), CAMERA_DISTANCE
    camera.SetFocalPoint(0.0, 0.0, 0.0)
    camera.SetPosition(distance * math.cos(elevation) * math.cos(azimuth),
                       distance * math.cos(elevation) * math.sin(azimuth),
                       distance * math.sin(elevation))
    camera.SetViewUp(0.0, 0.0, 1.0)
    camera.SetViewAngle(30.0)
    camera.SetClippingRange(0.1, 50.0)
    return camera


def grid_shape(n: int) -> tuple[int, int]:
    """``(rows, cols)`` of a near-square grid for ``n`` cells."""
    cols = max(1, math.ceil(math.sqrt(n)))
    return max(1, math.ceil(n / cols)), cols


class VTKGrid(QWidget):
    """Up to :data:`MAX_CELLS` 3D samples in linked viewports, with a *Reset view* button.

    Signals
    -------
    sigCellClicked(int)
        A cell was clicked (not dragged): its sample index. The cell is marked
        (:meth:`set_picked`) until another is clicked or the cells are emptied.
    """

    sigCellClicked = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.released = False
        self.kind: str | None = None
        self.renderers: list[vtkRenderer] = []
        self.actors: list[vtkActor] = []
        self.labels: list[vtkTextActor] = []
        self.captions: list[str] = []  # each cell's whole label; a narrow cell shows "#i" only
        self.render_count = 0
        self._dirty = False
        self._press: tuple[float, float] | None = None
        self.picked: int | None = None  # the cell marked as clicked
        self._picked_frame = _frame_actor()

        self.vtk_widget = _GridInteractor(self)
        self.render_window = self.vtk_widget.GetRenderWindow()
        self.interactor = self.render_window.GetInteractor()
        self.interactor.SetInteractorStyle(vtkInteractorStyleTrackballCamera())
        self._initialised = False
        self.camera = default_camera(vtkCamera())
        self.backdrop = vtkRenderer()  # paints the gaps between cells
        self.backdrop.SetBackground(*GAP_RGB)
        self.backdrop.InteractiveOff()
        self.render_window.AddRenderer(self.backdrop)

        self.reset_button = QPushButton("Reset view")
        self.reset_button.setToolTip("Back to the default camera (all cells share one camera)")
        self.reset_button.clicked.connect(self.reset_view)
        self.caption = steady_label("drag to turn all samples · wheel to zoom · "
                                    "click a sample for its chain")
        self.caption.setStyleSheet("color: #aaaaaa")
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.caption, 1)
        bar.addWidget(self.reset_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.vtk_widget, 1)
        layout.addLayout(bar)
        _live.add(self)

    # --- content ---------------------------------------------------------------------
    def set_samples(self, kind: str, samples: np.ndarray, value_range=None,
                    captions: list[str] | None = None) -> None:
        """Show the first :data:`MAX_CELLS` samples of ``kind`` (model space; the
        geometry is built here, on the calling thread)."""
        if self.released:
            return
        self.set_geometries(kind, cell_geometries(kind, samples, value_range, MAX_CELLS), captions)

    def set_geometries(self, kind: str, geometries, captions=None) -> None:
        """Show prepared geometry, one polydata per cell (at most :data:`MAX_CELLS`)."""
        if self.released:
            return
        n = min(len(geometries), MAX_CELLS)
        self._ensure_cells(n, kind)
        self.captions = [captions[i] if captions and i < len(captions) else f"#{i}"
                         for i in range(n)]
        for i in range(n):
            set_geometry(self.actors[i], geometries[i])
        self.fit_labels()
        self.render()

    def fit_labels(self) -> None:
        """Each cell's whole label where it fits the cell's width, else its index alone
        (at 1024 pixels "#0  E=-2.97e3" ran into the next cell)."""
        if not self.labels:
            return
        cell = self.vtk_widget.width() / grid_shape(len(self.labels))[1]
        for label, caption in zip(self.labels, self.captions, strict=True):
            fits = LABEL_CHAR_PX * len(caption) + 2 * LABEL_INSET <= cell
            label.SetInput(caption if fits else caption.split(CAPTION_SEP)[0])

    def set_picked(self, index: int | None, render: bool = True) -> None:
        """Mark cell ``index`` as the clicked one: a tinted background and a frame
        (``None``, or an index past the cells: no cell marked).

        Parameters
        ----------
        index : int or None
            The cell to mark.
        render : bool
            Draw now (off where a render follows anyway).
        """
        if self.released:
            return
        if index is not None and not 0 <= index < len(self.renderers):
            index = None
        if index == self.picked:
            return
        if self.picked is not None and self.picked < len(self.renderers):
            before = self.renderers[self.picked]
            before.SetBackground(*BACKGROUND)
            before.RemoveViewProp(self._picked_frame)
        self.picked = index
        if index is not None:
            ren = self.renderers[index]
            ren.SetBackground(*PICKED_BACKGROUND)
            ren.AddViewProp(self._picked_frame)
        if render:
            self.render()

    def clear_cells(self) -> None:
        """Empty every cell but keep the cells (renderers, actors, labels): the next
        samples of the same count and kind only replace geometry, nothing is rebuilt."""
        if self.released:
            return
        self.set_picked(None, render=False)
        self.captions = [""] * len(self.labels)
        for actor, label in zip(self.actors, self.labels, strict=True):
            set_geometry(actor, vtkPolyData())
            label.SetInput("")
        self.render()

    def _ensure_cells(self, n: int, kind: str) -> None:
        if n == len(self.renderers) and kind == self.kind:
            return
        self.set_picked(None, render=False)  # its cell goes
        for ren in self.renderers:
            self.render_window.RemoveRenderer(ren)
        self.renderers, self.actors, self.labels = [], [], []
        self.captions = [""] * n
        self.kind = kind
        rows, cols = grid_shape(n)
        for i in range(n):
            row, col = divmod(i, cols)
            ren = vtkRenderer()
            ren.SetViewport(col / cols + GAP, 1 - (row + 1) / rows + GAP,
                            (col + 1) / cols - GAP, 1 - row / rows - GAP)
            ren.SetBackground(*BACKGROUND)
            ren.SetActiveCamera(self.camera)  # one camera: the cells turn together
            actor = make_actor(kind)
            ren.AddActor(actor)
            ren.AddActor(self._outline())  # the data cube: orientation while turning
            label = vtkTextActor()
            label.GetTextProperty().SetFontSize(12)
            label.GetTextProperty().SetColor(0.85, 0.85, 0.85)
            label.GetTextProperty().SetShadow(True)  # readable over the geometry
            label.SetPosition(LABEL_INSET, LABEL_INSET)
            ren.AddViewProp(label)
            self.render_window.AddRenderer(ren)
            self.renderers.append(ren)
            self.actors.append(actor)
            self.labels.append(label)

    @staticmethod
    def _outline() -> vtkActor:
        box = vtkOutlineSource()
        box.SetBounds(-1, 1, -1, 1, -1, 1)
        mapper = vtkPolyDataMapper()
        mapper.SetInputConnection(box.GetOutputPort())
        actor = vtkActor()
        actor.SetMapper(mapper)
        actor.GetProperty().SetColor(0.4, 0.4, 0.4)
        actor.PickableOff()
        return actor

    # --- camera ------------------------------------------------------------------------
    def reset_view(self) -> None:
        """Back to the default camera in every cell."""
        default_camera(self.camera)
        self.render()

    # --- drawing (GUI thread) ----------------------------------------------------------
    def render(self) -> None:
        """Draw now if shown; otherwise when next shown."""
        if self.released:
            return
        if not self.isVisible():
            self._dirty = True
            return
        if not self._initialised:
            self.vtk_widget.Initialize()
            self._initialised = True
        self.render_window.Render()
        self.render_count += 1
        self._dirty = False

    def capture(self) -> np.ndarray:
        """The rendered window as ``(H, W, 3)`` uint8, top row first.

        Read through ``vtkWindowToImageFilter``: ``QWidget.grab()`` shows VTK
        areas black.
        """
        self.render()
        grab = vtkWindowToImageFilter()
        grab.SetInput(self.render_window)
        grab.ReadFrontBufferOff()
        grab.Update()
        image = grab.GetOutput()
        w, h, _ = image.GetDimensions()
        pixels = vtk_to_numpy(image.GetPointData().GetScalars()).reshape(h, w, -1)
        return np.ascontiguousarray(pixels[::-1, :, :3])

    def cell_pixels(self, index: int, image: np.ndarray | None = None) -> np.ndarray:
        """The part of :meth:`capture` (or of ``image``, a capture) inside cell ``index``."""
        image = self.capture() if image is None else image
        h, w, _ = image.shape
        x0, y0, x1, y1 = self.renderers[index].GetViewport()
        return image[int((1 - y1) * h):int((1 - y0) * h), int(x0 * w):int(x1 * w)]

    # --- clicks ---------------------------------------------------------------------------
    def cell_at(self, x: float, y: float) -> int | None:
        """Index of the cell under widget pixel ``(x, y)`` (``None`` in a gap or outside)."""
        w, h = max(self.vtk_widget.width(), 1), max(self.vtk_widget.height(), 1)
        u, v = x / w, 1.0 - y / h  # VTK viewports count from the bottom
        for i, ren in enumerate(self.renderers):
            x0, y0, x1, y1 = ren.GetViewport()
            if x0 <= u <= x1 and y0 <= v <= y1:
                return i
        return None

    def _mouse(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        pos = event.position()
        if event.type() == QEvent.Type.MouseButtonPress:
            self._press = (pos.x(), pos.y())
            return
        press, self._press = self._press, None
        if press is None or abs(pos.x() - press[0]) + abs(pos.y() - press[1]) > CLICK_PIXELS:
            return  # a drag turned the camera
        index = self.cell_at(pos.x(), pos.y())
        if index is not None:
            self.set_picked(index)  # which cloud the chain below is, at a glance
            self.sigCellClicked.emit(index)

    # --- life cycle -----------------------------------------------------------------------
    def _resize_offscreen(self, size) -> None:
        # QVTK's resizeEvent calls the *base* vtkRenderWindow.SetSize, which skips
        # OSMesa's override, so the OSMesa pixel buffer keeps its first size and a
        # bigger window then renders past its end (heap corruption). The virtual
        # call, made first, reallocates it; QVTK's own call then changes nothing.
        if self.released or self.render_window.GetClassName() != "vtkOSOpenGLRenderWindow":
            return
        scale = self.vtk_widget.devicePixelRatioF()
        self.render_window.SetSize(int(round(scale * size.width())), int(round(scale * size.height())))

    def release(self) -> None:
        """Finalise the render window (idempotent); the grid draws nothing afterwards."""
        if self.released:
            return
        self.set_picked(None, render=False)
        self.released = True
        for ren in self.renderers:
            self.render_window.RemoveRenderer(ren)
        self.render_window.RemoveRenderer(self.backdrop)
        self.renderers, self.actors, self.labels = [], [], []
        self.vtk_widget.close()  # its closeEvent finalises the render window

    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().showEvent(event)
        if self._dirty:
            self.render()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        self.release()
        super().closeEvent(event)

    def event(self, event) -> bool:
        # deleteLater() (e.g. the main window swapping views) without a close first
        if event.type() == QEvent.Type.DeferredDelete:
            self.release()
        return super().event(event)


def _frame_actor() -> vtkActor2D:
    """A rectangle along the edges of the viewport it is added to (the picked cell's frame)."""
    inset = PICKED_FRAME_INSET
    points = vtkPoints()
    for x, y in ((inset, inset), (1 - inset, inset), (1 - inset, 1 - inset), (inset, 1 - inset)):
        points.InsertNextPoint(x, y, 0.0)
    lines = vtkCellArray()
    lines.InsertNextCell(5)
    for i in (0, 1, 2, 3, 0):
        lines.InsertCellPoint(i)
    rectangle = vtkPolyData()
    rectangle.SetPoints(points)
    rectangle.SetLines(lines)
    where = vtkCoordinate()
    where.SetCoordinateSystemToNormalizedViewport()  # follows the cell through resizes
    mapper = vtkPolyDataMapper2D()
    mapper.SetInputData(rectangle)
    mapper.SetTransformCoordinate(where)
    actor = vtkActor2D()
    actor.SetMapper(mapper)
    actor.GetProperty().SetColor(*PICKED_FRAME_RGB)
    actor.GetProperty().SetLineWidth(PICKED_FRAME_PX)
    return actor


class _GridInteractor(QVTKRenderWindowInteractor):
    """QVTK's widget, telling its grid about resizes and clicks first.

    QVTK already handles these events in Python; overriding them costs
    nothing more, where an event filter would run for every event.
    """

    def __init__(self, grid: VTKGrid):
        super().__init__(grid)
        self._grid = weakref.ref(grid)

    def resizeEvent(self, ev) -> None:  # noqa: N802 (Qt naming)
        grid = self._grid()
        if grid is not None:
            grid._resize_offscreen(ev.size())
        super().resizeEvent(ev)
        if grid is not None:
            grid.fit_labels()  # before the render the resize asks for

    def mousePressEvent(self, ev) -> None:  # noqa: N802 (Qt naming)
        grid = self._grid()
        if grid is not None:
            grid._mouse(ev)  # before VTK turns a press into a drag
        super().mousePressEvent(ev)

    def mouseReleaseEvent(self, ev) -> None:  # noqa: N802 (Qt naming)
        grid = self._grid()
        if grid is not None:
            grid._mouse(ev)
        super().mouseReleaseEvent(ev)

    def wheelEvent(self, ev) -> None:  # noqa: N802 (Qt naming)
        super().wheelEvent(ev)
        grid = self._grid()
        if grid is not None and clamp_zoom(grid.camera):
            grid.render()


def clamp_zoom(camera: vtkCamera) -> bool:
    """Keep ``camera`` within :data:`ZOOM_RANGE` of the default distance; True if moved."""
    distance = camera.GetDistance()
    lo, hi = (CAMERA_DISTANCE * f for f in ZOOM_RANGE)
    target = min(max(distance, lo), hi)
    if abs(target - distance) < 1e-9:
        return False
    camera.Dolly(distance / target)  # Dolly(k) divides the distance by k
    return True


@dataclass(frozen=True)
class Cells:
    """What a :class:`Grid3DView` draws: one polydata and caption per cell.

    Attributes
    ----------
    kind : str
        ``voxel`` or ``pointcloud``.
    geometry : tuple of vtkPolyData
        Built off the GUI thread, never modified afterwards.
    captions : tuple of str
        Each cell's label (chain index and energy).
    caption : str
        The line under the grid.
    """

    kind: str
    geometry: tuple
    captions: tuple[str, ...]
    caption: str


def prepare_cells(snapshot, frame: int = -1) -> Cells:
    """The :class:`Cells` of the final samples (``frame`` −1) or of recorded frame ``frame``.

    VTK data objects only (no rendering): safe on a worker thread.
    """
    s = snapshot
    if 0 <= frame < len(s.frames):
        f = s.frames[frame]
        x, energy, where = f.x, f.energy, f"step {f.step}"
    else:
        x, energy, where = s.samples, s.energy, f"iteration {s.iteration}"
    energy = np.asarray(energy, dtype=np.float64).ravel()
    n = min(len(x), MAX_CELLS)
    captions = tuple(f"#{i}{CAPTION_SEP}E={energy_text(energy[i])}" if i < len(energy) else f"#{i}"
                     for i in range(n))
    if getattr(s, "origin", "") == "preview":  # the data set, before any chain ran
        caption = f"{n} of {len(x)} training items · drag to turn all"
    else:
        caption = f"{n} of {len(x)} chains at {where} · drag to turn · click one for its chain"
    return Cells(s.kind, cell_geometries(s.kind, x, s.value_range, MAX_CELLS), captions, caption)


class Grid3DView(QWidget):
    """Base of the voxel and point-cloud views: chains in a :class:`VTKGrid`.

    ``set_snapshot`` shows the final samples (or, while the scrubber is held
    on a recorded Langevin step, that step of the first chains); clicking a
    cell emits ``sigSampleClicked`` with the chain's index and marks the cell
    (:meth:`VTKGrid.set_picked`) until another click or a new run: later samples
    mark the same chain, as the chain panel goes on showing it. Recorded frames
    are prepared on demand (scrubbing is interactive; live snapshots bring
    their final samples' geometry from the worker).
    """

    sigSampleClicked = Signal(int)
    kind = ""
    max_samples = MAX_CELLS  # a sampling for this view draws no more than it shows
    prepare = staticmethod(prepare_cells)
    prepare_frames = False

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.grid = VTKGrid(self)
        self.grid.sigCellClicked.connect(self.sigSampleClicked)
        self.grid.sigCellClicked.connect(self._remember_pick)
        # the clicked chain, kept across snapshots as the chain panel below keeps it
        # (a rebuild of the cells for a scrubbed step of fewer chains drops the mark)
        self.picked: int | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.grid)
        self.snapshot = None
        self.frame_index = -1
        self.update_count = 0

    def set_snapshot(self, snapshot) -> None:
        self.snapshot = snapshot
        if self.frame_index >= len(snapshot.frames):
            self.frame_index = -1
        self._draw()
        self.update_count += 1

    def show_frame(self, index: int) -> None:
        """Show recorded Langevin step ``index`` of the first chains (``-1``: final samples)."""
        self.frame_index = index
        if self.snapshot is not None:
            self._draw()

    def clear(self) -> None:
        """No samples (a new run); the render window and its cells stay (no new OpenGL
        context, no rebuilt viewports: the first samples only bring geometry)."""
        self.snapshot = None
        self.frame_index = -1
        self.picked = None
        self.grid.clear_cells()
        self.grid.caption.setText("drag to turn all samples · wheel to zoom · "
                                  "click a sample for its chain")

    def paint_now(self) -> None:
        """Nothing pending: VTK renders when the geometry is set."""

    def _remember_pick(self, index: int) -> None:
        self.picked = index

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        self.grid.release()  # a child gets no closeEvent of its own
        super().closeEvent(event)

    def _draw(self) -> None:
        s = self.snapshot
        frame = self.frame_index if 0 <= self.frame_index < len(s.frames) else -1
        cells = prepared_frame(s, frame, prepare_cells)
        self.grid.set_geometries(cells.kind, cells.geometry, list(cells.captions))
        self.grid.set_picked(self.picked)  # the same chain of these samples (none if past them)
        self.grid.caption.setText(cells.caption)
        self.grid.caption.setToolTip(cells.caption)  # whole, where a narrow view clips it
