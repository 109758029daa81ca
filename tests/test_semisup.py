"""Semi-supervised digits with the symbol-vector latent EBM: the label split, the
unlabelled term's effect, exact resume, evaluation, samples by class, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ebm_engine.config import DataConfig
from ebm_engine.data import load_dataset
from ebm_engine.data.digits_semisup import UNLABELLED, heldout_mask
from ebm_engine.errors import DataError
from ebm_engine.export.samples import export_samples
from ebm_engine.learning.events import SamplesReady, TrainStep
from ebm_engine.learning.trainer import Trainer
from ebm_engine.presets import config_for


@pytest.fixture(autouse=True)
def one_thread():
    """Bitwise-exact resume and no thread spinning on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_cfg(iterations: int = 4, **sets):
    cfg = config_for("digits-semi-supervised", overrides=[
        ("model.width", 32), ("sampler.n_steps", 3), ("train.batch_size", 16),
        ("train.iterations", iterations), ("train.sample_every", 2), ("train.record_every", 1),
        ("train.checkpoint_every", 0), ("train.device", "cpu"), ("data.max_items", 200),
        ("train.options", {"z_dim": 4, "gen_width": 32, "post_steps": 3, "labelled_batch": 8,
                           "eval_every": 2, "classify_steps": 3, "classify_chains": 1,
                           "class_samples": 2}),
    ])
    for key, value in sets.items():
        cfg = cfg.with_value(key.replace("__", "."), value)
    return cfg


def test_split_has_ten_labels_per_class_and_never_shows_heldout_items():
    data = load_dataset(DataConfig(source="digits-semi-supervised"))
    from sklearn.datasets import load_digits

    truth = load_digits().target
    labels, source = data.meta["labels"], data.meta["source_index"]
    labelled = labels != UNLABELLED
    assert labelled.sum() == 100
    assert np.bincount(labels[labelled], minlength=10).tolist() == [10] * 10
    assert (labels[labelled] == truth[source[labelled]]).all()  # the true labels
    held = np.flatnonzero(heldout_mask(len(truth)))
    assert len(data) + len(held) == len(truth)
    assert not set(source) & set(held)  # no held-out digit among the training items
    assert np.array_equal(data.meta["heldout_source_index"], held)
    assert (data.meta["heldout_labels"] == truth[held]).all()
    # the labelled items come first (a max_items cut keeps them) and the draw is seeded
    assert labelled[:100].all()
    again = load_dataset(DataConfig(source="digits-semi-supervised"))
    assert np.array_equal(again.meta["source_index"], source)
    other = load_dataset(DataConfig(source="digits-semi-supervised",
                                    options={"label_seed": 1}))
    assert not np.array_equal(other.meta["source_index"][:100], source[:100])


def _grads(weight: float, unlabelled: torch.Tensor) -> dict[str, torch.Tensor]:
    """Prior and generator gradients of one step on a fixed labelled draw."""
    trainer = Trainer(tiny_cfg(train__options__unlabelled_weight=weight), None)
    method = trainer.method
    method.rng.manual_seed(3)
    method.train_step(unlabelled, 0)
    return {f"{name}.{k}": p.grad.clone() for name, net in method.networks().items()
            for k, p in net.named_parameters()}


def test_unlabelled_images_shape_prior_and_generator():
    data = load_dataset(tiny_cfg().data)
    a, b = data.items[100:116], data.items[120:136]  # two different unlabelled batches
    with_a, with_b = _grads(1.0, a), _grads(1.0, b)
    prior_changed = any(not torch.allclose(with_a[k], with_b[k]) for k in with_a
                        if k.startswith("prior."))
    gen_changed = any(not torch.allclose(with_a[k], with_b[k]) for k in with_a
                      if k.startswith("generator."))
    assert prior_changed and gen_changed
    # without the unlabelled term the same step ignores them entirely
    without_a, without_b = _grads(0.0, a), _grads(0.0, b)
    assert all(torch.equal(without_a[k], without_b[k]) for k in without_a)


def test_training_reports_accuracy_and_class_mosaic_and_resumes_exactly(tmp_path):
    straight = Trainer(tiny_cfg(4), None)
    events = list(straight.events())
    steps = [e for e in events if isinstance(e, TrainStep)]
    assert all(0.0 <= e.metrics["accuracy"] <= 1.0 for e in steps)
    snap = [e for e in events if isinstance(e, SamplesReady)][-1]
    # 10 classes × 2 samples as one picture: one row per class, led by the class's glyph
    mosaic = snap.extras["samples by class"]
    assert mosaic.shape == (1, 1, 10 * 17 - 1, 3 * 17 - 1)
    from ebm_engine.data.conditional_demos import glyph_bank

    np.testing.assert_array_equal(mosaic[0, 0, 3 * 17:3 * 17 + 16, :16], glyph_bank(10, 16, 16)[3, 0])
    # unlabelled images beside their reconstructions (a 1-px line between), a few
    pairs = snap.extras["original | reconstruction"]
    assert pairs.shape == (16, 1, 16, 33)
    assert not np.array_equal(pairs[..., :16], pairs[..., 17:])
    first = Trainer(tiny_cfg(3), tmp_path / "run")
    list(first.events())
    resumed = Trainer.resume(tmp_path / "run")
    list(resumed.events(4))
    for name, net in straight.method.networks().items():
        other = resumed.method.networks()[name].state_dict()
        for key, value in net.state_dict().items():
            assert torch.equal(value, other[key]), (name, key)


