"""``ebm-studio --self-test``: prove a (frozen) install works, without a window.

Three checks, each of which a broken bundle fails in its own way:

1. torch imports and computes (missing shared libraries, wrong wheel);
2. the engine trains 5 iterations of the 2D demo headless (data catalogue,
   registries discovered by module scanning, presets shipped as data files);
3. VTK renders one offscreen frame to a PNG (OpenGL back end, hidden imports
   of ``vtkmodules``), through OSMesa when there is no display.

Prints one line per check and returns 0 when all pass, 1 otherwise.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ITERATIONS = 5
FRAME_SIZE = (320, 240)


def _say(msg: str) -> None:
    print(f"self-test: {msg}", flush=True)


def check_torch() -> str:
    import torch

    x = torch.linspace(-1.0, 1.0, 11)
    if abs(float((x * x).sum()) - 4.4) > 1e-4:
        raise RuntimeError("torch computed a wrong sum")
    return f"torch {torch.__version__} ({torch.get_num_threads()} threads)"


def check_training():
    """Train the 2D demo for a few iterations through a session (as the app and CLI do);
    return the last samples (N, 2)."""
    import math

    from ebm_engine.config import RunConfig
    from ebm_engine.learning.events import Finished, SamplesReady, TrainStep
    from ebm_engine.session import Session, StopOnDivergence

    cfg = RunConfig.from_dict({
        "data": {"source": "8gaussians"},
        "model": {"name": "mlp", "width": 32, "depth": 2},
        "sampler": {"n_steps": 10, "step_size": 0.1, "init": "noise", "init_scale": 2.0},
        "train": {"iterations": ITERATIONS, "batch_size": 64, "lr": 1e-3, "device": "cpu",
                  "sample_every": ITERATIONS, "checkpoint_every": 0, "seed": 0},
    })
    steps, samples, reason = 0, None, ""
    for event in Session(cfg, on_diverge=StopOnDivergence()).train(None):
        if isinstance(event, TrainStep):
            steps += 1
            if not math.isfinite(event.metrics["loss"]):
                raise RuntimeError(f"non-finite loss at iteration {event.iteration}")
        elif isinstance(event, SamplesReady):
            samples = event.samples
        elif isinstance(event, Finished):
            reason = event.reason
    if steps != ITERATIONS or samples is None or reason != "completed":
        raise RuntimeError(f"trained {steps} of {ITERATIONS} iterations ({reason or 'no end'}), "
                           f"samples: {samples is not None}")
    return samples


def offscreen_backend() -> str | None:
    """The VTK window class to use without a display (Linux), or ``None`` for the default.

    Without a display VTK's X window cannot open. OSMesa renders in memory
    (Debian ``libosmesa6``); EGL (``libegl1``, Mesa's software driver on a
    machine without a GPU) does too. A requested OSMesa that is not installed
    would crash VTK, so it falls back to EGL.
    """
    import ctypes.util

    if not sys.platform.startswith("linux"):
        return None
    wanted = os.environ.get("VTK_DEFAULT_OPENGL_WINDOW")
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return wanted
    have_osmesa = ctypes.util.find_library("OSMesa") is not None
    if wanted and (wanted != "vtkOSOpenGLRenderWindow" or have_osmesa):
        return wanted
    if have_osmesa:
        return "vtkOSOpenGLRenderWindow"
    if ctypes.util.find_library("EGL") is not None:
        return "vtkEGLRenderWindow"
    return wanted


def _use_offscreen_backend() -> None:
    backend = offscreen_backend()
    if backend:
        os.environ["VTK_DEFAULT_OPENGL_WINDOW"] = backend


def render_png(points, path: Path) -> Path:
    """Render ``points`` (N, 2) as spheres in an offscreen VTK window and save a PNG."""
    _use_offscreen_backend()
    import vtkmodules.vtkRenderingOpenGL2  # noqa: F401  (registers the OpenGL back end)
    from vtkmodules.vtkCommonCore import vtkPoints
    from vtkmodules.vtkCommonDataModel import vtkPolyData
    from vtkmodules.vtkFiltersCore import vtkGlyph3D
    from vtkmodules.vtkFiltersSources import vtkSphereSource
    from vtkmodules.vtkIOImage import vtkPNGWriter
    from vtkmodules.vtkRenderingCore import (
        vtkActor,
        vtkPolyDataMapper,
        vtkRenderer,
        vtkRenderWindow,
        vtkWindowToImageFilter,
    )

    pts = vtkPoints()
    for x, y in points[:, :2]:
        pts.InsertNextPoint(float(x), float(y), 0.0)
    cloud = vtkPolyData()
    cloud.SetPoints(pts)
    sphere = vtkSphereSource()
    sphere.SetRadius(0.08)
    glyphs = vtkGlyph3D()
    glyphs.SetInputData(cloud)
    glyphs.SetSourceConnection(sphere.GetOutputPort())
    mapper = vtkPolyDataMapper()
    mapper.SetInputConnection(glyphs.GetOutputPort())
    actor = vtkActor()
    actor.SetMapper(mapper)
    actor.GetProperty().SetColor(0.95, 0.6, 0.1)
    renderer = vtkRenderer()
    renderer.AddActor(actor)
    renderer.SetBackground(0.1, 0.1, 0.15)
    window = vtkRenderWindow()
    window.SetOffScreenRendering(1)
    window.SetSize(*FRAME_SIZE)
    window.AddRenderer(renderer)
    try:
        renderer.ResetCamera()
        window.Render()
        grab = vtkWindowToImageFilter()
        grab.SetInput(window)
        grab.ReadFrontBufferOff()
        grab.Update()
        dims = grab.GetOutput().GetDimensions()
        if dims[0] != FRAME_SIZE[0] or dims[1] != FRAME_SIZE[1]:
            raise RuntimeError(f"VTK rendered a {dims[0]}x{dims[1]} frame, expected {FRAME_SIZE}")
        writer = vtkPNGWriter()
        writer.SetFileName(str(path))
        writer.SetInputConnection(grab.GetOutputPort())
        writer.Write()
    finally:
        window.Finalize()
    if not path.is_file() or path.stat().st_size < 100:
        raise RuntimeError(f"VTK wrote no PNG at {path}")
    return path


def _frame_is_drawn(path: Path) -> bool:
    """The PNG is not one flat colour (the glyphs were drawn)."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as img:
        arr = np.asarray(img.convert("RGB"), dtype=np.int16)
    return int((np.abs(arr - arr[0, 0]).sum(axis=2) > 30).sum()) > 20


