"""Write trajectory samples: ``.csv``, ``.json``, a ``.png`` of the scenes, a chain ``.gif``/``.mp4``.

- ``.csv``: a header ``sample,step,x,y`` then one row per position (``step``
  is the time index along the trajectory), samples in order;
- ``.json``: ``{"kind": "trajectory", "samples": [{"points": [[x, y], …],
  "energy": e, "scene": {"start", "goal", "obstacles": [[cx, cy, r], …]},
  "observed": [[x, y], …], "reference": [[x, y], …]}, …],
  "chain": [{"step": s, "samples": [[[x, y], …], …]}, …]}``
  (``scene``, ``observed``, ``reference`` (the expert's path, the true one or a
  translation's source), ``energy`` and ``chain`` only when known; a chain entry's
  ``step`` is its frame's Langevin step, where the caller gives them);
- ``.png``: each sample drawn in its scene (obstacles grey, start green,
  goal red, the trajectory blue, expert/observed dashed black), in a grid over a
  strip that names the colours; the first :data:`PICTURE_CELLS` samples only
  (the text formats and ``.npz`` hold them all);
- ``.gif``/``.mp4``: the same grid for every recorded Langevin step.

:func:`read_trajectories_csv` and :func:`read_trajectories_json` read the
files back (round trip).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ebm_engine import atomic
from ebm_engine.data.scenes import split_scenes
from ebm_engine.errors import ExportError

TRAJECTORY_FORMATS = (".csv", ".json", ".png", ".gif", ".mp4", ".npz")
CELL = 192  # pixels per scene in pictures and animations
KEY_HEIGHT = 18  # a line of the strip under the grid that names the colours
#: Samples a picture or animation draws (the first ones): more cells would be too small.
PICTURE_CELLS = 16


def export_trajectories(samples: np.ndarray, path: Path, ext: str, *,
                        frames: list[np.ndarray] | None = None,
                        chain_steps: Sequence[int] | None = None,
                        energy: np.ndarray | None = None,
                        extras: dict[str, np.ndarray] | None = None,
                        extent: tuple[float, float, float, float] | None = None,
                        fps: int = 10) -> Path:
    """Write ``(N, T, 2)`` ``samples`` to ``path`` as ``ext`` (see the module docstring)."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 3 or samples.shape[-1] != 2:
        raise ExportError(f"trajectory samples must be (N, T, 2), got {samples.shape}")
    extras = extras or {}
    if ext == ".csv":
        return _write_text(path, to_csv(samples))
    if ext == ".json":
        return _write_text(path, to_json(samples, energy, extras, frames, chain_steps))
    if ext == ".png":
        return _save_png(render_grid(samples, extras, extent), path)
    if ext in (".gif", ".mp4"):
        from ebm_engine.export.video import save_animation

        steps = frames if frames else [samples]
        n = min(len(f) for f in steps)
        images = [render_grid(np.asarray(f[:n]), extras, extent) for f in steps]
        return save_animation(images, path, fps=fps)
    raise ExportError(f"cannot write trajectory samples as {ext or 'a file without extension'}; "
                      f"trajectory samples export as {' '.join(TRAJECTORY_FORMATS)}")


# --- text formats ---------------------------------------------------------------------
def to_csv(samples: np.ndarray) -> str:
    """``sample,step,x,y`` rows of ``(N, T, 2)`` trajectories."""
    out = io.StringIO()
    out.write("sample,step,x,y\n")
    for i, path in enumerate(samples):
        for t, (x, y) in enumerate(path):
            out.write(f"{i},{t},{float(x):.6g},{float(y):.6g}\n")
    return out.getvalue()


def read_trajectories_csv(path: str | Path) -> np.ndarray:
    """``(N, T, 2)`` trajectories from a ``sample,step,x,y`` file (all of one length)."""
    rows: dict[int, dict[int, tuple[float, float]]] = {}
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    if not lines or lines[0].strip().replace(" ", "") != "sample,step,x,y":
        raise ExportError(f"{path}: not a trajectory CSV (header 'sample,step,x,y' expected)")
    for no, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            i, t, x, y = line.split(",")
            rows.setdefault(int(i), {})[int(t)] = (float(x), float(y))
        except ValueError:
            raise ExportError(f"{path}, line {no}: expected 'sample,step,x,y', got {line!r}") from None
    lengths = {len(r) for r in rows.values()}
    if len(lengths) > 1:
        raise ExportError(f"{path}: trajectories of different lengths {sorted(lengths)}")
    return np.asarray([[r[t] for t in sorted(r)] for _, r in sorted(rows.items())],
                      dtype=np.float32).reshape(len(rows), -1, 2)