def test_the_snapshot_mosaic_lays_its_rows_out_with_the_exports_class_rows(monkeypatch):
    """Rows led by glyphs were built twice, in torch for this method's snapshot
    (``with_glyphs``) and in numpy for sampled grids and exports (``class_rows``): the
    snapshot now takes ``class_rows``' rows, in model space, one row per class (where
    the export wraps a long class onto more rows), and ``with_glyphs`` is gone."""
    from ebm_engine.data.conditional_demos import glyph_bank
    from ebm_engine.export import by_class
    from ebm_engine.methods import _symbol_vector_parts, symbol_vector

    assert not hasattr(_symbol_vector_parts, "with_glyphs")
    images = np.random.default_rng(0).uniform(-1, 1, (24, 1, 16, 16)).astype(np.float32)
    classes = np.repeat([3, 7], 12)
    assert by_class.class_rows(images, classes)[1] == 9  # the export wraps 12 a row at 8
    tiles, per_row, index, rows = by_class.class_rows(images[:20], np.repeat([3, 7], 10),
                                                      columns=12, value_range=(-1.0, 1.0))
    assert per_row == 13 and list(rows) == [3, 7]
    # model space: the glyph as the bank draws it, blanks the glyphs' background (−1)
    np.testing.assert_array_equal(tiles[13], glyph_bank(8, 16, 16)[7].numpy())
    assert list(index[10:14]) == [9, -1, -1, -1]
    assert (tiles[[11, 12, 24, 25]] == -1).all()  # each row: glyph, 10 images, 2 blanks
    laid = []

    def spy(*args, **kwargs):
        laid.append(kwargs)
        return by_class.class_rows(*args, **kwargs)

    monkeypatch.setattr(symbol_vector, "class_rows", spy)
    events = list(Trainer(tiny_cfg(2, train__options__class_samples=12), None).events())
    mosaic = [e for e in events if isinstance(e, SamplesReady)][-1].extras["samples by class"]
    assert laid and laid[-1] == {"columns": 12, "value_range": (-1.0, 1.0)}
    assert mosaic.shape == (1, 1, 10 * 17 - 1, 13 * 17 - 1)  # no row wrapped
    np.testing.assert_array_equal(mosaic[0, 0, 9 * 17:, :16], glyph_bank(10, 16, 16)[9, 0])


def test_eval_scores_against_the_supervised_baselines_and_samples_by_class(tmp_path,
                                                                           monkeypatch):
    from ebm_engine.metrics import semisup

    monkeypatch.setattr(semisup, "BASELINE_STEPS", 100)  # the benchmark runs the full baseline
    monkeypatch.setattr(semisup, "BASELINE_SEEDS", (0,))
    trainer = Trainer(tiny_cfg(2), tmp_path / "run")
    list(trainer.events())
    data = load_dataset(trainer.cfg.data)
    values = trainer.method.evaluate(data, 20, 0)
    assert set(values) == {"accuracy", "accuracy_supervised", "accuracy_logistic",
                           "class_sample_accuracy"}
    # the baselines learn from the 100 labels: far above chance even here
    assert values["accuracy_logistic"] > 0.7 and values["accuracy_supervised"] > 0.5
    frames = list(trainer.method.sample(30, n_steps=2))
    classes = frames[-1].extras["sample_class"]
    assert classes.tolist() == [k for k in range(10) for _ in range(3)]
    out = export_samples(frames[-1].x, "image", (-1.0, 1.0), tmp_path / "by_class.png",
                         scale=1, extras={"sample_class": classes})
    # one row per class: its glyph, then its 3 samples (the app's grid lays them out alike)
    assert Image.open(out).size == (4 * 18 + 2, 10 * 18 + 2)
    # an .npz keeps each sample's class (it was only in the PNG's rows)
    npz = export_samples(frames[-1].x, "image", (-1.0, 1.0), tmp_path / "by_class.npz",
                         extras={"sample_class": classes})
    with np.load(npz) as z:
        assert z["labels"].tolist() == classes.tolist()


def test_data_without_labels_is_one_clear_error():
    cfg = tiny_cfg()
    data = load_dataset(cfg.data)
    data.meta.pop("labels")
    with pytest.raises(DataError, match="needs labels .*--set data.options.labels=folders"):
        Trainer(cfg, None, data)
    data.meta["labels"] = np.full(len(data), UNLABELLED)
    with pytest.raises(DataError, match="no labelled item"):
        Trainer(cfg, None, data)


def test_fully_labelled_digits_train_without_an_accuracy_metric():
    """``digits`` has every label and no held-out items: supervised training, no NaN metric
    (a NaN would read as a diverged step)."""
    cfg = tiny_cfg(2).with_value("data.source", "digits")
    steps = [e for e in Trainer(cfg, None).events() if isinstance(e, TrainStep)]
    assert len(steps) == 2 and "accuracy" not in steps[-1].metrics
