"""Exports: image grids (PNG), animations (GIF/MP4), meshes and point files."""

from __future__ import annotations

from ebm_engine.export.images import make_grid, save_grid_png
from ebm_engine.export.video import chain_to_frames, read_animation, save_animation

__all__ = ["chain_to_frames", "make_grid", "read_animation", "save_animation", "save_grid_png"]