def to_json(samples: np.ndarray, energy: np.ndarray | None, extras: dict[str, np.ndarray],
            frames: list[np.ndarray] | None = None,
            chain_steps: Sequence[int] | None = None) -> str:
    """The JSON document of the module docstring."""
    scenes = extras.get("scenes")
    observed, reference = extras.get("observed"), extras.get("reference")
    items = []
    for i, path in enumerate(samples):
        item: dict = {"points": np.round(path.astype(float), 6).tolist()}
        if energy is not None and i < len(energy):
            item["energy"] = float(energy[i])
        if scenes is not None and i < len(scenes):
            start, goal, centres, radii = split_scenes(np.asarray(scenes[i:i + 1], dtype=float))
            item["scene"] = {"start": start[0].tolist(), "goal": goal[0].tolist(),
                             "obstacles": [[*c.tolist(), float(r)]
                                           for c, r in zip(centres[0], radii[0], strict=True)
                                           if r > 0]}
        for name, paths in (("observed", observed), ("reference", reference)):
            if paths is not None and i < len(paths):
                item[name] = np.round(np.asarray(paths[i], dtype=float), 6).tolist()
        items.append(item)
    doc: dict = {"kind": "trajectory", "samples": items}
    if frames and len(frames) > 1:
        # the Langevin step, not the frame's index (polish steps break "every K-th")
        known = chain_steps is not None and len(chain_steps) == len(frames)
        doc["chain"] = [{**({"step": int(chain_steps[k])} if known else {}),
                         "samples": np.round(np.asarray(f, dtype=float), 6).tolist()}
                        for k, f in enumerate(frames)]
    return json.dumps(doc) + "\n"


