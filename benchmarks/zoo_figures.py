"""Pictures of 3D samples for the zoo and benchmark tables (matplotlib, off screen)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def draw_3d(samples: np.ndarray, kind: str, out: str | Path, columns: int = 4) -> Path:
    """Draw up to 16 voxel grids ``(N, 1, D, D, D)`` or point clouds ``(N, P, 3)`` to a PNG.

    Voxels: occupied cells (value above 0, the middle of the data range) as
    cubes; points: a scatter coloured by height (z, drawn vertical).
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
            # Occupied = above the middle of the data range [-1, 1] (a per-item cut
            # would show a nearly empty grid as full).
            grid = item.reshape(item.shape[-3:])
            ax.voxels(grid > 0.0, facecolors="#4a90d9", edgecolor="#20406080", linewidth=0.2)
        else:
            pts = item.reshape(-1, 3)  # z is the shapes' up axis: drawn vertical
            ax.scatter(pts[:, 0], pts[:, 1], pts[:, 2], c=pts[:, 2], s=2, cmap="viridis")
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out)
    plt.close(fig)
    return out
