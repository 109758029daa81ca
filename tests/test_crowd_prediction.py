"""Crowd prediction: the social-force simulator, the pedestrian-format reader
(round trip, one-line errors naming the line, detection by content), the
prediction metrics, and the latent-belief EBM method (train, eval, sample,
checkpoint)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ebm_engine.config import DataConfig
from ebm_engine.data import crowd_sim, detect_reader, load_dataset
from ebm_engine.data.tracks import OBSERVED, PREDICTED, TrackTable, trajectory_dataset
from ebm_engine.data.trajectory_files import looks_like_tracks, parse_tracks, write_tracks
from ebm_engine.errors import DataError
from ebm_engine.learning.loading import load_model
from ebm_engine.learning.trainer import Trainer
from ebm_engine.metrics.prediction import constant_velocity, displacement_errors
from ebm_engine.presets import config_for


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def plaza() -> TrackTable:
    return crowd_sim.simulate(150, seed=3)


# --- simulator ---------------------------------------------------------------------------
def test_simulator_is_deterministic_and_agents_avoid_pillars(plaza):
    again = crowd_sim.simulate(150, seed=3)
    assert np.array_equal(plaza.frame, again.frame) and np.array_equal(plaza.xy, again.xy)
    other = crowd_sim.simulate(150, seed=4)
    assert len(other) != len(plaza) or not np.array_equal(other.xy, plaza.xy)
    # Nobody walks through a pillar (centres are at least a radius away).
    d = np.linalg.norm(plaza.xy[:, None] - crowd_sim.OBSTACLES[None, :, :2], axis=2)
    assert (d > crowd_sim.OBSTACLES[None, :, 2]).all()
    steps = np.linalg.norm(np.diff(plaza.xy[np.lexsort((plaza.frame, plaza.agent))], axis=0), axis=1)
    assert np.median(steps) == pytest.approx(1.3 * crowd_sim.FRAME_DT, rel=0.25)  # walking pace


def test_dataset_layout_futures_with_observed_pasts(plaza):
    ds = trajectory_dataset("plaza", plaza, heldout_share=0.2)
    assert ds.kind == "trajectory" and ds.item_shape == (PREDICTED, 2)
    assert ds.meta["observed"].shape == (len(ds), OBSERVED, 2)
    assert ds.meta["conditions"] == ("observed",)
    assert len(ds.meta["heldout"]) == len(ds.meta["heldout_observed"]) > 0
    # The future continues the past: one walking step from the last observed position.
    gap = np.linalg.norm(ds.items.numpy()[:, 0] - ds.meta["observed"][:, -1], axis=1)
    assert gap.max() < 1.0


# --- reader ------------------------------------------------------------------------------
@pytest.mark.parametrize("sep", ["\t", " ", ","])
def test_reader_round_trips_the_pedestrian_format(tmp_path, plaza, sep):
    path = tmp_path / "tracks.txt"
    write_tracks(path, plaza, sep)
    back = parse_tracks(path)
    assert np.array_equal(back.frame, plaza.frame) and np.array_equal(back.agent, plaza.agent)
    assert np.array_equal(back.xy, plaza.xy)  # exact, not approximately
    ds = load_dataset(DataConfig(str(path), options={"reader": "trajectories", "short_agents": "skip"}))
    assert ds.kind == "trajectory" and ds.meta["reader"] == "trajectories"


def test_reader_accepts_eth_style_floats_header_and_comments(tmp_path):
    rows = ["# frame agent x y", "frame,agent,x,y"]
    rows += [f"{10.0 * f:.1f}, {a}.0, {0.4 * f + a:.3f}, {1.5 * a:.3f}"
             for f in range(25) for a in (1, 2)]
    path = tmp_path / "eth.csv"
    path.write_text("\n".join(rows) + "\n")
    table = parse_tracks(path)
    assert table.frame_step() == 10 and len(table) == 50
    ds = load_dataset(DataConfig(str(path)))  # .csv: this reader
    assert len(ds) == 2 * (25 - OBSERVED - PREDICTED + 1)
    np.testing.assert_allclose(ds.meta["observed"][0, :, 0], 0.4 * np.arange(8) + 1, atol=1e-5)


def good_rows(agents=(1, 2), frames=20) -> list[str]:
    return [f"{f} {a} {0.1 * f} {float(a)}" for f in range(frames) for a in agents]


@pytest.mark.parametrize("bad_line, message", [
    ("5 1 0.3", r"line 41: expected 4 values"),
    ("5 1 nan 0.2", r"line 41: position is not finite"),
    ("5 x 0.1 0.2", r"line 41: frame and agent must be integers"),
    ("5 1 0.1 abc", r"line 41: x and y must be numbers"),
    ("5 1 0.1 0.2", r"line 41: agent 1 appears twice in frame 5 \(first on line 11\)"),
])
def test_reader_names_the_bad_line(tmp_path, bad_line, message):
    path = tmp_path / "bad.txt"
    path.write_text("\n".join(good_rows() + [bad_line]) + "\n")
    with pytest.raises(DataError, match=message) as err:
        load_dataset(DataConfig(str(path), options={"reader": "trajectories"}))
    assert "\n" not in str(err.value)


def test_reader_short_agents_and_nothing_usable(tmp_path):
    path = tmp_path / "short.txt"
    rows = good_rows() + [f"{f} 7 1.0 {0.1 * f}" for f in range(30, 35)]
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"line 41: agent 7 has only 5 consecutive frames"):
        load_dataset(DataConfig(str(path), options={"reader": "trajectories"}))
    ds = load_dataset(DataConfig(str(path), options={"reader": "trajectories", "short_agents": "skip"}))
    assert len(ds) == 2
    path.write_text("\n".join(good_rows(frames=12)) + "\n")
    with pytest.raises(DataError, match=r"line 1: nothing usable, no agent has 20"):
        load_dataset(DataConfig(str(path), options={"reader": "trajectories", "short_agents": "skip"}))
    path.write_text("\n# only a comment\n")
    with pytest.raises(DataError, match="no positions"):
        load_dataset(DataConfig(str(path), options={"reader": "trajectories"}))


def test_txt_is_detected_by_content(tmp_path):
    tracks, sentences = tmp_path / "a.txt", tmp_path / "b.txt"
    tracks.write_text("\n".join(good_rows()) + "\n")
    sentences.write_text("the dog runs .\n12 monkeys 3 4\n")
    assert looks_like_tracks(tracks) and not looks_like_tracks(sentences)
    assert detect_reader(tracks)[0] == "trajectories"
    assert detect_reader(sentences)[0] == "text-lines"


# --- metrics -----------------------------------------------------------------------------
def test_constant_velocity_and_best_of_k():
    t = np.arange(20, dtype=np.float64)
    line = np.stack([0.5 * t, 0.2 * t], 1)[None]  # a straight walk
    cv = constant_velocity(line[:, :8], 12)
    np.testing.assert_allclose(cv, line[:, 8:], atol=1e-12)
    truth = line[:, 8:]
    preds = np.stack([truth + 1.0, truth + 0.1, truth - 3.0], 1)  # (1, 3, T, 2)
    ade, fde = displacement_errors(preds, truth)
    assert ade[0] == pytest.approx(0.1 * np.sqrt(2)) and fde[0] == pytest.approx(0.1 * np.sqrt(2))


# --- method ------------------------------------------------------------------------------
TINY = {"z_dim": 4, "feature_dim": 16, "gen_width": 32, "post_steps": 3, "best_of": 5}


def tiny_cfg(**options):
    return config_for("crowd-prediction", "crowd-prediction", overrides=[
        ("data.options", {"frames": 150}), ("model.width", 32), ("train.batch_size", 32),
        ("train.sample_every", 1000), ("train.record_every", 0), ("train.checkpoint_every", 0),
        ("train.device", "cpu"), ("sampler.n_steps", 5), ("train.options", {**TINY, **options}),
    ])


@pytest.mark.parametrize("prior", ["ebm", "gaussian"])
def test_method_trains_evaluates_and_samples_from_its_checkpoint(tmp_path, prior):
    run = tmp_path / "run"
    trainer = Trainer(tiny_cfg(prior=prior), run)
    events = list(trainer.events(3))
    assert np.isfinite(trainer.method.train_step(trainer.dataset.items[:32], 0).metrics["gen_loss"])
    assert events
    trainer.save_checkpoint()
    loaded = load_model(run, "cpu")
    frames = list(loaded.method.sample(6))
    last = frames[-1]
    assert last.x.shape == (6, PREDICTED, 2)
    assert last.extras["observed"].shape == (6, OBSERVED, 2)
    assert last.extras["reference"].shape == (6, OBSERVED + PREDICTED, 2)  # the whole true path
    assert last.extras["scenes"].shape == (6, 4 + 3 * len(crowd_sim.OBSTACLES))
    scores = loaded.method.evaluate(trainer.dataset, 40, seed=0)
    assert {"ade", "fde", "ade_cv", "fde_cv", "ade_gain_cv"} <= set(scores)
    assert all(np.isfinite(v) for v in scores.values())


def test_cli_eval_reports_ade_against_constant_velocity(tmp_path, capsys):
    from ebm_engine.cli import main

    run = tmp_path / "run"
    Trainer(tiny_cfg(), run).save_checkpoint()
    assert main(["eval", "--run", str(run), "--n", "30"]) == 0
    out = capsys.readouterr().out
    assert "ade_cv" in out and "fde" in out
    assert main(["sample", "--run", str(run), "--n", "4", "--out", str(tmp_path / "x.csv")]) == 0
    rows = (tmp_path / "x.csv").read_text().splitlines()
    assert rows[0] == "sample,step,x,y" and len(rows) == 1 + 4 * PREDICTED


def test_persistent_posterior_latents_are_written_back_and_checkpointed(tmp_path):
    trainer = Trainer(tiny_cfg(post_persistent=True), tmp_path / "run")
    before = trainer.method.post_latents.clone()
    list(trainer.events(2))
    changed = (trainer.method.post_latents != before).any(1)
    assert 0 < int(changed.sum()) <= 2 * 32  # only the rows of the two batches moved
    folder = trainer.save_checkpoint()
    resumed = Trainer.resume(tmp_path / "run", folder)
    assert torch.equal(resumed.method.post_latents, trainer.method.post_latents)


def test_the_gain_over_an_exact_baseline_is_undefined_not_huge():
    """Agents on straight lines: constant velocity is exact, and 1 − ade/ade_cv would be
    about −1e6 (a model a hair off); it is NaN, and the errors themselves stand."""
    from ebm_engine.metrics.prediction import prediction_metrics

    t = np.arange(20, dtype=np.float64)
    line = np.stack([0.4 * t + 3.0, 0.1 * t], axis=-1)[None]  # (1, 20, 2)
    observed, truth = line[:, :8], line[:, 8:]
    samples = truth[:, None] + 0.01  # (1, K=1, 12, 2), slightly off
    scores = prediction_metrics(samples, observed, truth)
    assert scores["ade_cv"] < 1e-9 and np.isnan(scores["ade_gain_cv"])
    assert abs(scores["ade"] - 0.01 * np.sqrt(2)) < 1e-9
    curved = truth + np.linspace(0, 1, 12)[None, :, None] ** 2  # a baseline that misses
    scores = prediction_metrics(curved[:, None], observed, curved)
    assert scores["ade"] < 1e-12 and abs(scores["ade_gain_cv"] - 1.0) < 1e-9
