"""Point-cloud samples as points (drawn as small spheres) in a linked small-multiples grid."""

from __future__ import annotations

from app.views.registry import register_view
from app.views.vtk_grid import Grid3DView


@register_view("pointcloud")
class PointCloudView(Grid3DView):
    """Each chain's point cloud as round points, cameras linked across the grid."""

    kind = "pointcloud"
