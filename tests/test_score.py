"""Anomaly scoring: the AUROC helper, the default energy score, and `ebm score`."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from PIL import Image

from ebm_engine.cli import main
from ebm_engine.errors import DataError
from ebm_engine.learning.scoring import auroc, score
from ebm_engine.learning.trainer import Trainer
from ebm_engine.presets import config_for


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_auroc_matches_sklearn_with_ties():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    normal = rng.integers(0, 20, 300).astype(float)
    anomalous = rng.integers(5, 25, 120).astype(float)
    labels = np.r_[np.zeros(300), np.ones(120)]
    expected = roc_auc_score(labels, np.r_[normal, anomalous])
    assert auroc(normal, anomalous) == pytest.approx(expected, abs=1e-12)
    assert auroc([0.0, 1.0], [2.0, 3.0]) == 1.0
    assert auroc([2.0, 3.0], [0.0, 1.0]) == 0.0
    with pytest.raises(DataError):
        auroc([], [1.0])


def test_default_score_is_the_energy():
    cfg = config_for("8gaussians", overrides=[("model.width", 16), ("train.device", "cpu")])
    method = Trainer(cfg, None).method
    assert not hasattr(method, "anomaly_score")
    x = torch.randn(10, 2)
    with torch.no_grad():
        expected = method.energy(x).double().numpy()
    np.testing.assert_allclose(score(method, x, batch_size=3), expected, rtol=1e-6)
    with pytest.raises(DataError, match="do not fit"):
        score(method, torch.randn(4, 3))


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("score") / "run"
    cfg = config_for("digits", "digits-latent-ebm", overrides=[
        ("model.width", 16), ("sampler.n_steps", 3), ("train.batch_size", 8),
        ("train.checkpoint_every", 0), ("train.device", "cpu"),
        ("data.options", {"exclude_labels": [9]}),
        ("train.options", {"z_dim": 4, "gen_width": 8, "post_steps": 3, "score_steps": 5}),
    ])
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    list(Trainer(cfg, path).events(3))
    torch.set_num_threads(before)
    return path


def test_ebm_score_on_a_folder_of_images(tmp_path, digits_run, capsys):
    folder = tmp_path / "imgs"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(1)
    for i in range(5):  # 8x8 RGB: resized to 16x16 and made grey like the model's data
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(folder / f"n{i}.png")
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(folder / "sub" / "blank.png")
    out = tmp_path / "scores.csv"
    assert main(["score", "--run", str(digits_run), "--data", str(folder), "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 6 and {r["item"].rsplit("/", 1)[-1] for r in rows} >= {"n0.png", "blank.png"}
    assert all(np.isfinite(float(r["score"])) for r in rows)
    assert "scored 6 items" in capsys.readouterr().out


def test_ebm_score_on_a_demo_reports_auroc(tmp_path, digits_run, capsys):
    out = tmp_path / "digits.csv"
    rc = main(["score", "--run", str(digits_run), "--data", "digits", "--data-option", 'split="test"',
               "--anomalous-labels", "9", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "AUROC (labels [9] anomalous" in text
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 360 and {r["label"] for r in rows} == {str(d) for d in range(10)}
    # train's spelling works too, and gives the same scores
    again = tmp_path / "again.csv"
    assert main(["score", "--run", str(digits_run), "--data", "digits", "--set",
                 'data.options.split="test"', "--out", str(again)]) == 0
    assert again.read_text() == out.read_text()


def test_ebm_score_bad_input_is_a_one_line_error(tmp_path, digits_run, capsys):
    assert main(["score", "--run", str(digits_run), "--data", "8gaussians"]) == 2
    assert "do not fit" in capsys.readouterr().err
    missing = tmp_path / "nope" / "s.csv"
    assert main(["score", "--run", str(digits_run), "--data", "digits", "--out", str(missing)]) == 2
    assert not missing.exists()
    assert main(["score", "--run", str(tmp_path / "none"), "--data", "digits"]) == 2
    capsys.readouterr()
    # said before the scoring pass, not after it (nothing "scored" is printed)
    assert main(["score", "--run", str(digits_run), "--data", "digits",
                 "--anomalous-labels", "x"]) == 2
    said = capsys.readouterr()
    assert "expects integers" in said.err and "scored" not in said.out
    assert main(["score", "--run", str(digits_run), "--data", "digits", "--out", str(tmp_path)]) == 2
    said = capsys.readouterr()
    assert "is a folder" in said.err and "scored" not in said.out
    # a DataConfig field is not a data option, and score has no way to set it
    assert main(["score", "--run", str(digits_run), "--data", "digits",
                 "--data-option", "max_items=10"]) == 2
    err = capsys.readouterr().err
    assert "a data setting, not a data option" in err and "data.max_items" not in err
    assert main(["score", "--run", str(digits_run), "--data", "digits",
                 "--set", "sampler.n_steps=3"]) == 2
    assert "takes only data.options.KEY=VALUE" in capsys.readouterr().err


def test_a_paired_image_model_scores_its_own_demo(capsys):
    """A class-conditional model's items are glyph | digit pairs, twice as wide as high:
    the data was read at the width, (1, 32, 64) for the model's (1, 16, 32)."""
    assert main(["score", "--run", "zoo:digits-class-conditional-conditional-coop",
                 "--data", "digits-class-conditional", "--batch-size", "512"]) == 0
    assert "scored 1437 items" in capsys.readouterr().out


def test_anomalous_labels_need_every_item_labelled(capsys):
    """Semi-supervised digits are mostly unlabelled (−1): an AUROC of the 10 labelled 3s
    against 1427 others, unlabelled 3s among them, was printed as if it meant something."""
    assert main(["score", "--run", "zoo:digits-semi-supervised-symbol-vector", "--data",
                 "digits-semi-supervised", "--anomalous-labels", "3"]) == 2
    assert "1337 of its 1437 items are unlabelled" in capsys.readouterr().err
