"""A user's points in D != 2 dimensions: a metric that tells good samples from bad,
and a sample picture that shows one dot per sample, not D/2 made-up points."""

from __future__ import annotations

import numpy as np

from ebm_engine.cli import main
from ebm_engine.export.scatter import plane_of
from ebm_engine.metrics.vectors import vector_metrics


def test_kernel_mmd_separates_good_from_bad_samples_and_has_a_floor():
    rng = np.random.default_rng(0)
    data = rng.normal(size=(2000, 10)) + np.arange(10) * 0.5
    good = rng.normal(size=(500, 10)) + np.arange(10) * 0.5
    shifted = good + 0.5
    narrow = (good - good.mean(0)) * 0.3 + good.mean(0)
    score = {name: vector_metrics(x, data)["mmd_rbf"]
             for name, x in (("good", good), ("shifted", shifted), ("narrow", narrow))}
    floor = vector_metrics(good, data)["mmd_rbf_floor"]
    assert score["good"] < 3 * floor + 1e-3
    assert score["shifted"] > 10 * score["good"] and score["narrow"] > 10 * score["good"]
    blown = good.copy()
    blown[:450] = np.nan  # chains that blew up count against, not away
    assert vector_metrics(blown, data)["mmd_rbf"] > 100 * score["good"]
    assert vector_metrics(blown, data)["mmd_rbf_floor"] == floor  # at the size asked for


def test_the_picture_of_10d_points_has_one_dot_per_sample():
    pts = np.arange(40, dtype=float).reshape(4, 10)
    plane, axes = plane_of(pts)
    assert plane.shape == (4, 2) and (plane == pts[:, :2]).all() and axes == "coordinates 1, 2 of 10"
    line, axes = plane_of(np.arange(3.0)[:, None])
    assert line.shape == (3, 2) and (line[:, 1] == 0).all() and "1-D" in axes
    same, axes = plane_of(pts[:, :2])
    assert (same == pts[:, :2]).all() and axes == "x, y"


def test_a_10d_run_is_evaluated(tmp_path, capsys):
    data = tmp_path / "vec.npy"
    np.save(data, np.random.default_rng(0).normal(size=(200, 10)).astype(np.float32))
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--steps", "2", "--out", str(run), "--quiet",
                 "--set", "sampler.n_steps=2"]) == 0
    capsys.readouterr()
    assert main(["eval", "--run", str(run), "--n", "64", "--no-write"]) == 0
    out = capsys.readouterr().out
    assert "mmd_rbf " in out and "(lower is better)" in out and "mmd_rbf_floor" in out
    assert main(["sample", "--run", str(run), "--n", "8", "--steps", "1",
                 "--out", str(tmp_path / "x.png")]) == 0


def test_the_exported_picture_has_one_dot_per_10d_sample(tmp_path):
    from PIL import Image
    from scipy import ndimage

    from ebm_engine.export.samples import export_samples

    rng = np.random.default_rng(0)
    samples = rng.normal(size=(4, 10))
    samples[:, :2] = [[-2, -2], [-2, 2], [2, -2], [2, 2]]  # well apart in coordinates 1, 2
    out = export_samples(samples.astype(np.float32), "points", None, tmp_path / "p.png")
    dots = np.asarray(Image.open(out).convert("L"), np.float32)[4:-20, 4:-4] / 255 < 0.3
    assert ndimage.label(dots)[1] == 4  # (inside the frame) cut into 2D pairs there were 20

