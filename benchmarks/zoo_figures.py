"""Pictures of 3D samples for the zoo and benchmark tables (matplotlib, off screen)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def draw_3d(samples: np.ndarray, kind: str, out: str | Path, columns: int = 4) -> Path:
    """Draw up to 16 voxel grids ``(N, 1, D, D, D)`` or point clouds ``(N, P, 3)`` to a PNG.

    Voxels: occupied cells (value above the middle of their range) as cubes;
    points: a scatter coloured by height.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = np.asarray(samples, dtype=np.float32)[:16]
    rows = -(-len(items) // columns)
    fig = plt.figure(figsize=(2.2 * columns, 2.2 * rows), dpi=80)
    for i, item in enumerate(items):
        ax = fig.add_subplot(rows, columns, i + 1, projection="3d")
        ax.set_axis_off()
        if kind == "voxel":
            grid = item.reshape(item.shape[-3:])
            cut = 0.5 * (float(grid.min()) + float(grid.max()))
            ax.voxels(grid > cut, facecolors="#4a90d9", edgecolor="#20406080", linewidth=0.2)
        else:
            pts = item.reshape(-1, 3)
            ax.scatter(pts[:, 0], pts[:, 2], pts[:, 1], c=pts[:, 1], s=2, cmap="viridis")
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out)
    plt.close(fig)
    return out
