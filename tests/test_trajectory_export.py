"""Trajectory exports: CSV and JSON round trips, pictures and chain animations, bad files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ebm_engine.data.scenes import make_scenes, segment_clearance, split_scenes
from ebm_engine.errors import ExportError
from ebm_engine.export.samples import export_samples
from ebm_engine.export.trajectory import read_trajectories_csv, read_trajectories_json


def _scene_batch(n: int = 3, t: int = 6):
    gen = np.random.default_rng(0)
    paths = np.cumsum(gen.normal(size=(n, t, 2)), axis=1).astype(np.float32) * 0.1
    scenes = make_scenes(paths[:, 0], paths[:, -1], np.zeros((n, 2, 2)) + [[0.0, 0.0], [0.5, 0.5]],
                         np.array([[0.2, 0.0]] * n))
    return paths, scenes


def test_scene_layout_round_trip():
    paths, scenes = _scene_batch()
    start, goal, centres, radii = split_scenes(scenes)
    assert scenes.shape == (3, 10)
    np.testing.assert_allclose(start, paths[:, 0])
    np.testing.assert_allclose(goal, paths[:, -1])
    np.testing.assert_allclose(radii, [[0.2, 0.0]] * 3)
    assert np.array_equal(make_scenes(start, goal, centres, radii), scenes)


def test_segment_clearance_sees_a_crossing_between_waypoints():
    # waypoints on either side of a disc: no waypoint inside, the segment crosses it
    path = np.array([[[-1.0, 0.0], [1.0, 0.0]]])
    assert segment_clearance(path, np.zeros((1, 1, 2)), np.array([[0.3]]))[0] == pytest.approx(-0.3)
    around = np.array([[[-1.0, 0.5], [1.0, 0.5]]])
    assert segment_clearance(around, np.zeros((1, 1, 2)), np.array([[0.3]]))[0] == pytest.approx(0.2)
    assert segment_clearance(path, np.zeros((1, 1, 2)), np.array([[0.0]]))[0] == np.inf


def test_csv_round_trip(tmp_path):
    paths, _ = _scene_batch()
    out = export_samples(paths, "trajectory", None, tmp_path / "x.csv")
    lines = out.read_text().splitlines()
    assert lines[0] == "sample,step,x,y" and len(lines) == 1 + 3 * 6
    np.testing.assert_allclose(read_trajectories_csv(out), paths, atol=1e-5)


def test_json_round_trip_keeps_scenes_and_energies(tmp_path):
    paths, scenes = _scene_batch()
    energy = np.array([1.0, 2.0, 3.0], np.float32)
    out = export_samples(paths, "trajectory", None, tmp_path / "x.json", energy=energy,
                         frames=[paths * 0, paths], extras={"scenes": scenes,
                                                            "extent": np.array([-1, 1, -1, 1])})
    back, items = read_trajectories_json(out)
    np.testing.assert_allclose(back, paths, atol=1e-5)
    assert [it["energy"] for it in items] == [1.0, 2.0, 3.0]
    assert items[0]["scene"]["obstacles"] == [[0.0, 0.0, pytest.approx(0.2)]]  # r = 0 dropped
    assert len(json.loads(out.read_text())["chain"]) == 2


def test_pictures_and_chain_animations(tmp_path):
    from PIL import Image

    from ebm_engine.export.video import read_animation

    paths, scenes = _scene_batch()
    extras = {"scenes": scenes, "reference": paths[:, ::-1]}
    png = export_samples(paths, "trajectory", None, tmp_path / "x.png", extras=extras)
    image = np.asarray(Image.open(png))
    assert image.ndim == 3 and (image[..., 2] > 200).any()  # blue paths drawn
    for ext in (".gif", ".mp4"):
        out = export_samples(paths, "trajectory", None, tmp_path / f"c{ext}", extras=extras,
                             frames=[paths + 0.3, paths + 0.1, paths])
        assert len(read_animation(out)) == 3


def test_the_picture_names_its_colours_for_plans_and_for_predictions():
    """The PNGs had no key: what is blue, what is dashed? A strip under the grid names
    them, in the words of the task (a plan's expert; a prediction's true path)."""
    from ebm_engine.export.trajectory import CELL, KEY_HEIGHT, render_grid

    paths, scenes = _scene_batch(4)
    plans = render_grid(paths, {"scenes": scenes, "reference": paths[:, ::-1]})
    assert plans.shape[0] == 2 * (CELL + 2) + KEY_HEIGHT
    key = plans[-KEY_HEIGHT:]
    assert (key < 60).all(-1).any()  # words written
    assert ((key[..., 2] > 200) & (key[..., 0] < 80)).any()  # the blue swatch
    predicted = render_grid(paths, {"scenes": scenes, "observed": paths[:, :2],
                                    "reference": paths})
    assert not np.array_equal(predicted[-KEY_HEIGHT:], key)  # other words: "prediction" …


def test_a_translation_of_strokes_names_its_dashed_stroke_the_source(monkeypatch):
    """The key under a translated stroke read "sample / expert (dashed)": navigation's
    words, where the dashed stroke is the source the translation started from."""
    from ebm_engine.export import trajectory

    said = []
    real = trajectory._key_strip
    monkeypatch.setattr(trajectory, "_key_strip",
                        lambda width, parts: said.append([w for w, _ in parts]) or real(width, parts))
    paths, scenes = _scene_batch(4)
    trajectory.render_grid(paths, {"reference": paths[:, ::-1]})
    trajectory.render_grid(paths, {"scenes": scenes, "reference": paths[:, ::-1]})
    assert said[0] == ["translated", "source (dashed)"]
    assert said[1][:2] == ["sample", "expert (dashed)"]


def test_bad_exports_are_one_line(tmp_path):
    paths, _ = _scene_batch()
    with pytest.raises(ExportError, match="export as .csv"):
        export_samples(paths, "trajectory", None, tmp_path / "x.stl")
    bad = tmp_path / "bad.csv"
    bad.write_text("sample,step,x,y\n0,0,1.0\n")
    with pytest.raises(ExportError, match="line 2"):
        read_trajectories_csv(bad)
    (tmp_path / "other.csv").write_text("a,b\n")
    with pytest.raises(ExportError, match="header"):
        read_trajectories_csv(tmp_path / "other.csv")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ExportError, match="not a trajectory JSON"):
        read_trajectories_json(tmp_path / "bad.json")


def test_chain_frames_carry_their_langevin_steps_not_their_index(tmp_path):
    """--record-every 2 records steps 0, 2, 4 … and the final state after the polish
    steps: the JSON's chain "step" and the NPZ's chain_steps say those, as ChainFrame.step
    does (the JSON said 0, 1, 2 …, the NPZ nothing)."""
    import torch

    from ebm_engine.cli import main
    from ebm_engine.learning.loading import load_model

    loaded = load_model("zoo:navigation-ioc-ioc", "cpu")
    loaded.method.rng.manual_seed(0)
    torch.manual_seed(0)
    steps = [f.step for f in loaded.method.sample(4, n_steps=loaded.method.sample_steps,
                                                  record_every=2, n_record=4)]
    assert steps != list(range(len(steps)))
    for ext in (".json", ".npz"):
        assert main(["sample", "--run", "zoo:navigation-ioc-ioc", "--n", "4", "--record-every",
                     "2", "--out", str(tmp_path / f"rec{ext}")]) == 0
    chain = json.loads((tmp_path / "rec.json").read_text())["chain"]
    assert [c["step"] for c in chain] == steps
    with np.load(tmp_path / "rec.npz") as z:
        assert z["chain_steps"].tolist() == steps and len(z["chain"]) == len(steps)


def test_other_kinds_npz_chains_carry_their_steps_too(tmp_path):
    from ebm_engine.cli import main

    assert main(["sample", "--run", "zoo:8gaussians-ml", "--n", "4", "--steps", "10",
                 "--record-every", "5", "--out", str(tmp_path / "p.npz")]) == 0
    with np.load(tmp_path / "p.npz") as z:
        assert z["chain_steps"].tolist() == [0, 5, 10] and z["chain"].shape[:2] == (3, 4)


def test_a_picture_of_more_samples_than_it_draws_says_so(tmp_path, capsys):
    """25 plans to a PNG draw 16 scenes: "wrote 25 samples" alone claimed all of them."""
    from PIL import Image

    from ebm_engine.cli import main
    from ebm_engine.export.trajectory import CELL

    out = tmp_path / "p.png"
    assert main(["sample", "--run", "zoo:navigation-ioc-ioc", "--n", "25", "--steps", "2",
                 "--out", str(out)]) == 0
    assert Image.open(out).width == 4 * (CELL + 2)  # 4 × 4 scenes, not 5 × 5
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line == f"wrote 25 samples to {out} (the picture shows the first 16 of 25)"
    for ext in (".gif", ".csv"):  # an animation draws as many; the text formats hold all
        assert main(["sample", "--run", "zoo:navigation-ioc-ioc", "--n", "25", "--steps", "2",
                     "--out", str(tmp_path / f"p{ext}")]) == 0
        line = capsys.readouterr().out.strip().splitlines()[-1]
        assert line.endswith("(the animation shows the first 16 of 25)" if ext == ".gif"
                             else f"p{ext}")
    assert main(["sample", "--run", "zoo:navigation-ioc-ioc", "--n", "16", "--steps", "2",
                 "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip().endswith(f"wrote 16 samples to {out}")
