"""CLI round trip for the 3D and video demos: train 20 iterations, sample to a
mesh / point cloud / video file, read it back."""

from __future__ import annotations

import numpy as np
import pytest

from ebm_engine.cli import main
from ebm_engine.export import read_animation
from ebm_engine.export.mesh import read_mesh
from ebm_engine.export.pointcloud import read_ply_points
from ebm_engine.learning.loading import load_model

FAST = ["--set", "train.batch_size=4", "--set", "sampler.n_steps=3", "--set", "model.width=8",
        "--set", "train.checkpoint_every=0", "--set", "data.max_items=16", "--quiet"]


@pytest.mark.parametrize("demo", ["shapes-voxels", "shapes-points", "dynamic-texture"])
def test_train_20_then_sample_to_3d_files(tmp_path, capsys, demo):
    run = tmp_path / "R"
    assert main(["train", "--data", demo, "--steps", "20", "--out", str(run), *FAST]) == 0
    spec = load_model(run).spec
    npz = tmp_path / "s.npz"
    assert main(["sample", "--run", str(run), "--n", "4", "--steps", "3", "--out", str(npz)]) == 0
    with np.load(npz) as z:
        samples = z["samples"]
    assert samples.shape == (4, *spec.item_shape)
    if demo == "shapes-voxels":
        out = tmp_path / "shapes.stl"
        # Thresholding these 4 samples at 0 must give a surface for the file to exist.
        has_surface = [(s > 0).any() and (s <= 0).any() for s in samples]
        code = main(["sample", "--run", str(run), "--n", "4", "--steps", "3", "--out", str(out)])
        if any(has_surface):
            assert code == 0
            vertices, faces = read_mesh(out)
            assert len(faces) > 0 and vertices.shape[1] == 3
        else:  # all empty or all full: a clear error, not a broken file
            assert code == 2 and not out.exists()
    elif demo == "shapes-points":
        out = tmp_path / "shapes.ply"
        assert main(["sample", "--run", str(run), "--n", "4", "--steps", "3", "--out", str(out)]) == 0
        points = read_ply_points(out)
        assert points.shape == (4 * spec.item_shape[0], 3) and np.isfinite(points).all()
    else:
        out = tmp_path / "clips.mp4"
        assert main(["sample", "--run", str(run), "--n", "4", "--steps", "3", "--out", str(out)]) == 0
        frames = read_animation(out)
        assert frames.shape[0] == spec.item_shape[1]  # one video frame per clip frame
    capsys.readouterr()
