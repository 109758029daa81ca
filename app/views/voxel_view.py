"""Voxel samples as isosurfaces (occupancy 0.5) in a linked small-multiples grid."""

from __future__ import annotations

from app.views.registry import register_view
from app.views.vtk_grid import Grid3DView


@register_view("voxel")
class VoxelView(Grid3DView):
    """Each chain's voxel grid drawn as its 0.5 isosurface (flying edges), cameras linked."""

    kind = "voxel"
