"""Write samples of any data kind to the file the user named (by extension).

=============  ======================================================
kind           extensions
=============  ======================================================
image          .png (grid), .gif/.mp4 (chain evolution), .npz
points         .png (2D scatter), .gif/.mp4 (chain evolution), .npz
video          .gif/.mp4 (clips tiled, looping), .png (first frames), .npz
voxel          .stl/.obj/.ply (marching cubes), .png (grid of depth-shaded views), .npz
pointcloud     .ply, .xyz (text), .png (grid of depth-shaded views), .npz
text           .txt (one sentence per line), .png (the lines drawn), .npz
molecule       .smi .txt (one SMILES per line), .sdf, .png (RDKit 2D grid), .npz
trajectory     .csv (sample,step,x,y), .json (with scenes), .png (scenes grid),
               .gif/.mp4 (chain evolution), .npz
=============  ======================================================
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ebm_engine.data.dataset import to_display
from ebm_engine.data.scenes import DISPLAY_KEYS
from ebm_engine.data.tokens import TOKEN_KINDS, SymbolSpec
from ebm_engine.errors import ExportError
from ebm_engine.export.scatter import plane_of, scatter_image
from ebm_engine.export.symbols import MOLECULE_FORMATS, TEXT_FORMATS
from ebm_engine.export.trajectory import PICTURE_CELLS, TRAJECTORY_FORMATS

ANIMATIONS = (".gif", ".mp4")
#: The formats each data kind exports to (by extension).
FORMATS = {
    "image": (".png", ".gif", ".mp4", ".npz"),
    "points": (".png", ".gif", ".mp4", ".npz"),
    "video": (".mp4", ".gif", ".png", ".npz"),
    "voxel": (".stl", ".obj", ".ply", ".png", ".npz"),
    "pointcloud": (".ply", ".xyz", ".png", ".npz"),
    "text": TEXT_FORMATS,
    "molecule": MOLECULE_FORMATS,
    "trajectory": TRAJECTORY_FORMATS,
}
#: Smallest side, in pixels, of one cell of an exported image grid.
MIN_CELL = 64


def check_target(kind: str, path: str | Path) -> None:
    """Raise :class:`ExportError` now if ``path`` cannot take ``kind`` samples (no such
    folder, a format the kind has not): before a long sampling, not after it."""
    named_folder = isinstance(path, str) and path.endswith(("/", os.sep))
    path = Path(path)  # drops a trailing slash: x.png/ would be written as x.png
    if path.is_dir():
        raise ExportError(f"{path} is a folder; give a file name, e.g. {path / 'samples.png'}")
    if named_folder:
        raise ExportError(f"{path}{os.sep} names a folder (it ends in {os.sep}); give a file "
                          f"name, e.g. {path}")
    if not path.parent.is_dir():
        raise ExportError(f"cannot write {path}: folder {path.parent} does not exist")
    formats = FORMATS.get(kind)
    ext = path.suffix.lower()
    if formats is not None and ext not in formats:
        raise ExportError(f"cannot write {kind} samples as {ext or 'a file without extension'}; "
                          f"use {' '.join(formats)}")
    check_writable(path.parent)


def check_writable(folder: str | Path) -> None:
    """Raise :class:`ExportError` if no file can be made in ``folder`` (read-only,
    no permission): found by making and removing a temporary file, as the export will."""
    from ebm_engine.atomic import temp_file

    try:
        probe = temp_file(Path(folder), prefix=".ebm-write-check.", suffix=".tmp")
    except OSError as exc:
        raise ExportError(f"cannot write in {folder}: {exc.strerror or exc}") from None
    probe.unlink(missing_ok=True)


def needs_chain(path: str | Path) -> bool:
    """Whether writing ``path`` uses recorded chain frames (an animation)."""
    return Path(path).suffix.lower() in ANIMATIONS


def picture_note(kind: str, path: str | Path, n: int,
                 extras: dict[str, np.ndarray] | None = None) -> str:
    """What a picture of ``n`` samples leaves out, for the line that says it was written.

    Parameters
    ----------
    kind : str
        Data kind.
    path : path
        The file written (its extension says the format).
    n : int
        How many samples were given to :func:`export_samples` (for an
        animation: how many chains its frames hold).
    extras : dict, optional
        The same ``extras`` (a translation's rows draw every item).

    Returns
    -------
    str
        ``"the picture shows the first 16 of 25"`` where the file draws fewer
        samples than it was given (trajectory pictures and animations), else ``""``.
    """
    ext = Path(path).suffix.lower()
    if kind != "trajectory" or ext not in (".png", *ANIMATIONS) or n <= PICTURE_CELLS:
        return ""
    if ext == ".png" and extras and "reconstructed" in extras and "reference" in extras:
        return ""  # source | translated | reconstructed rows (export.pairs): every item
    what = "picture" if ext == ".png" else "animation"
    return f"the {what} shows the first {PICTURE_CELLS} of {n}"


def export_samples(
    samples: np.ndarray,
    kind: str,
    value_range: tuple[float, float] | None,
    path: str | Path,
    *,
    frames: list[np.ndarray] | None = None,
    chain_steps: Sequence[int] | None = None,
    energy: np.ndarray | None = None,
    fps: int = 10,
    scale: int | None = None,
    symbols: SymbolSpec | None = None,
    extras: dict[str, np.ndarray] | None = None,
    context: np.ndarray | None = None,
    iteration: int | None = None,
) -> Path:
    """Write model-space ``samples`` (and chain ``frames``) to ``path``.

    Parameters
    ----------
    samples : np.ndarray
        ``(N, *item_shape)`` in model space.
    kind : str
        Data kind (see :mod:`ebm_engine.data.dataset`).
    value_range : (float, float) or None
        Model-space bounds, for display mapping.
    path : path
        Output file; the extension picks the format.
    frames : list of np.ndarray, optional
        Recorded chain states (same layout), for animations.
    chain_steps : sequence of int, optional
        The Langevin step of each frame (:attr:`ChainFrame.step
        <ebm_engine.sampling.langevin.ChainFrame.step>`): ``.npz`` keeps them as
        ``chain_steps``, a trajectory ``.json`` as each chain entry's ``step``.
    energy : np.ndarray, optional
        Per-sample energies, stored in ``.npz``.
    scale : int, optional
        Pixel repeat of image and video grids (PNG, GIF, MP4); default: cells of
        at least ``MIN_CELL`` pixels in a PNG, so a grid of 16×16 digits is viewable,
        and animations at least 256 pixels wide.
    symbols : SymbolSpec, optional
        Vocabulary that decodes text and molecule samples (token ids).
    extras : dict, optional
        Snapshot arrays that describe the samples: trajectories' ``scenes``,
        ``observed``, ``reference`` and the view ``extent``
        (:mod:`ebm_engine.data.scenes`), token data's vocabulary (``vocab``,
        ``joiner`` … of :meth:`DataSpec.display_extras
        <ebm_engine.methods.base.DataSpec.display_extras>`); an ``.npz`` keeps
        those of :data:`DISPLAY` as ``display_<name>``.
    context : np.ndarray, optional
        2D points: ``(M, 2)`` training points, drawn in light grey under the
        samples (a chain of 8 dots alone does not say which data it learned).
    iteration : int, optional
        The training iteration the samples come from, kept in ``.npz`` as
        ``iteration`` (as ``samples/latest.npz``).
    """
    path = Path(path)
    ext = path.suffix.lower()
    if not path.parent.is_dir():
        raise ExportError(f"cannot write {path}: folder {path.parent} does not exist")
    if ext == ".npz":
        return _save_npz(path, samples, kind, energy, frames, value_range, extras, chain_steps,
                         iteration)
    if kind in TOKEN_KINDS:
        from ebm_engine.export.symbols import export_symbols

        return export_symbols(samples, kind, symbols, path, ext)
    if kind == "trajectory":
        from ebm_engine.export.trajectory import export_trajectories

        extras = dict(extras or {})
        extent = extras.pop("extent", None)
        back = extras.pop("reconstructed", None)
        if ext == ".png" and back is not None and "reference" in extras:
            # a translation of strokes: source | translated | reconstructed rows
            from ebm_engine.export.pairs import export_pairs

            panels = {"source": extras["reference"], "translated": samples, "reconstructed": back}
            return export_pairs(panels, kind, value_range, path)
        return export_trajectories(samples, path, ext, frames=frames, chain_steps=chain_steps,
                                   energy=energy,
                                   extras=extras, extent=extent, fps=fps)
    if scale is not None and scale < 1:
        raise ExportError(f"scale must be >= 1, got {scale}")
    if kind == "image" and ext == ".png" and extras and "source" in extras:
        # translations: source | translated | reconstructed rows (ebm_engine.export.pairs)
        from ebm_engine.export.pairs import export_pairs

        return export_pairs({**extras, "translated": samples}, kind, value_range, path,
                            scale=scale)
    if kind == "image" and ext == ".png" and extras and "sample_class" in extras:
        # class-conditional samples: one row per class (ebm_engine.export.by_class)
        from ebm_engine.export.by_class import save_by_class_png

        images = to_display(samples, kind, value_range)
        return save_by_class_png(images, extras["sample_class"], path,
                                 upscale=cell_scale(min(images.shape[-2:]), scale))
    if kind in ("image", "points"):
        return _export_2d(samples, kind, value_range, path, ext, frames, fps, scale, context)
    if kind == "video":
        return _export_video(samples, value_range, path, ext, fps, scale)
    if kind in ("voxel", "pointcloud") and ext == ".png":  # no OpenGL: numpy dots
        from ebm_engine.export.images import save_grid_png
        from ebm_engine.export.render3d import cloud_pictures, voxel_pictures

        pictures = (voxel_pictures if kind == "voxel" else cloud_pictures)(samples)
        return _guard(lambda: save_grid_png(pictures, path), path)
    if kind == "voxel" and ext in (".stl", ".obj", ".ply"):
        from ebm_engine.export.mesh import save_voxel_meshes

        return Path(save_voxel_meshes(samples, path))
    if kind == "pointcloud" and ext in (".ply", ".xyz"):
        from ebm_engine.export.pointcloud import save_point_clouds

        return Path(save_point_clouds(samples, path))
    raise ExportError(f"cannot write {kind} samples as {ext or 'a file without extension'}; "
                      f"{kind} samples export as {' '.join(FORMATS.get(kind, ('.npz',)))}")


PANELS = ("source", "reconstructed")
"""Per-sample extras an ``.npz`` keeps beside ``samples`` (a translation's other panels)."""
DISPLAY = ("vocab", "joiner", "checker", "attribute", "attribute_values", "extent",
           *DISPLAY_KEYS)
"""Extras an ``.npz`` keeps as ``display_<name>``, the names the run's own
``samples/latest.npz`` uses: a text or molecule run's vocabulary (token ids decode
without the checkpoint: :class:`~ebm_engine.data.tokens.SymbolSpec`), trajectories'
view ``extent``, ``scenes``, ``observed`` past and ``reference`` (expert / true) paths."""
RAW = ("output", "initializer", "labels")
"""Per-sample extras of conditional models whose samples are picture strips
(``condition | initializer | after Langevin``): an ``.npz`` keeps the model's raw answers
as ``samples`` (and the initializer's and the class labels beside them, the strip as
``strip``); views do not draw them."""


def _save_npz(path: Path, samples, kind, energy, frames, value_range=None,
              extras=None, chain_steps=None, iteration=None) -> Path:
    from ebm_engine import atomic

    def write(tmp: Path) -> None:
        arrays = {"samples": np.asarray(samples), "kind": np.str_(kind)}
        raw = (extras or {}).get("output")
        if raw is not None and len(raw) == len(arrays["samples"]):  # a strip: the answers
            arrays["strip"], arrays["samples"] = arrays["samples"], np.asarray(raw)
        panels = dict(extras or {})
        if kind == "trajectory" and "reconstructed" in panels and "reference" in panels:
            panels["source"] = panels["reference"]  # a stroke translation's source paths
        for name in (*PANELS, *RAW[1:]):
            panel = panels.get(name)
            if panel is not None and len(panel) == len(arrays["samples"]):
                arrays[name] = np.asarray(panel)
        classes = panels.get("sample_class")  # symbol_vector's: each sample's class, as labels
        if "labels" not in arrays and classes is not None and len(classes) == len(samples):
            arrays["labels"] = np.asarray(classes)
        for name in DISPLAY:  # what decodes or places the samples
            if name in panels:
                arrays[f"display_{name}"] = np.asarray(panels[name])
        if iteration is not None:
            arrays["iteration"] = np.int64(iteration)
        if value_range is not None:  # model space: what black and white (or 0 and 1) were
            arrays["value_range"] = np.asarray(value_range, np.float32)
        if energy is not None:
            arrays["energy"] = np.asarray(energy)
        if frames:
            n = min(f.shape[0] for f in frames)
            arrays["chain"] = np.stack([f[:n] for f in frames])
            if chain_steps is not None and len(chain_steps) == len(frames):
                # the frames' Langevin steps: not every K-th one at the end (polish steps)
                arrays["chain_steps"] = np.asarray(chain_steps, dtype=np.int64)
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    _guard(lambda: atomic.write_with(path, write), path)
    return path


def cell_scale(side: int, scale: int | None) -> int:
    """``scale``, or the smallest repeat that makes a cell whose shorter side is ``side``
    pixels >= ``MIN_CELL`` (wide tiles such as saliency triptychs are enlarged too)."""
    return scale if scale is not None else max(1, -(-MIN_CELL // max(side, 1)))


def _export_2d(samples, kind, value_range, path, ext, frames, fps, scale, context=None) -> Path:
    from ebm_engine.export import chain_to_frames, save_grid_png

    under = plane_of(context)[0] if context is not None and len(context) else None
    if ext == ".png":
        if kind == "points":  # dots over a grid with axes, not a density raster of pixels
            plane, axes = plane_of(samples)
            shown = plane if under is None else np.concatenate([plane, under])
            image = scatter_image(plane, _points_bounds(shown), axes=axes, under=under)
            return _guard(lambda: save_grid_png(image[None], path), path)
        images = to_display(samples, kind, value_range)
        return save_grid_png(images, path, upscale=cell_scale(min(images.shape[-2:]), scale))
    if ext in ANIMATIONS:
        steps = frames if frames else [samples]
        if kind == "points":
            planes = [plane_of(f) for f in steps]
            last = planes[-1][0]
            lim = _points_bounds(last if under is None else np.concatenate([last, under]))
            images = [(scatter_image(p, lim, axes=a, under=under)[0, ..., None] * 255)
                      .astype(np.uint8).repeat(3, -1) for p, a in planes]
        else:
            images = chain_to_frames([to_display(f, kind, value_range) for f in steps])
        return _animate(images, path, fps, scale if kind == "image" else None)
    raise ExportError(f"cannot write {kind} samples as {ext or 'a file without extension'}; "
                      "use .png .gif .mp4 or .npz")


def _export_video(samples, value_range, path, ext, fps, scale) -> Path:
    from ebm_engine.export import chain_to_frames, save_grid_png

    clips = to_display(samples, "video", value_range)  # (N, C, T, H, W)
    if ext == ".png":
        return save_grid_png(clips[:, :, 0], path, upscale=cell_scale(min(clips.shape[-2:]), scale))
    if ext in ANIMATIONS:
        per_time = [clips[:, :, t] for t in range(clips.shape[2])]
        return _animate(chain_to_frames(per_time), path, fps, scale)
    raise ExportError(f"cannot write video samples as {ext}; use .gif .mp4 .png or .npz")


def _animate(images: list[np.ndarray], path: Path, fps: int, scale: int | None) -> Path:
    """An animation of grid frames: each pixel repeated ``scale`` times where asked,
    else enlarged to a viewable width by :func:`save_animation`."""
    from ebm_engine.export import save_animation
    from ebm_engine.export.images import upscale_nearest

    if scale is None:
        return save_animation(images, path, fps=fps)
    return save_animation([upscale_nearest(f, scale) for f in images], path, fps=fps,
                          min_width=0)


def _points_bounds(points: np.ndarray) -> float:
    """Half-width of a square view of the points: the bulk of them, not the few
    chains that wandered far off (they would shrink the shape to a dot)."""
    finite = points[np.isfinite(points).all(1)]
    return float(max(np.quantile(np.abs(finite), 0.98) * 1.25, 1.0)) if len(finite) else 1.0


def points_image(points: np.ndarray, limit: float | None = None, size: int = 256) -> np.ndarray:
    """Rasterise 2D points into a ``(1, size, size)`` density image in [0, 1]
    (white background, dark where points are; y axis up)."""
    pts = np.asarray(points, dtype=np.float64)[:, :2]
    pts = pts[np.isfinite(pts).all(1)]
    lim = limit if limit is not None else _points_bounds(pts)
    hist, _, _ = np.histogram2d(pts[:, 1], pts[:, 0], bins=size, range=[[-lim, lim], [-lim, lim]])
    hist = hist[::-1]
    density = hist / max(hist.max(), 1.0)
    return (1.0 - np.sqrt(density))[None].astype(np.float32)


def _guard(write, path: Path):
    try:
        result = write()
    except ExportError:
        raise
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    return result if result is not None else path
