"""Diffusion recovery likelihood: schedule, conditional sampling, learning, resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ebm_engine.config import RunConfig
from ebm_engine.errors import ConfigError
from ebm_engine.learning._quality import moment_distance, pixel_mmd
from ebm_engine.learning.events import KnobApplied, SamplesReady
from ebm_engine.learning.trainer import Trainer
from ebm_engine.methods.recovery import noise_schedule
from ebm_engine.session import Accepted, Refused, Session


def tiny_config(options: dict | None = None, **train) -> RunConfig:
    raw = {
        "data": {"source": "digits", "max_items": 256},
        "model": {"name": "convnet", "width": 8, "depth": 1},
        "sampler": {"clamp": True},
        "train": {"method": "recovery", "batch_size": 32, "lr": 3e-3, "beta1": 0.5,
                  "device": "cpu", "sample_every": 1000, "seed": 0, "checkpoint_every": 0,
                  "options": {"steps_per_level": 8, **(options or {})}, **train},
    }
    return RunConfig.from_dict(raw)


def test_noise_schedule_shapes_and_errors():
    lin = noise_schedule(6, "linear", 0.1, 0.9)
    assert len(lin) == 6 and lin[0] == pytest.approx(0.1) and lin[-1] == pytest.approx(0.9)
    assert np.all(np.diff(lin) > 0)
    geo = noise_schedule(4, "geometric", 0.01, 0.8)
    assert geo[1] / geo[0] == pytest.approx(geo[2] / geo[1])
    assert noise_schedule(2, [0.2, 0.5], 0.1, 0.9) == [0.2, 0.5]
    with pytest.raises(ConfigError, match="schedule"):
        noise_schedule(3, [0.2, 0.5], 0.1, 0.9)
    with pytest.raises(ConfigError, match="schedule"):
        noise_schedule(3, "cosine", 0.1, 0.9)
    with pytest.raises(ConfigError, match="sigma"):
        noise_schedule(3, "linear", 0.5, 1.5)


def test_conditional_sample_stays_near_its_conditioning_sample_at_small_noise():
    trainer = Trainer(tiny_config({"schedule": [0.02, 0.5, 0.9], "T": 3, "steps_per_level": 20}), None)
    method = trainer.method
    x = trainer.items[:64]
    gaps, recovered = {}, {}
    for level in (0, 2):
        t = torch.full((64,), level, dtype=torch.long)
        *_, (_, y, _) = method.recover(x, t, torch.Generator().manual_seed(1))
        gaps[level] = float((y - x).pow(2).mean().sqrt())
        recovered[level] = y
    assert gaps[0] < 0.1  # a few grey levels on a [-1, 1] range
    assert gaps[0] < gaps[2]  # the leash loosens as the noise grows
    # each recovery is nearer its own conditioning image than any other
    nearest = torch.cdist(recovered[0].flatten(1), x.flatten(1)).argmin(1)
    assert torch.equal(nearest, torch.arange(64))


def test_recovery_learns_digit_statistics():
    trainer = Trainer(tiny_config({"steps_per_level": 6}, lr=5e-3), None)
    data = trainer.items

    def samples() -> torch.Tensor:
        return torch.from_numpy(list(trainer.method.sample(128))[-1].x)

    before = samples()
    list(trainer.events(50))
    after = samples()
    assert after.shape == (128, 1, 16, 16)
    assert moment_distance(after, data) < 0.8 * moment_distance(before, data)
    assert pixel_mmd(after, data) < 0.8 * pixel_mmd(before, data)


def test_snapshot_shows_every_noise_level_and_sampling_walks_the_schedule():
    trainer = Trainer(tiny_config({"T": 3, "steps_per_level": 4}, sample_every=2, record_every=2,
                                  snapshot_size=6), None)
    snap = [e for e in trainer.events(2) if isinstance(e, SamplesReady)][-1]
    assert set(snap.extras) == {"noise level 1", "noise level 2", "noise level 3"}
    for level in snap.extras.values():
        assert level.shape == snap.samples.shape == (6, 1, 16, 16)
    assert snap.samples.min() >= -1 and snap.samples.max() <= 1  # clamped to the data range
    frames = list(trainer.method.sample(10, record_every=2))
    assert [f.step for f in frames] == [0, 2, 4, 6, 8, 10, 12]
    assert frames[-1].x.shape == (10, 1, 16, 16)
    assert all(f.x.shape[0] == 8 for f in frames[:-1])


def test_recovery_resume_is_exact(tmp_path):
    cfg = tiny_config({"T": 3, "steps_per_level": 4}, sample_every=3)
    straight = Trainer(cfg, tmp_path / "a")
    list(straight.events(4))
    list(Trainer(cfg, tmp_path / "b").events(2))
    resumed = Trainer.resume(tmp_path / "b")
    assert resumed.method.applied == 2
    list(resumed.events(4))
    a, b = straight.method.net.state_dict(), resumed.method.net.state_dict()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_recovery_refuses_2d_data_and_bad_knobs():
    cfg = RunConfig.from_dict({"data": {"source": "8gaussians"},
                               "train": {"method": "recovery", "device": "cpu"}})
    with pytest.raises(ConfigError, match="square images"):
        Trainer(cfg, None)
    with pytest.raises(ConfigError, match="step_scale"):
        Trainer(tiny_config({"step_scale": -1.0}), None)
    with pytest.raises(ConfigError, match="unknown config key 'train.options.grids'"):
        Trainer(tiny_config({"grids": [4, 16]}), None)


def test_structural_knob_edit_is_refused_and_training_goes_on():
    session = Session(tiny_config({"T": 3, "steps_per_level": 2, "step_scale": 0.02},
                                  iterations=1))
    events = session.train(None)
    next(events)  # RunStarted: the trainer exists, edits are mid-run
    fixed = session.edit("train.options.T", 4)
    assert isinstance(fixed, Refused) and "T cannot change" in fixed.reason and fixed.current == 3
    short = session.edit("train.options.schedule", [0.2, 0.5])  # a list needs T entries
    assert isinstance(short, Refused) and "T=3" in short.reason
    assert isinstance(session.edit("train.options.step_scale", 0.05), Accepted)
    assert isinstance(session.edit("train.options.sigma_max", 0.5), Accepted)
    applied = {e.key for e in events if isinstance(e, KnobApplied)}
    assert applied == {"train.options.step_scale", "train.options.sigma_max"}
    method = session.trainer.method
    assert session.trainer.iteration == 1 and method.opts.T == 3 and method.levels == 3
    assert method.opts.step_scale == 0.05
    assert float(method.sigmas[-1]) == pytest.approx(0.5)  # the schedule follows the edit



def test_walk_starts_from_the_gaussian_fit_of_the_top_level_and_resume_keeps_it(tmp_path):
    # x_T is drawn where the top level was trained: sqrt(ᾱ_T)·(data mean) plus noise,
    # not N(0, I) (digits' dark background shows through at sigma_max < 1).
    cfg = tiny_config({"T": 2, "schedule": [0.3, 0.6]}, checkpoint_every=1)
    trainer = Trainer(cfg, tmp_path / "run")
    method = trainer.method
    ab = float(method.alpha_bar()[-1])
    assert ab == pytest.approx((1 - 0.09) * (1 - 0.36))
    x = method.start(4000, torch.Generator().manual_seed(0))
    data = trainer.dataset.items.float()
    torch.testing.assert_close(x.mean(0), ab**0.5 * data.mean(0), atol=0.1, rtol=0)
    var = ab * data.var(0, unbiased=False) + (1 - ab)
    torch.testing.assert_close(x.var(0), var, atol=0.1, rtol=0)
    list(trainer.events(1))
    resumed = Trainer.resume(tmp_path / "run")
    torch.testing.assert_close(resumed.method.data_mean, method.data_mean)
    torch.testing.assert_close(resumed.method.data_std, method.data_std)
    torch.testing.assert_close(resumed.method.data_basis, method.data_basis)


def test_the_start_keeps_the_datas_pixel_correlations():
    """The top level was trained on noised digits, whose faint strokes correlate
    neighbouring pixels; a start with the data's principal directions carries those
    correlations, a per-pixel fit does not (its off-diagonal covariance is zero)."""
    errors = {}
    for k in (0, 16):
        method = Trainer(tiny_config({"T": 2, "schedule": [0.3, 0.6], "start_components": k}),
                         None).method
        ab = float(method.alpha_bar()[-1])
        x = method.start(8000, torch.Generator().manual_seed(0)).flatten(1)
        data = method.dataset.items.float().flatten(1)
        want = ab * torch.cov(data.T, correction=0) + (1 - ab) * torch.eye(data.shape[1])
        errors[k] = float(torch.linalg.matrix_norm(torch.cov(x.T) - want))
        # either way each pixel keeps the data's variance
        torch.testing.assert_close(torch.diagonal(torch.cov(x.T)), torch.diagonal(want),
                                   atol=0.1, rtol=0)
    assert errors[16] < 0.5 * errors[0], errors


def test_inverse_sigma_weighting_scales_each_level_by_sigma_1_over_its_sigma():
    trainer = Trainer(tiny_config({"T": 2, "schedule": [0.1, 0.4], "steps_per_level": 1}), None)
    method, batch = trainer.method, trainer.dataset.items[:32].float()
    seen = []
    method.ml_backward = lambda net, opt, e_data, e_synth: seen.append(e_data.detach()) or {}
    for weight in ("equal", "inverse_sigma"):
        method.configure(method.cfg.with_value("train.options.level_weight", weight))
        method.rng.manual_seed(123)  # the same levels and noise both times
        method.train_step(batch, 0)
    ratio = torch.round(seen[1] / seen[0] * 100)
    assert set(ratio.tolist()) == {100.0, 25.0}  # σ_1/σ_1 and σ_1/σ_2


@pytest.mark.parametrize("step_ref", [0.0, 0.01])
def test_step_ref_grows_the_langevin_step_with_the_levels_noise(step_ref):
    """The paper's c_t: at a noisy level the chains take larger steps and so spread over
    the conditional rather than stay at its mode; the cleanest level keeps its step.
    With f̃ ≡ 0 the recovery model is N(x_{t+1}, σ²) and K Langevin steps of size δ from
    y = x_{t+1} spread y exactly as an AR(1): var = δ² (1 − a^{2K}) / (1 − a²),
    a = 1 − δ²/(2σ²)."""
    method = Trainer(tiny_config({"step_ref": step_ref}), None).method
    with torch.no_grad():
        for p in method.net.parameters():
            p.zero_()
    sigmas, opts = method.sigmas, method.opts
    noise = (1 - method.alpha_bar()).sqrt()  # s_t of the target level t
    gen = torch.Generator().manual_seed(0)
    x_next = torch.zeros(64, 1, 16, 16)
    for level in (0, method.levels - 1):
        t = torch.full((64,), level, dtype=torch.long)
        growth = max(1.0, float(noise[level]) / step_ref) ** 0.5 if step_ref else 1.0
        delta = opts.step_scale * float(sigmas[level]) * growth
        assert float(method.step(t)[0]) == pytest.approx(delta)
        *_, (_, y, _) = method.recover(x_next, t, gen, n_steps=12)
        a = 1 - delta**2 / (2 * float(sigmas[level]) ** 2)
        expected = (delta**2 * (1 - a**24) / (1 - a**2)) ** 0.5
        assert float(y.std()) == pytest.approx(expected, rel=0.05)
    if step_ref:  # the top level's step grew by √(s_T/step_ref) (≈ 9 here); level 0's did not
        assert float(method.step(torch.tensor([method.levels - 1]))) > 8 * opts.step_scale * float(sigmas[-1])
        assert float(method.step(torch.tensor([0]))) == pytest.approx(opts.step_scale * float(sigmas[0]))


def test_the_chain_plot_reads_every_level_on_the_cleanest_levels_scale():
    """With f̃ ≡ c, each level's first recorded step (y = x_{t+1}) has conditional
    energy −c/δ_t²; shown in the cleanest level's units it is −c/δ_0² at every level,
    the final samples' energy too. Unscaled, the levels would differ by (δ_t/δ_0)²."""
    method = Trainer(tiny_config({"step_ref": 0.01}), None).method
    c = 0.5
    with torch.no_grad():
        for p in method.net.parameters():
            p.zero_()
        method.net.readout.bias.fill_(c)
    steps = 3
    frames = list(method.sample(4, n_steps=steps, record_every=1, n_record=4))
    assert len(frames) == method.levels * steps + 1
    expected = -c / float(method.deltas[0]) ** 2
    firsts = [frames[level * steps].energy for level in range(method.levels)]
    for energy in [*firsts, frames[-1].energy]:
        np.testing.assert_allclose(energy, expected, rtol=1e-4)
    assert float(method.deltas[-1] / method.deltas[0]) ** 2 > 100  # what the scaling undoes