def read_trajectories_json(path: str | Path) -> tuple[np.ndarray, list[dict]]:
    """``(N, T, 2)`` trajectories and the per-sample records of a JSON export."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        items = doc["samples"]
        return np.asarray([it["points"] for it in items], dtype=np.float32).reshape(
            len(items), -1, 2), items
    except (ValueError, KeyError, TypeError) as exc:
        raise ExportError(f"{path}: not a trajectory JSON export ({exc})") from None


def _write_text(path: Path, text: str) -> Path:
    try:
        atomic.write_text(path, text)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def _save_png(image: np.ndarray, path: Path) -> Path:
    def write(tmp: Path) -> None:
        Image.fromarray(image).save(tmp, format="PNG")

    try:
        atomic.write_with(path, write)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


# --- pictures -------------------------------------------------------------------------
def _bounds(samples: np.ndarray, extras: dict, extent) -> tuple[float, float, float, float]:
    if extent is not None:
        return tuple(float(v) for v in extent)
    pts = [samples.reshape(-1, 2)]
    if "scenes" in extras:
        start, goal, _, _ = split_scenes(np.asarray(extras["scenes"]))
        pts += [start, goal]
    pts = np.concatenate(pts)
    pts = pts[np.isfinite(pts).all(1)]
    lo, hi = (pts.min(0), pts.max(0)) if len(pts) else (np.zeros(2) - 1, np.zeros(2) + 1)
    half = float(max((hi - lo).max() / 2 * 1.15, 0.5))
    mid = (lo + hi) / 2
    return mid[0] - half, mid[0] + half, mid[1] - half, mid[1] + half


def render_scene(path: np.ndarray, scene: np.ndarray | None = None,
                 reference: np.ndarray | None = None, extent=(-1.2, 1.2, -1.2, 1.2),
                 size: int = CELL) -> np.ndarray:
    """One trajectory in its scene as a ``(size, size, 3)`` uint8 picture (y up)."""
    xmin, xmax, ymin, ymax = extent
    sx, sy = (size - 1) / (xmax - xmin), (size - 1) / (ymax - ymin)

    def px(p) -> tuple[float, float]:
        return (float(p[0]) - xmin) * sx, (ymax - float(p[1])) * sy

    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    if scene is not None:
        start, goal, centres, radii = split_scenes(np.asarray(scene, dtype=float)[None])
        for c, r in zip(centres[0], radii[0], strict=True):
            if r > 0:
                (cx, cy), rr = px(c), r * sx
                draw.ellipse([cx - rr, cy - rr, cx + rr, cy + rr], fill=(170, 170, 170))
        for p, colour in ((start[0], (30, 150, 60)), (goal[0], (210, 40, 40))):
            x, y = px(p)
            draw.ellipse([x - 4, y - 4, x + 4, y + 4], fill=colour)
    if reference is not None:
        ref = [px(p) for p in np.asarray(reference) if np.isfinite(p).all()]
        for a, b in zip(ref[:-1:2], ref[1::2], strict=False):  # dashed: every other segment
            draw.line([a, b], fill=(0, 0, 0), width=1)
    pts = [px(p) for p in np.asarray(path) if np.isfinite(p).all()]
    if len(pts) > 1:
        draw.line(pts, fill=(40, 90, 220), width=2)
    for x, y in pts:
        draw.ellipse([x - 1.5, y - 1.5, x + 1.5, y + 1.5], fill=(40, 90, 220))
    return np.asarray(image)


def render_grid(samples: np.ndarray, extras: dict, extent=None, size: int = CELL,
                max_cells: int = PICTURE_CELLS) -> np.ndarray:
    """The first ``max_cells`` samples, each in its scene, tiled in a square-ish grid."""
    n = min(len(samples), max_cells)
    box = _bounds(samples[:n], {k: v[:n] for k, v in extras.items() if k == "scenes"}, extent)
    scenes, reference = extras.get("scenes"), extras.get("reference")
    observed = extras.get("observed")
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    grid = np.full((rows * (size + 2), cols * (size + 2), 3), 90, np.uint8)
    for i in range(n):
        ref = reference[i] if reference is not None and i < len(reference) else None
        if ref is None and observed is not None and i < len(observed):
            ref = observed[i]
        cell = render_scene(samples[i], scenes[i] if scenes is not None and i < len(scenes)
                            else None, ref, box, size)
        r, c = divmod(i, cols)
        grid[r * (size + 2) + 1:r * (size + 2) + 1 + size,
             c * (size + 2) + 1:c * (size + 2) + 1 + size] = cell
    # predictions (crowd) draw the true path and its ends; plans (navigation) the expert's;
    # a translation of strokes (no scene) its source
    predicted, translated = observed is not None, observed is None and scenes is None
    drawn = "prediction" if predicted else "translated" if translated else "sample"
    parts = [(drawn, (40, 90, 220))]
    if reference is not None or predicted:
        dashed = "true path" if predicted else "source" if translated else "expert"
        parts.append((f"{dashed} (dashed)", (0, 0, 0)))
    if scenes is not None:
        parts += [("first seen" if predicted else "start", (30, 150, 60)),
                  ("true end" if predicted else "goal", (210, 40, 40)),
                  ("obstacle", (170, 170, 170))]
    return np.concatenate([grid, _key_strip(grid.shape[1], parts)])


def _key_strip(width: int, parts: list[tuple[str, tuple[int, int, int]]]) -> np.ndarray:
    """A white strip naming what the cells draw: a swatch and a word per part, on as
    many lines of ``KEY_HEIGHT`` as the width needs."""
    from PIL import ImageFont

    font = ImageFont.load_default(size=11)  # scalable: the bitmap one loses spaces
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    places, x, row = [], 6, 0
    for word, colour in parts:
        size = 14 + int(measure.textlength(word, font=font)) + 12
        if x > 6 and x + size > width:
            x, row = 6, row + 1
        places.append((x, row, word, colour))
        x += size
    strip = Image.new("RGB", (width, KEY_HEIGHT * (row + 1)), "white")
    draw = ImageDraw.Draw(strip)
    for x, row, word, colour in places:
        top = row * KEY_HEIGHT
        draw.rectangle([x, top + 4, x + 10, top + KEY_HEIGHT - 4], fill=colour)
        draw.text((x + 14, top + 1), word, fill=(0, 0, 0), font=font)
    return np.asarray(strip)
