"""The Learn concepts (engine side, no Qt): a page each, and demos that yield frames."""

from __future__ import annotations

import numpy as np
import pytest

from ebm_engine.learn import CONCEPTS, concept
from ebm_engine.learn.frames import Curve, Heat, LearnFrame, Points

FIVE = ("kl-divergence", "analysis-by-synthesis", "self-critic", "short-run-vs-persistent",
        "classifier")


def test_the_five_part_one_concepts_have_a_page_with_an_equation():
    assert tuple(c.name for c in CONCEPTS) == FIVE
    for c in CONCEPTS:
        text = c.text()
        assert c.path.is_file(), c.path
        assert text.startswith("# ") and "**The demo**" in text
        assert "\n    " in text  # the equation block (indented, as the About cards)


@pytest.mark.parametrize("name", FIVE)
def test_each_demo_yields_finite_frames_from_the_engine(name):
    frames = list(concept(name).demo(iterations=2, every=1))
    assert [f.iteration for f in frames] == [1, 2]
    for frame in frames:
        assert isinstance(frame, LearnFrame) and frame.total == 2 and frame.caption
        for plot in frame.plots:
            for layer in plot.layers:
                arrays = {Points: ("xy",), Curve: ("x", "y"), Heat: ("values",)}[type(layer)]
                for a in arrays:
                    value = np.asarray(getattr(layer, a), np.float64)
                    if getattr(layer, "role", "") == "chains":  # paths are NaN-separated
                        value = value[~np.isnan(value)]
                    assert value.size and np.isfinite(value).all(), (name, plot.title, a)


def test_short_run_and_persistent_train_equal_models_side_by_side():
    frame = next(concept("short-run-vs-persistent").demo(iterations=1))
    roles = {layer.role for p in frame.plots for layer in p.layers if isinstance(layer, Points)}
    assert {"short-run", "persistent", "data"} <= roles
    left, right = frame.plots[0], frame.plots[1]
    assert left.row == right.row and left.col != right.col  # side by side


def test_the_pages_state_the_part_one_equations_with_their_signs_and_directions():
    """What a student copies from the pages: the ML gradient for p ∝ exp(−E) (data term
    first), ML as KL(p_data ‖ p_θ) and not the reverse, the self-critic's pair of KLs in
    which Z(θ) cancels (the generator samples p_θ, it does not minimise E), and JEM's
    energy as the negative log-sum-exp of the logits."""
    kl = concept("kl-divergence").text()
    assert "∇θ KL(p_data ‖ p_θ) = E_data[∇θ E_θ(x)] − E_{p_θ}[∇θ E_θ(x̃)]" in kl
    assert "KL(p_θ ‖ p_data)" in kl and "does not minimise it" in kl
    critic = concept("self-critic").text()
    assert "KL(p_data ‖ p_θ) − KL(q ‖ p_θ)" in critic and "min_q  KL(q ‖ p_θ)" in critic
    assert "argmin" not in critic
    assert "E_data[∇θ E_θ(x)] = E_{p_θ}[∇θ E_θ(x̃)]" in critic  # equilibrium: all statistics
    assert "E_θ(x)     = −log Σ_y exp(−E(x, y))  =  −logsumexp_y l_θ(x)[y]" in concept(
        "classifier").text()
    short = concept("short-run-vs-persistent").text()
    assert "Nijkamp" in short and "M_θ(x₀" in short  # the K-step chain is the learnt generator


def test_the_short_run_kl_curves_come_with_what_real_data_score():
    """256 samples on a 24 × 24 grid leave cells empty: even fresh data score about 1 nat,
    and both curves flattened near 1 as if the models were poor. The plot draws that floor."""
    from ebm_engine.data.toy2d import toy_points
    from ebm_engine.learn.demos import KL_BINS
    from ebm_engine.metrics.density2d import grid_divergences

    frame = next(concept("short-run-vs-persistent").demo(iterations=1))
    plot = frame.plot("KL(p_data ‖ samples), nats")
    floor = next(c for c in plot.layers if c.role == "floor")
    assert floor.y[0] == pytest.approx(frame.values["floor"])
    data = toy_points("8gaussians", 2000, 0)
    fresh = grid_divergences(data, toy_points("8gaussians", 256, 99), bins=KL_BINS)["kl_samples"]
    assert 0.7 < frame.values["floor"] < 1.3 and abs(fresh - frame.values["floor"]) < 0.2
    assert "fresh data points score" in frame.caption
