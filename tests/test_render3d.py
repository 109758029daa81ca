"""3D samples as a PNG grid without OpenGL: upright, one picture per sample."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ebm_engine.cli import main
from ebm_engine.export.render3d import CELL, cloud_pictures, voxel_pictures


def _extent(picture: np.ndarray) -> tuple[int, int]:
    """(height, width) of the ink in a grey picture."""
    rows, cols = np.nonzero(picture < 0.99)
    return int(np.ptp(rows)) + 1, int(np.ptp(cols)) + 1


def test_a_column_along_z_stands_up_and_one_along_x_lies_down():
    grid = -np.ones((2, 1, 16, 16, 16), np.float32)  # model space: full above 0
    grid[0, 0, 7:9, 7:9, 1:15] = 1.0   # (x, y, z) indexing: a column along z (up)
    grid[1, 0, 1:15, 7:9, 7:9] = 1.0   # a bar along x
    up, flat = voxel_pictures(grid)[:, 0]
    assert up.shape == (CELL, CELL)
    h, w = _extent(up)
    assert h > 2 * w  # standing
    h, w = _extent(flat)
    assert w > 2 * h  # lying
    line = np.linspace(-0.9, 0.9, 200)
    column = np.stack([np.zeros_like(line), np.zeros_like(line), line], 1)
    h, w = _extent(cloud_pictures(column[None])[0, 0])
    assert h > 3 * w
    assert (voxel_pictures(-np.ones((1, 1, 8, 8, 8))) == 1.0).all()  # empty grid: blank


def test_cli_writes_a_png_grid_of_point_clouds(tmp_path):
    out = tmp_path / "clouds.png"
    assert main(["sample", "--run", "zoo:shapes-points-ml", "--n", "4", "--steps", "2",
                 "--out", str(out)]) == 0
    picture = np.asarray(Image.open(out).convert("L"))
    assert picture.shape[0] > CELL and picture.shape[1] > CELL  # 2 × 2 cells
    assert (picture < 200).mean() > 0.01  # dots were drawn


def test_each_3d_sample_can_go_to_its_own_file(tmp_path, capsys):
    from ebm_engine.export.pointcloud import read_ply_points

    out = tmp_path / "cloud.ply"
    assert main(["sample", "--run", "zoo:shapes-points-ml", "--n", "3", "--steps", "1",
                 "--each", "--out", str(out)]) == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["cloud_000.ply", "cloud_001.ply", "cloud_002.ply"]
    assert read_ply_points(tmp_path / "cloud_001.ply").shape == (512, 3)  # one cloud, not three
    assert main(["sample", "--run", "zoo:digits-ml", "--n", "2", "--each",
                 "--out", str(tmp_path / "x.png")]) == 2
    assert "--each writes 3D samples one per file" in capsys.readouterr().err
