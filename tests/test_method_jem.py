"""JEM: held-out digit accuracy rises well above chance; class extras; exact resume."""

from __future__ import annotations

import pytest
import torch

from ebm_engine.errors import DataError
from ebm_engine.learning.events import SamplesReady, TrainStep
from ebm_engine.learning.trainer import Trainer
from ebm_engine.presets import config_for


def _cfg(iterations: int, **extra):
    overrides = [("train.iterations", iterations), ("train.device", "cpu"), ("train.batch_size", 24),
                 ("model.width", 16), ("sampler.n_steps", 3), ("sampler.buffer_size", 256),
                 ("train.lr", 0.003), ("train.sample_every", 1000), ("train.checkpoint_every", 0),
                 ("train.options.class_samples", 2)]
    overrides += list(extra.items())
    return config_for("digits", "digits-jem", overrides)


def test_jem_held_out_accuracy_above_chance():
    trainer = Trainer(_cfg(50), None)
    steps = [e.metrics for e in trainer.events() if isinstance(e, TrainStep)]
    assert steps[0]["accuracy"] < 0.3  # an untrained net is near chance (10 classes)
    final = trainer.method.held_out_accuracy()
    assert final > 0.5, final
    # held-out items were never trained on
    method = trainer.method
    assert len(method.held_idx) == round(0.2 * len(trainer.dataset))
    assert not set(method.held_idx.tolist()) & set(method.train_idx.tolist())


@pytest.fixture
def one_thread():
    """Exact resume is bitwise on one thread (multi-threaded conv backward may
    sum in a different order from run to run)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_jem_class_extras_and_exact_resume(tmp_path, one_thread):
    k = 3
    kw = {"train.sample_every": 2}
    straight = Trainer(_cfg(2 * k, **kw), None)
    snaps = [e for e in straight.events() if isinstance(e, SamplesReady)]
    extras = snaps[-1].extras
    assert sorted(extras) == sorted(f"class {c}" for c in range(10))
    assert extras["class 3"].shape == (2, 1, 16, 16)
    first = Trainer(_cfg(k, **kw), tmp_path / "run")
    list(first.events())
    resumed = Trainer.resume(tmp_path / "run")
    list(resumed.events(2 * k))
    sa, sb = straight.method.net.state_dict(), resumed.method.net.state_dict()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key
    assert torch.equal(straight.method.buffer.states, resumed.method.buffer.states)
    assert torch.equal(straight.method.class_chains, resumed.method.class_chains)


def test_jem_needs_labels():
    from ebm_engine.data import load_dataset

    cfg = _cfg(1)
    data = load_dataset(cfg.data)
    data.meta.pop("labels")
    try:
        Trainer(cfg, None, data)
    except DataError as exc:
        assert "labelled" in str(exc)
    else:
        raise AssertionError("JEM trained without labels")


def test_jem_samples_continue_the_buffer_without_fresh_noise_chains():
    """Sampling draws its starts from the replay buffer only: reinit_prob restarts
    training chains, but a fresh noise start among the samples would stay noise."""
    trainer = Trainer(_cfg(0, **{"sampler.reinit_prob": 1.0}), None)
    method = trainer.method
    method.buffer.states.fill_(0.25)
    x = list(method.sample(16, n_steps=0))[-1].x
    assert (x == 0.25).all()


def test_jem_chain_init_class_gaussian_and_noise():
    """Informative starts (JEM++): chains begin as blurry digits of each class,
    nearer their class mean than any other; the noise option keeps uniform starts."""
    trainer = Trainer(_cfg(0, **{"train.options.chain_init": "class_gaussian"}), None)
    method = trainer.method
    starts = method.starts
    y = torch.arange(10).repeat_interleave(20)
    x = starts.sample(len(y), torch.Generator().manual_seed(0), y).flatten(1)
    nearest = torch.cdist(x, starts.means).argmin(1)
    assert (nearest == y).float().mean() > 0.9
    assert x.min() >= -1 and x.max() <= 1
    per_class = method.class_chains.flatten(1)[:: method.opts.class_samples]  # one chain per class
    assert torch.equal(torch.cdist(per_class, starts.means).argmin(1), torch.arange(10))
    noise = Trainer(_cfg(0, **{"train.options.chain_init": "noise"}), None).method
    assert noise.starts is None and noise.buffer.states.abs().mean() > 0.4  # U(-1, 1): mean |x| 0.5


def test_no_held_out_items_trains_without_an_accuracy_not_a_false_divergence():
    """holdout 0 scored NaN accuracy every step: read as diverged, three rollbacks,
    then "lower sampler.init_scale or sampler.step_size"."""
    from ebm_engine.learning.events import Finished

    trainer = Trainer(_cfg(3, **{"train.options.holdout": 0.0}), None)
    events = list(trainer.events())
    steps = [e.metrics for e in events if isinstance(e, TrainStep)]
    assert len(steps) == 3 and "accuracy" not in steps[-1] and "train_accuracy" in steps[-1]
    assert isinstance(events[-1], Finished) and events[-1].reason == "completed"
