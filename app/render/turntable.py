"""A turntable animation of one 3D sample, rendered offscreen with VTK.

The camera circles the sample (``z`` up) in ``n_frames`` equal steps; each
frame is read back with ``vtkWindowToImageFilter`` and the frames go to
:func:`ebm_engine.export.save_animation` (GIF or MP4, atomic). The window
is offscreen and private to the call, so this never touches the views'
render windows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import vtkmodules.vtkRenderingOpenGL2  # noqa: F401 (the OpenGL back end)
from vtkmodules.util.numpy_support import vtk_to_numpy
from vtkmodules.vtkRenderingCore import vtkRenderer, vtkRenderWindow, vtkWindowToImageFilter

from app.render.shapes import KINDS_3D, make_actor, sample_geometry, set_geometry
from ebm_engine.errors import ExportError
from ebm_engine.export import save_animation

BACKGROUND = (0.125, 0.129, 0.141)


def turntable_frames(kind: str, sample: np.ndarray, value_range=None, n_frames: int = 36,
                     size: int = 320, elevation: float = 25.0) -> list[np.ndarray]:
    """Render ``n_frames`` views of one sample, turning 360° about ``z``.

    Parameters
    ----------
    kind : str
        ``voxel`` (``(1, D, H, W)``, drawn as its 0.5 isosurface) or
        ``pointcloud`` (``(P, 3)``).
    sample : np.ndarray
        One model-space sample.
    value_range : (float, float), optional
        Model-space bounds (voxels).
    n_frames : int
        Frames for the full turn.
    size : int
        Frame width and height in pixels.
    elevation : float
        Camera elevation in degrees.

    Returns
    -------
    list of np.ndarray
        ``(size, size, 3)`` uint8 frames, top row first.
    """
    from app.views.vtk_grid import default_camera

    if kind not in KINDS_3D:
        raise ExportError(f"turntables need voxel or point-cloud samples, not {kind}")
    if n_frames < 2:
        raise ExportError(f"a turntable needs at least 2 frames, got {n_frames}")
    try:
        geometry = sample_geometry(kind, sample, value_range)
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    if geometry.GetNumberOfPoints() == 0:
        raise ExportError(f"this {kind} sample is empty (no surface or no finite points); "
                          "train longer or pick another sample")
    window = vtkRenderWindow()
    window.SetOffScreenRendering(True)
    window.SetSize(size, size)
    renderer = vtkRenderer()
    renderer.SetBackground(*BACKGROUND)
    window.AddRenderer(renderer)
    actor = make_actor(kind)
    set_geometry(actor, geometry)
    renderer.AddActor(actor)
    camera = default_camera(renderer.GetActiveCamera())
    camera.Elevation(elevation - 25.0)
    camera.OrthogonalizeViewUp()
    frames = []
    try:
        for _ in range(n_frames):
            window.Render()
            grab = vtkWindowToImageFilter()
            grab.SetInput(window)
            grab.ReadFrontBufferOff()
            grab.Update()
            image = grab.GetOutput()
            w, h, _ = image.GetDimensions()
            pixels = vtk_to_numpy(image.GetPointData().GetScalars()).reshape(h, w, -1)
            frames.append(np.ascontiguousarray(pixels[::-1, :, :3]))
            camera.Azimuth(360.0 / n_frames)
    finally:
        window.RemoveRenderer(renderer)
        window.Finalize()  # offscreen and never shown: safe to release here
    return frames


def save_turntable(kind: str, sample: np.ndarray, path: str | Path, value_range=None,
                   n_frames: int = 36, fps: float = 12, size: int = 320) -> Path:
    """Render a turntable of one sample and write it as ``.gif`` or ``.mp4``.

    Raises
    ------
    ExportError
        Not a 3D kind, an empty sample, a bad extension, or a failed write.
    """
    path = Path(path)
    if path.suffix.lower() not in (".gif", ".mp4"):
        raise ExportError(f"{path}: turntables are written as .gif or .mp4")
    frames = turntable_frames(kind, sample, value_range, n_frames, size)
    return save_animation(frames, path, fps=fps)


def export_turntable(window, path: str | Path, n_frames: int = 36) -> Path | None:
    """The main window's *Turntable* export: the sample last clicked (else sample 0)
    of the latest snapshot; errors go to ``window.show_error`` as one sentence."""
    s = window.snapshot
    try:
        if s is None:
            raise ExportError("There are no samples to export yet; train or sample first.")
        if s.kind not in KINDS_3D:
            raise ExportError(f"Turntables need voxel or point-cloud samples; these are {s.kind} samples.")
        index = getattr(getattr(window, "film", None), "picked", None) or 0
        index = min(index, len(s.samples) - 1)
        out = save_turntable(s.kind, s.samples[index], path, s.value_range, n_frames)
    except ExportError as exc:
        window.show_error(str(exc))
        return None
    window.log_line(f"exported turntable of sample {index} to {out}")
    return out
