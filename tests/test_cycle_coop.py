"""CycleCoopNets (unpaired translation): the cycle term keeps the content, the typeset
renderer draws the right digits, the demos' domains, sampling and evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ebm_engine.config import RunConfig
from ebm_engine.data.dataset import Dataset
from ebm_engine.errors import DataError
from ebm_engine.methods.base import DataSpec
from ebm_engine.methods.cycle_coop import CycleCoop


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on a shared 2-core machine, two threads wait on each other."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _toy(n: int = 512, seed: int = 0) -> tuple[Dataset, np.ndarray]:
    """A: points on a segment, (t, 0) — the content is t; B: a Gaussian blob."""
    g = np.random.default_rng(seed)
    t = g.uniform(-1, 1, n)
    a = np.stack([t, 0.05 * g.normal(size=n)], 1)
    b = 0.5 * g.normal(size=(n, 2))
    items = np.concatenate([a, b]).astype(np.float32)
    meta = {"domain": np.repeat([0, 1], n), "labels": np.zeros(2 * n, np.int64)}
    return Dataset("toy", "points", items, None, meta), t


def _toy_method(ds: Dataset, cycle_weight: float, seed: int = 0) -> CycleCoop:
    cfg = RunConfig.from_dict({
        "data": {"source": "toy"}, "model": {"name": "mlp", "width": 32, "depth": 2},
        "sampler": {"n_steps": 20, "step_size": 0.1, "noise_scale": 0.5, "grad_scale": 1.0,
                    "reference_sigma": 2.0, "init": "generator"},
        "train": {"method": "cycle_coop", "lr": 3e-3, "batch_size": 64, "seed": seed,
                  "energy_l2": 0.1,
                  "options": {"cycle_weight": cycle_weight, "gen_width": 8, "gen_lr": 3e-3}}})
    torch.manual_seed(seed)
    return CycleCoop(cfg, DataSpec.of(ds), ds, torch.device("cpu"),
                     torch.Generator().manual_seed(seed))


def _content_r2(y: np.ndarray, t: np.ndarray) -> float:
    """How well t is read back from translations y: R² of a 10-NN regression (half / half)."""
    h = len(y) // 2
    d = ((y[h:, None] - y[None, :h]) ** 2).sum(-1)
    pred = t[:h][np.argsort(d, 1)[:, :10]].mean(1)
    return float(1 - ((pred - t[h:]) ** 2).mean() / t[h:].var())


def test_translation_without_the_cycle_term_loses_the_content():
    """Teaching alone regresses G_AB(a) on noisy revisions: the translator shrinks towards
    the revisions' mean and the translations no longer say which a they came from. With
    the cycle term the same nets keep t readable."""
    ds, t = _toy()
    r2 = {}
    for weight in (1.0, 0.0):
        method = _toy_method(ds, weight)
        batch = torch.zeros(64, 2)
        for _ in range(150):
            method.train_step(batch, 0)
            method.apply_update()
        method.rng.manual_seed(0)
        r2[weight] = _content_r2(method.translate(ds.items[:512], "ab").numpy(), t)
    assert r2[1.0] > 0.6, r2
    assert r2[0.0] < 0.45 and r2[1.0] - r2[0.0] > 0.3, r2


def test_typeset_renderer_draws_the_asked_digit():
    """Each rendering is nearest (over small shifts) to the template of its own digit."""
    from ebm_engine.data.typeset import font_paths, render_digit

    fonts = [str(p) for p in font_paths()]
    if not fonts:
        pytest.skip("matplotlib's DejaVu fonts are not installed")
    sans = next(f for f in fonts if f.endswith("DejaVuSans.ttf"))
    templates = np.stack([render_digit(d, sans, 12.0, (0.0, 0.0)) for d in range(10)])
    g = np.random.default_rng(0)
    hits = 0
    for d in np.arange(40) % 10:
        img = render_digit(int(d), sans, g.uniform(10, 13), tuple(g.uniform(-1.5, 1.5, 2)),
                           int(g.integers(0, 2)))
        scores = [max(float((np.roll(img, (dy, dx), (0, 1)) * tpl).sum()
                            / (np.linalg.norm(img) * np.linalg.norm(tpl)))
                      for dy in range(-2, 3) for dx in range(-2, 3)) for tpl in templates]
        hits += int(np.argmax(scores) == d)
    assert hits >= 38, hits
    assert templates.min() >= 0 and templates.max() <= 1 and templates[1].sum() < templates[8].sum()


def test_typeset_digits_of_all_fonts_are_learnable_classes():
    """A small classifier trained on one rendering seed reads another: the labels match the
    glyphs across fonts, weights, sizes and shifts."""
    from ebm_engine.data.typeset import typeset_digits
    from ebm_engine.metrics.content_judge import train_judge

    x, y = typeset_digits(400, seed=0)
    assert x.shape == (400, 1, 16, 16) and x.min() >= -1 and x.max() <= 1
    judge = train_judge(torch.from_numpy(x), y, steps=150)
    x2, y2 = typeset_digits(100, seed=5)
    assert (judge.predict(torch.from_numpy(x2)) == y2).mean() > 0.85


def test_demos_have_two_labelled_domains():
    from ebm_engine.config import DataConfig
    from ebm_engine.data.pen_strokes import load_sequence_translation
    from ebm_engine.data.typeset import load_handwritten_typeset

    digits = load_handwritten_typeset(DataConfig(source="digits-handwritten-typeset",
                                                 options={"typeset_count": 20}))
    assert digits.item_shape == (1, 16, 16) and len(digits) == 1797 + 20
    assert np.bincount(digits.meta["domain"]).tolist() == [1797, 20]
    strokes = load_sequence_translation(DataConfig(source="sequence-translation",
                                                   options={"per_shape": 3}))
    assert strokes.kind == "trajectory" and strokes.item_shape == (32, 2)
    assert np.bincount(strokes.meta["domain"]).tolist() == [18, 18]
    assert sorted(set(strokes.meta["labels"].tolist())) == list(range(6))


def test_one_domain_only_is_refused_in_one_line():
    ds = Dataset("one", "points", np.zeros((10, 2), np.float32), None, {})
    with pytest.raises(DataError, match="two domains"):
        _toy_method(ds, 1.0)


def test_sequence_translation_samples_pairs_and_evaluates(tmp_path):
    """A few iterations on the strokes: sampling gives translations with their sources
    (``reference``) on the last frame, the checkpoint keeps sources to translate without
    data, and the metrics come with their no-translation baselines."""
    from ebm_engine.learning.trainer import Trainer
    from ebm_engine.metrics.translation import evaluate_translation
    from ebm_engine.presets import config_for

    cfg = config_for("sequence-translation", overrides=[
        ("train.iterations", 2), ("train.batch_size", 8), ("sampler.n_steps", 2),
        ("model.width", 8), ("train.options.gen_width", 8), ("train.checkpoint_every", 0),
        ("data.options.per_shape", 6), ("train.sample_every", 1)])
    trainer = Trainer(cfg, None)
    snaps = [e for e in trainer.events() if type(e).__name__ == "SamplesReady"]
    assert snaps and snaps[-1].extras["reference"].shape == snaps[-1].samples.shape  # sources
    method = trainer.method
    frames = list(method.sample(6, n_steps=2, record_every=1))
    assert frames[-1].x.shape == (6, 32, 2) and frames[-1].extras["reference"].shape == (6, 32, 2)
    assert set(method.sample_panels) == {"source", "translated", "reconstructed"}
    assert method.state_tensors()["sources.a"].shape[1:] == (32, 2)
    values = evaluate_translation(method, trainer.dataset, 12, seed=0, n_steps=2)
    for key in ("content_ab", "content_ba", "fd_ab", "fd_ab_source", "content_ab_source",
                "cycle_l1_ab", "judge_accuracy_b"):
        assert np.isfinite(values[key]), key


def test_resume_is_exact(tmp_path):
    from ebm_engine.learning.trainer import Trainer
    from ebm_engine.presets import config_for

    cfg = config_for("sequence-translation", overrides=[
        ("train.batch_size", 4), ("sampler.n_steps", 2), ("model.width", 4),
        ("train.options.gen_width", 4), ("train.checkpoint_every", 2),
        ("data.options.per_shape", 3)])
    straight = Trainer(cfg, tmp_path / "a")
    list(straight.events(4))
    first = Trainer(cfg, tmp_path / "b")
    list(first.events(2))
    resumed = Trainer.resume(tmp_path / "b")
    list(resumed.events(4))
    for name, net in straight.method.networks().items():
        other = resumed.method.networks()[name].state_dict()
        for key, value in net.state_dict().items():
            assert torch.equal(value, other[key]), (name, key)


def test_sample_png_of_translations_is_source_translated_reconstructed(tmp_path):
    from PIL import Image

    from ebm_engine.export.samples import export_samples

    x = np.random.default_rng(0).uniform(-1, 1, (5, 1, 16, 16)).astype(np.float32)
    path = export_samples(x, "image", (-1.0, 1.0), tmp_path / "pairs.png",
                          extras={"source": -x, "reconstructed": x})
    picture = np.asarray(Image.open(path))
    assert picture.shape[0] < picture.shape[1]  # 3 rows of 5 tiles
    tile = 4 * 17  # 16 px + 1 px padding, scaled 4×
    assert picture.shape[:2] == (3 * tile + 4, 5 * tile + 4)
    # 40 items wrap into bands of 16 columns (16, 16, 8): a page, not a strip, and the
    # items keep their order (band 2's first source is item 16).
    from ebm_engine.export.pairs import BAND_GAP, WRAP

    x = np.linspace(-1, 1, 40, dtype=np.float32)[:, None, None, None] * np.ones((1, 1, 16, 16),
                                                                                np.float32)
    path = export_samples(x, "image", (-1.0, 1.0), tmp_path / "wide.png",
                          extras={"source": x, "reconstructed": x})
    picture = np.asarray(Image.open(path).convert("L")).astype(int)
    band = 3 * tile + 4
    assert picture.shape[:2] == (3 * band + 2 * BAND_GAP, WRAP * tile + 4)
    first_of_band_2 = picture[band + BAND_GAP + 8, 8]
    assert abs(first_of_band_2 - (x[WRAP, 0, 0, 0] + 1) * 127.5) < 2
    assert (picture[-band:, 8 * tile + 4:] == 255).all()  # the short last band is padded


def test_ebm_export_of_a_translation_run_draws_its_three_rows(tmp_path, capsys):
    """The run's samples/latest.npz held the translations alone: `ebm export` drew a grid
    of them with no source, where `ebm sample` draws source | translated | reconstructed."""
    from PIL import Image

    from ebm_engine.cli import main

    run = tmp_path / "run"
    assert main(["train", "--data", "digits-handwritten-typeset", "--steps", "2", "--set",
                 "train.sample_every=1", "--set", "train.snapshot_size=4", "--out", str(run),
                 "--quiet"]) == 0
    with np.load(run / "samples" / "latest.npz") as z:
        assert {"display_source", "display_reconstructed"} <= set(z.files)
    capsys.readouterr()
    assert main(["export", "--run", str(run), "--out", str(tmp_path / "x.png")]) == 0
    assert "rows: source | translated | reconstructed" in capsys.readouterr().out
    tile = 4 * 17  # 16 px + 1 px padding, scaled 4×: 3 rows of 4, not a 2 × 2 grid
    assert np.asarray(Image.open(tmp_path / "x.png")).shape[:2] == (3 * tile + 4, 4 * tile + 4)


@pytest.mark.parametrize("halvings", [0, 1])
def test_translator_receptive_field_follows_gen_downsample(halvings):
    """``gen_downsample`` reaches the translators: without halvings an output pixel sees
    only its neighbourhood (it cannot redraw the digit), one halving widens what it sees."""
    g = np.random.default_rng(0)
    items = g.uniform(-1, 1, (8, 1, 16, 16)).astype(np.float32)
    meta = {"domain": np.repeat([0, 1], 4), "labels": np.zeros(8, np.int64)}
    ds = Dataset("toy-images", "image", items, None, meta)
    cfg = RunConfig.from_dict({
        "data": {"source": "toy-images"}, "model": {"name": "convnet", "width": 8, "depth": 2},
        "sampler": {"init": "generator"},
        "train": {"method": "cycle_coop", "options": {
            "gen_width": 4, "gen_blocks": 1, "gen_downsample": halvings}}})
    method = CycleCoop(cfg, DataSpec.of(ds), ds, torch.device("cpu"),
                       torch.Generator().manual_seed(0))
    x = torch.zeros(1, 1, 16, 16, requires_grad=True)
    method.gen_ab(x)[0, 0, 0, 0].backward()
    seen = (x.grad[0, 0].abs() > 0).nonzero()
    reach = int(seen.max())  # the farthest row or column this corner pixel depends on
    # 0 halvings: 3×3 stem + 2 block convs + 3×3 head = 4 px; 1 halving: ≥ 10 px
    assert (reach <= 4) if halvings == 0 else (reach >= 8), reach


def test_a_stroke_translation_png_shows_the_reconstruction_row(tmp_path, capsys):
    """The strokes' PNG drew the translation over the dashed source only, under an
    "expert" key; it is the three rows of an image translation's figure now."""
    from PIL import Image

    from ebm_engine.cli import main
    from ebm_engine.export.pairs import CELL

    out = tmp_path / "strokes.png"
    assert main(["sample", "--run", "zoo:sequence-translation-cycle-coop", "--n", "3",
                 "--steps", "2", "--out", str(out)]) == 0
    assert "rows: source | translated | reconstructed" in capsys.readouterr().out
    assert np.asarray(Image.open(out)).shape[:2] == (3 * (CELL + 2), 3 * (CELL + 2))
    arrays = tmp_path / "strokes.npz"  # the README's promise: source and reconstructed
    assert main(["sample", "--run", "zoo:sequence-translation-cycle-coop", "--n", "3",
                 "--steps", "2", "--out", str(arrays)]) == 0
    with np.load(arrays) as saved:
        assert saved["source"].shape == saved["reconstructed"].shape == saved["samples"].shape