def test_level_scales_let_a_level_switch_its_features_off():
    """FiLM: with γ_t = −1 a level's first features no longer see the image, so the
    network's value at that level no longer depends on it; the other level still does,
    and without level scales there is nothing to switch."""
    method = Trainer(tiny_config({"T": 2, "schedule": [0.3, 0.6], "level_scales": True}),
                     None).method
    with torch.no_grad():
        method.net.scales[0].weight[1].fill_(-1.0)
    x = torch.randn(8, 1, 16, 16)
    with torch.no_grad():
        out = {level: method.net(x, torch.full((8,), level, dtype=torch.long)) for level in (0, 1)}
    assert float(out[1].std()) < 1e-6 < float(out[0].std())
    plain = Trainer(tiny_config({"T": 2, "schedule": [0.3, 0.6]}), None).method
    assert plain.net.scales is None


def test_a_per_pixel_start_saves_and_resumes(tmp_path):
    cfg = tiny_config({"T": 2, "schedule": [0.3, 0.6], "start_components": 0}, checkpoint_every=1)
    trainer = Trainer(cfg, tmp_path / "run")
    list(trainer.events(1))
    resumed = Trainer.resume(tmp_path / "run").method
    assert resumed.data_basis.shape[0] == 0
    torch.testing.assert_close(resumed.data_std, trainer.method.data_std)
