"""Render the demo catalogue's thumbnails (``resources/icons/demo-<name>.png``).

Run ``python -m app.thumbnails`` after adding a demo; the app only reads the PNGs.
"""

from __future__ import annotations

import sys

import numpy as np
from PIL import Image

from ebm_engine.config import DataConfig
from ebm_engine.data import demos, load_dataset, to_display
from ebm_engine.export.images import make_grid, to_uint8
from ebm_engine.export.samples import points_image
from ebm_engine.resources import resources_dir

SIZE = 96


def thumbnail(dataset) -> np.ndarray:
    """A ``(SIZE, SIZE, 3)`` uint8 picture of a dataset."""
    kind = dataset.kind
    if kind in ("text", "molecule"):
        return _symbols_thumbnail(dataset)
    if kind == "trajectory" and "scenes" in dataset.meta:  # paths in their scenes (navigation)
        from ebm_engine.export.trajectory import render_grid

        grid = render_grid(dataset.items.numpy()[:4], {"scenes": np.asarray(dataset.meta["scenes"])[:4]},
                           dataset.meta.get("extent"), size=SIZE // 2 - 2)
        return np.asarray(Image.fromarray(grid).resize((SIZE, SIZE), Image.BILINEAR))
    if kind == "trajectory" and "thumbnail_items" in dataset.meta:  # a few, one per cell
        from ebm_engine.export.trajectory import render_grid

        grid = render_grid(np.asarray(dataset.meta["thumbnail_items"])[:4], {},
                           dataset.meta.get("extent"), size=SIZE // 2 - 2)
        return np.asarray(Image.fromarray(grid).resize((SIZE, SIZE), Image.BILINEAR))
    if kind == "trajectory":
        return _trajectory_thumbnail(dataset)
    items = dataset.items.numpy()
    if kind == "points" or kind == "pointcloud":
        pts = items[: 2000] if kind == "points" else items[0][:, [0, 2]]
        img = to_uint8(points_image(pts, size=SIZE)[0])
        return np.repeat(img[..., None], 3, -1)
    if kind == "voxel":
        occ = (items[0, 0] > 0).mean(axis=0)  # projection along depth
        img = to_uint8(1.0 - occ / max(occ.max(), 1e-6))
        return np.asarray(Image.fromarray(img).resize((SIZE, SIZE), Image.NEAREST).convert("RGB"))
    if kind == "video":
        items = items[:, :, 0]
    # A demo may show other pictures of its items (inpainting: masked | whole).
    items = np.asarray(dataset.meta.get("thumbnail_items", items))
    disp = to_display(items[:4], "image", dataset.value_range)
    if disp.shape[-1] >= 2 * disp.shape[-2]:  # side-by-side pairs: one per row, not squashed
        grid = make_grid(disp[:3], nrow=1, pad=1)
        side = max(grid.shape[:2])
        square = np.zeros((side, side, 3), np.uint8)
        top, left = (side - grid.shape[0]) // 2, (side - grid.shape[1]) // 2
        square[top:top + grid.shape[0], left:left + grid.shape[1]] = grid
        grid = square
    else:
        grid = make_grid(disp, nrow=2, pad=1)
    return np.asarray(Image.fromarray(grid).resize((SIZE, SIZE), Image.NEAREST))


def _symbols_thumbnail(dataset) -> np.ndarray:
    """Text: the first words of a few sentences; molecules: RDKit's drawing of the first."""
    from PIL import ImageDraw

    spec = dataset.meta["symbols"]
    strings = spec.decode_all(dataset.stored[:6].numpy())
    if dataset.kind == "molecule":
        from rdkit.Chem import Draw

        from ebm_engine.metrics.symbols import parse_smiles

        return np.asarray(Draw.MolToImage(parse_smiles(strings[0]), size=(SIZE, SIZE))
                          .convert("RGB"))
    image = Image.new("RGB", (SIZE, SIZE), "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(strings):
        draw.text((3, 3 + 15 * i), line[:16], fill="black")
    return np.asarray(image)


def _trajectory_thumbnail(dataset) -> np.ndarray:
    """A few paths (observed past, if any, then the item) drawn in the data's extent."""
    from PIL import ImageDraw

    items = dataset.items.numpy()
    observed = dataset.meta.get("observed")
    pick = np.linspace(0, len(items) - 1, min(len(items), 40)).astype(int)
    paths = [np.concatenate([observed[i], items[i]]) if observed is not None else items[i]
             for i in pick]
    extent = dataset.meta.get("extent")
    if extent is None:
        allp = np.concatenate(paths)
        extent = (allp[:, 0].min(), allp[:, 0].max(), allp[:, 1].min(), allp[:, 1].max())
    xmin, xmax, ymin, ymax = (float(v) for v in extent)
    scale = (SIZE - 4) / max(xmax - xmin, ymax - ymin, 1e-6)
    image = Image.new("RGB", (SIZE, SIZE), "white")
    draw = ImageDraw.Draw(image)
    for i, path in enumerate(paths):
        xy = [(2 + (x - xmin) * scale, SIZE - 2 - (y - ymin) * scale) for x, y in path]
        draw.line(xy, fill=(40, 90 + (i * 37) % 120, 200), width=2)
    return np.asarray(image)


def main(names: list[str] | None = None) -> int:
    out = resources_dir() / "icons"
    out.mkdir(parents=True, exist_ok=True)
    for name in names or list(demos()):
        ds = load_dataset(DataConfig(source=name))
        Image.fromarray(thumbnail(ds)).save(out / f"demo-{name}.png")
        print("wrote", out / f"demo-{name}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