def run(out_dir: str | Path | None = None) -> int:
    """Run the checks; return 0 when all pass, 1 otherwise.

    Parameters
    ----------
    out_dir : path, optional
        Where to write ``self-test.png`` (default: a temporary folder, or
        ``$EBM_SELF_TEST_DIR``).
    """
    t0 = time.perf_counter()
    folder = out_dir or os.environ.get("EBM_SELF_TEST_DIR")
    tmp = None
    if folder is None:
        tmp = tempfile.TemporaryDirectory(prefix="ebm-self-test-")
        folder = tmp.name
    try:
        _say(check_torch())
        samples = check_training()
        _say(f"trained {ITERATIONS} iterations of 8gaussians; samples {tuple(samples.shape)}")
        png = render_png(samples, Path(folder) / "self-test.png")
        if not _frame_is_drawn(png):
            raise RuntimeError(f"{png} is blank: VTK drew nothing")
        backend = os.environ.get("VTK_DEFAULT_OPENGL_WINDOW", "default window")
        _say(f"rendered an offscreen VTK frame ({backend}) to {png} ({png.stat().st_size} bytes)")
    except Exception as exc:  # report any failure as one line and a non-zero status
        _say(f"FAILED: {type(exc).__name__}: {exc}")
        return 1
    finally:
        if tmp is not None:
            tmp.cleanup()
    _say(f"ok in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(run())
