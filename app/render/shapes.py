"""3D samples → VTK geometry: voxel grids as isosurfaces, point clouds as points.

Both live in the data's cube ``[-1, 1]³`` (``z`` up): cell ``[i, j, k]`` of a
``D×H×W`` grid is centred at ``x_i = -1 + (i + ½)·2/D`` (as in
:mod:`ebm_engine.data.shapes`), so a voxel surface and a point cloud of the
same shape line up, and one camera frames every sample of either kind.
Only VTK data objects are built here (no rendering), so the controller's
worker thread builds the views' geometry (:func:`cell_geometries`) and the
GUI thread only hands it to the mappers; drawing happens on the GUI thread
(views) or in an offscreen window (turntables).
"""

from __future__ import annotations

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkImageData, vtkPolyData
from vtkmodules.vtkFiltersCore import vtkFlyingEdges3D
from vtkmodules.vtkFiltersGeneral import vtkVertexGlyphFilter
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper

from ebm_engine.data.dataset import to_display

LEVEL = 0.5  # display-space occupancy: 0 empty, 1 full
SURFACE_RGB = (0.55, 0.75, 0.95)
POINT_RGB = (1.0, 0.72, 0.35)
POINT_SIZE = 4.0
KINDS_3D = ("voxel", "pointcloud")
# A grid cell is a few hundred pixels wide: more points than this only overdraw.
MAX_POINTS_SHOWN = 4096


def voxel_surface(grid: np.ndarray, value_range: tuple[float, float] | None) -> vtkPolyData:
    """The 0.5 isosurface of one model-space voxel grid (``(1, D, H, W)`` or ``(D, H, W)``).

    NaN/inf cells (a diverged chain) count as empty; a padding of empty cells
    closes shapes that touch the border. An all-empty grid gives an empty
    polydata.
    """
    occ = to_display(np.asarray(grid, dtype=np.float32), "voxel", value_range)
    if value_range is None:  # assume model space [-1, 1]
        occ = np.clip((occ + 1.0) / 2.0, 0.0, 1.0)
    occ = np.squeeze(occ)
    occ = np.where(np.isfinite(occ), occ, 0.0).astype(np.float32)
    if occ.ndim != 3:
        raise ValueError(f"voxel samples must be (1, D, H, W) grids, got shape {np.shape(grid)}")
    padded = np.pad(occ, 1)
    image = vtkImageData()
    image.SetDimensions(*padded.shape)
    spacing = 2.0 / np.array(occ.shape, dtype=np.float64)
    image.SetSpacing(*spacing)
    # padded index p is cell p - 1, centred at -1 + (p - 1 + ½)·spacing
    image.SetOrigin(*(-1.0 - 0.5 * spacing))
    # VTK runs x fastest; the array is indexed [x, y, z], hence Fortran order.
    scalars = numpy_to_vtk(np.ascontiguousarray(padded.ravel(order="F")), deep=True)
    image.GetPointData().SetScalars(scalars)
    surface = vtkFlyingEdges3D()
    surface.SetInputData(image)
    surface.SetValue(0, LEVEL)
    surface.ComputeNormalsOn()
    surface.Update()
    out = vtkPolyData()
    out.ShallowCopy(surface.GetOutput())
    return out


def point_cloud(points: np.ndarray) -> vtkPolyData:
    """One ``(P, 3)`` cloud as vertices (non-finite points dropped)."""
    pts = np.asarray(points, dtype=np.float32).reshape(-1, 3)
    pts = np.ascontiguousarray(pts[np.isfinite(pts).all(1)])
    vtk_points = vtkPoints()
    vtk_points.SetData(numpy_to_vtk(pts, deep=True))
    raw = vtkPolyData()
    raw.SetPoints(vtk_points)
    glyphs = vtkVertexGlyphFilter()
    glyphs.SetInputData(raw)
    glyphs.Update()
    out = vtkPolyData()
    out.ShallowCopy(glyphs.GetOutput())
    return out


def decimate_points(points: np.ndarray, limit: int = MAX_POINTS_SHOWN) -> np.ndarray:
    """At most ``limit`` points of a ``(P, 3)`` cloud: the same spread-out subset for
    every cloud of that size (no flicker between snapshots); small clouds unchanged."""
    points = np.asarray(points).reshape(-1, 3)
    if len(points) <= limit:
        return points
    keep = np.sort(np.random.default_rng(len(points)).choice(len(points), limit, replace=False))
    return points[keep]


def cell_geometries(kind: str, samples: np.ndarray, value_range, n: int) -> tuple[vtkPolyData, ...]:
    """The geometry of the first ``n`` samples for a grid of cells (clouds decimated).

    Builds VTK data objects only (no render window), so it may run on a
    worker thread; the polydata are handed to the GUI thread afterwards and
    never touched by the worker again.
    """
    samples = np.asarray(samples)
    if kind == "pointcloud":
        return tuple(point_cloud(decimate_points(samples[i])) for i in range(min(n, len(samples))))
    return tuple(sample_geometry(kind, samples[i], value_range) for i in range(min(n, len(samples))))


def sample_geometry(kind: str, sample: np.ndarray, value_range) -> vtkPolyData:
    """Geometry of one sample of ``kind`` (``voxel`` or ``pointcloud``)."""
    if kind == "voxel":
        return voxel_surface(sample, value_range)
    if kind == "pointcloud":
        return point_cloud(sample)
    raise ValueError(f"no 3D rendering for {kind!r} samples")


def make_actor(kind: str) -> vtkActor:
    """An empty actor styled for ``kind``; feed it with :func:`set_geometry`."""
    mapper = vtkPolyDataMapper()
    mapper.ScalarVisibilityOff()
    actor = vtkActor()
    actor.SetMapper(mapper)
    prop = actor.GetProperty()
    if kind == "pointcloud":
        prop.SetColor(*POINT_RGB)
        prop.SetPointSize(POINT_SIZE)
        prop.SetRenderPointsAsSpheres(True)
    else:
        prop.SetColor(*SURFACE_RGB)
        prop.SetSpecular(0.3)
        prop.SetSpecularPower(20)
    return actor


def set_geometry(actor: vtkActor, geometry: vtkPolyData) -> None:
    actor.GetMapper().SetInputData(geometry)
