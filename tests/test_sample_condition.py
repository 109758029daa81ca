"""``ebm sample --condition``: a trained conditional model applied to the user's own picture or
label (:mod:`ebm_engine.sampling.user_condition`): layouts, the condition really used, bad input."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PIL import Image

from ebm_engine.cli import main
from ebm_engine.errors import ConfigError, DataError
from ebm_engine.learning.loading import load_model
from ebm_engine.sampling.user_condition import load_condition, sample_condition

INPAINTING = "zoo:digits-inpainting-conditional-coop"
CLASSES = "zoo:digits-class-conditional-conditional-coop"
TINY = [("model.width", 8), ("train.batch_size", 8), ("sampler.n_steps", 2),
        ("train.options.gen_width", 8), ("train.checkpoint_every", 0), ("train.device", "cpu")]


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _digit(index: int) -> np.ndarray:
    from sklearn.datasets import load_digits

    return (load_digits().images[index] / 16 * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> dict[str, str]:
    """Digits at 64×64 (grey and RGB), a box mask, bad masks, a colour scene, a broken file."""
    d = tmp_path_factory.mktemp("pictures")
    out = {}
    for name, index in (("seven", 7), ("zero", 0)):
        Image.fromarray(_digit(index)).resize((64, 64), Image.BILINEAR).save(d / f"{name}.png")
        out[name] = str(d / f"{name}.png")
    Image.open(out["seven"]).convert("RGB").save(d / "seven_rgb.png")
    mask = np.zeros((64, 64), np.uint8)
    mask[24:48, 8:56] = 255
    for name, arr in (("mask", mask), ("mask_big", np.zeros((80, 80), np.uint8)),
                      ("mask_odd", np.zeros((40, 40), np.uint8)), ("mask_empty", 0 * mask)):
        Image.fromarray(arr).save(d / f"{name}.png")
    rng = np.random.default_rng(0)
    for k in range(2):
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), np.uint8)).save(d / f"scene{k}.png")
    Image.open(d / "scene0.png").convert("L").save(d / "scene_grey.png")
    (d / "broken.png").write_bytes(b"not a picture")
    return {**out, **{k: str(d / f"{k}.png") for k in (
        "seven_rgb", "mask", "mask_big", "mask_odd", "mask_empty", "scene0", "scene1",
        "scene_grey", "broken")}}


def _tiny_run(tmp_path_factory, demo: str, *extra) -> str:
    from ebm_engine.learning.trainer import Trainer
    from ebm_engine.presets import config_for

    run = tmp_path_factory.mktemp(demo) / "run"
    list(Trainer(config_for(demo, overrides=TINY + list(extra)), run).events(2))
    return str(run)


def _draws(run: str, condition, n: int = 4, **kw) -> tuple[np.ndarray, dict]:
    loaded = load_model(run, "cpu")
    loaded.method.rng.manual_seed(0)
    cond = load_condition(loaded, condition, **kw)
    frames = list(sample_condition(loaded, cond, n))
    return frames[-1].x, frames[-1].extras


def test_inpainting_keeps_the_visible_pixels_and_fills_from_the_picture(pictures):
    loaded = load_model(INPAINTING, "cpu")
    cond = load_condition(loaded, pictures["seven"], pictures["mask"])
    x = list(sample_condition(loaded, cond, 3))[-1].x
    assert x.shape == (3, 1, 16, 64)  # picture | masked | initializer | after Langevin
    picture, keep = cond.picture[0].numpy(), cond.keep[0].numpy()
    assert keep.mean() == pytest.approx(1 - 6 * 12 / 256)  # the 64-px box, resized by 1/4
    visible, hidden = keep[0] > 0, keep[0] == 0
    for panel in (0, 2, 3):  # the given picture's visible pixels, exactly
        got = x[:, 0, :, 16 * panel:16 * (panel + 1)]
        np.testing.assert_array_equal(got[:, visible], np.broadcast_to(
            picture[0][visible], got[:, visible].shape))
    assert (x[:, 0, :, 16:32][:, hidden] == 0).all()  # masked: hidden pixels grey
    filled = x[:, 0, :, 48:][:, hidden]
    assert np.abs(filled - picture[0][hidden]).mean() > 0.01  # the box was refilled
    other, _ = _draws(INPAINTING, pictures["zero"], mask=pictures["mask"], n=3)
    assert np.abs(filled - other[:, 0, :, 48:][:, hidden]).mean() > 0.05  # … from the picture


def test_inpainting_default_mask_and_rgb_note(pictures):
    loaded = load_model(INPAINTING, "cpu")
    cond = load_condition(loaded, pictures["seven_rgb"])
    assert any("grayscale" in note for note in cond.notes)
    assert any("random box" in note for note in cond.notes)
    assert 0 < (cond.keep == 0).float().mean() < 0.5


def test_class_condition_gives_that_class(pictures):
    from ebm_engine.metrics.digits import classifier

    for label in (3, 6):  # the zoo model's 7s read as 5s (its eval accuracy is 0.9)
        x, _ = _draws(CLASSES, str(label), n=8)
        assert x.shape == (8, 1, 16, 48)
        with torch.no_grad():
            pred = classifier()(torch.from_numpy(x[..., 32:]).clamp(-1, 1)).argmax(1)
        assert (pred == label).float().mean() >= 0.5, (label, pred)


@pytest.fixture(scope="module")
def saliency_run(tmp_path_factory) -> str:
    return _tiny_run(tmp_path_factory, "saliency-popout", ("data.options.n", 24))


def test_saliency_overlays_follow_the_scene(saliency_run, pictures):
    a, _ = _draws(saliency_run, pictures["scene0"], n=2)
    b, _ = _draws(saliency_run, pictures["scene1"], n=2)
    assert a.shape == (2, 3, 32, 96)  # scene | initializer | after Langevin (overlays)
    assert np.abs(a[..., 32:] - b[..., 32:]).mean() > 0.01
    loaded = load_model(saliency_run, "cpu")
    with pytest.raises(DataError, match="expects an RGB picture, got grayscale"):
        load_condition(loaded, pictures["scene_grey"])
    with pytest.raises(ConfigError, match="--mask is for inpainting"):
        load_condition(loaded, pictures["scene0"], pictures["mask"])


@pytest.fixture(scope="module")
def translation_run(tmp_path_factory) -> str:
    return _tiny_run(tmp_path_factory, "digits-handwritten-typeset",
                     ("data.options.typeset_count", 20), ("train.options.gen_width", 4))


def test_translation_of_the_picture_both_ways(translation_run, pictures, tmp_path, capsys):
    a, extras = _draws(translation_run, pictures["seven"], n=2)
    b, _ = _draws(translation_run, pictures["zero"], n=2)
    assert a.shape == (2, 1, 16, 16) and extras["reconstructed"].shape == a.shape
    loaded = load_model(translation_run, "cpu")
    picture = load_condition(loaded, pictures["seven"]).picture
    np.testing.assert_array_equal(extras["source"], picture.expand(2, -1, -1, -1).numpy())
    # (a 2-iteration model: tiny differences, but the kept training sources would give none)
    assert np.abs(a - b).max() > 1e-4
    ba, _ = _draws(translation_run, pictures["seven"], n=2, direction="ba")
    assert np.abs(ba - a).max() > 1e-4
    out = tmp_path / "t.png"
    assert main(["sample", "--run", translation_run, "--condition", pictures["seven"],
                 "--direction", "ba", "--n", "2", "--out", str(out)]) == 0
    assert "handwritten" in capsys.readouterr().out and out.is_file()
    # one draw per row, as every --condition task; the npz holds all three panels
    w, h = Image.open(out).size
    assert w > 1.3 * h, (w, h)  # 2 rows of 3 panels (stacked panels were taller than wide)
    npz = tmp_path / "t.npz"
    assert main(["sample", "--run", translation_run, "--condition", pictures["seven"],
                 "--n", "2", "--out", str(npz)]) == 0
    assert "samples: the translations; source and reconstructed beside" in capsys.readouterr().out
    with np.load(npz) as saved:  # the translations, their chain, and the other two panels
        assert saved["samples"].shape == saved["reconstructed"].shape == (2, 1, 16, 16)
        assert saved["chain"].shape[1:] == saved["samples"].shape
        np.testing.assert_array_equal(saved["source"], extras["source"])


def test_cli_writes_one_draw_per_row(pictures, tmp_path, capsys):
    out = tmp_path / "x.png"
    assert main(["sample", "--run", INPAINTING, "--condition", pictures["seven_rgb"],
                 "--mask", pictures["mask"], "--n", "3", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "note:" in text and "grayscale" in text and "3 draws" in text
    w, h = Image.open(out).size
    assert w > 3 * h / 3  # rows of four 16x16 panels, three rows: wider than tall


@pytest.mark.parametrize("args, message", [
    (["--run", INPAINTING, "--condition", "{d}/nope.png"], "no such picture file"),
    (["--run", INPAINTING, "--condition", "{broken}"], "not a readable image"),
    (["--run", INPAINTING, "--condition", "{seven}", "--mask", "{mask_big}"],
     "larger than the picture"),
    (["--run", INPAINTING, "--condition", "{seven}", "--mask", "{mask_odd}"],
     "must be the picture's size"),
    (["--run", INPAINTING, "--condition", "{seven}", "--mask", "{mask_empty}"], "no white pixels"),
    (["--run", INPAINTING, "--condition", "{seven}", "--mask", "{d}/nomask.png"],
     "no such mask file"),
    (["--run", "zoo:digits-ml", "--condition", "{seven}"], "takes no condition"),
    (["--run", CLASSES, "--condition", "10"], "label 10 is out of range"),
    (["--run", CLASSES, "--condition", "{seven}"], "takes a class (0..9)"),
    (["--run", INPAINTING, "--condition", "{seven}", "--direction", "ba"], "--direction is for"),
    (["--run", INPAINTING, "--mask", "{mask}"], "go with --condition"),
    (["--run", INPAINTING, "--condition", "3"], "takes a picture, not a label"),
    (["--run", CLASSES, "--condition", "3", "--invert"], "--invert is for a picture"),
])
def test_bad_input_is_one_line(pictures, tmp_path, capsys, args, message):
    from pathlib import Path

    names = {**pictures, "d": str(Path(pictures["seven"]).parent)}
    argv = ["sample", *(a.format(**names) for a in args), "--n", "2", "--out", str(tmp_path / "x.png")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


# --- the app: Export → "Sample from my picture…" ------------------------------------------
@pytest.mark.app
def test_app_samples_from_my_picture(qtbot, tmp_path, pictures, monkeypatch):
    import app.user_picture as user_picture
    from app.testing import make_window, shutdown
    from ebm_engine.runs import zoo

    window = make_window(qtbot, tmp_path, demo="digits-inpainting")
    menu = window.export_menu
    answers: list[str] = []
    monkeypatch.setattr(user_picture.QFileDialog, "getOpenFileName",
                        staticmethod(lambda *a, **k: (answers.pop(0), "")))
    threads: list[str] = []
    snapshot = user_picture.picture_snapshot

    def on_worker(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return snapshot(*args, **kwargs)

    monkeypatch.setattr(user_picture, "picture_snapshot", on_worker)

    def sample(signal, timeout: int = 60_000) -> None:
        """Trigger the action; the worker answers through ``signal`` (GUI thread free meanwhile)."""
        with qtbot.waitSignal(signal, timeout=timeout):
            menu.picture_action.trigger()
            assert not menu.picture_action.isEnabled()  # until the answer reaches the GUI thread
        assert menu.picture_action.isEnabled() and not menu.picture_busy  # ready at once

    try:
        menu._run_dir = lambda: None
        menu.picture_action.trigger()  # refused before any worker starts
        assert "Open or train a conditional run first" in window.errors.pop()
        assert not menu.picture_busy
        menu._run_dir = lambda: zoo.resolve(INPAINTING)
        answers[:] = [pictures["seven_rgb"], pictures["mask"]]
        sample(menu.sigSampled)
        assert not window.errors
        assert window.snapshot.samples.shape == (8, 1, 16, 64)  # the sample view shows it
        assert type(window.sample_view).__name__ == "ImageGridView"
        assert "grayscale" in window.log.toPlainText()
        assert threads == ["ebm-picture"]  # sampled off the GUI thread
        assert "given your input" in window.samples.title.text()
        answers[:] = [pictures["seven"], pictures["mask_big"]]
        sample(menu.sigError)
        assert "larger than the picture" in window.errors.pop()
        answers[:] = [""]  # cancelled: nothing happens
        assert menu.sample_from_picture() is False and not window.errors
        offered: list = []
        monkeypatch.setattr(user_picture.QInputDialog, "getItem",
                            staticmethod(lambda *a, **k: offered.append(a[3]) or ("3", True)))
        menu._run_dir = lambda: zoo.resolve(CLASSES)
        sample(menu.sigSampled)
        assert window.snapshot.samples.shape == (8, 1, 16, 48) and not window.errors
        assert offered[-1][:3] == ["0", "1", "2"]  # the digits demo's classes have no names
        menu._run_dir = lambda: zoo.resolve("zoo:digits-ml")
        menu.picture_action.trigger()
        assert "takes no condition" in window.errors.pop()
    finally:
        shutdown(window)


def _train_on_labels(data, run) -> None:
    """One iteration of conditional_coop on the three class folders under ``data``."""
    assert main(["train", "--data", str(data), "--method", "conditional_coop",
                 "--set", "data.options.labels=folders", "--set", "data.options.pairs=labels",
                 "--set", "train.options.condition=label", "--set", "train.options.n_classes=3",
                 "--set", "sampler.n_steps=1", "--set", "train.batch_size=4", "--steps", "1",
                 "--out", str(run), "--quiet"]) == 0


def test_a_users_classes_are_sampled_by_name(tmp_path, capsys):
    """Class folders one/, seven/, three/: the model's classes are 0, 1, 2 and nothing
    said which was which; --condition seven was refused. The run records the names, and
    a class is taken by name or number; a wrong one lists them."""
    rng = np.random.default_rng(0)
    for name in ("one", "seven", "three"):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(4):
            Image.fromarray((rng.random((8, 8)) * 255).astype(np.uint8)).save(
                tmp_path / "data" / name / f"{i}.png")
    run = tmp_path / "cc"
    _train_on_labels(tmp_path / "data", run)
    out = tmp_path / "seven.png"
    assert main(["sample", "--run", str(run), "--condition", "seven", "--n", "2", "--steps", "1",
                 "--out", str(out)]) == 0 and out.is_file()
    capsys.readouterr()
    assert main(["sample", "--run", str(run), "--condition", "eight", "--n", "2",
                 "--out", str(out)]) == 2
    assert "takes a class (0 = one, 1 = seven, 2 = three), got 'eight'" in capsys.readouterr().err


def test_class_names_that_are_numbers_are_read_as_names():
    """Class folders 1..10: "1" is class 0's name, not class number 1 (the app's class
    chooser sends names)."""
    from ebm_engine.sampling.user_condition import _label

    names = [str(k) for k in range(1, 11)]
    assert _label("1", 10, names) == 0 and _label("10", 10, names) == 9
    assert _label("0", 10, names) == 0  # no class is named 0: its number
    assert _label("3", 10, []) == 3


def _three_kinds_of_picture(folder, per_class: int = 12) -> None:
    """Class folders whose pictures differ in where they are bright."""
    rng = np.random.default_rng(1)
    masks = {"top": np.s_[:8, :], "left": np.s_[:, :8], "middle": np.s_[4:12, 4:12]}
    for name, where in masks.items():
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.random((16, 16)) * 60
            pixels[where] += 180
            Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(folder / name / f"{i}.png")


def test_eval_of_a_class_conditional_run_on_own_labels_judges_its_outputs(tmp_path, capsys):
    """`ebm eval` of a class-conditional run on the user's labels reported only chance
    (the judge was the digits demo's). A classifier fitted to the run's own pictures
    now judges the outputs; its accuracy on held-out real pictures is the ceiling."""
    import json

    _three_kinds_of_picture(tmp_path / "data")
    run = tmp_path / "cc"
    _train_on_labels(tmp_path / "data", run)
    capsys.readouterr()
    assert main(["eval", "--run", str(run), "--n", "30", "--steps", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    metrics = result.get("metrics", result)
    assert metrics["chance"] == pytest.approx(1 / 3)
    assert metrics["judge_accuracy"] >= 0.85  # the three kinds are told apart by pixels
    assert 0.0 <= metrics["accuracy_langevin"] <= 1.0
    assert 0.0 <= metrics["accuracy_initializer"] <= 1.0
    assert metrics["spread_data"] > 0.05 and metrics["spread_langevin"] >= 0.0


def test_within_class_spread_tells_one_picture_per_class_from_variety():
    """Outputs that are one picture per class score an accuracy of (classes right) / K
    whatever the noise; their spread says so, against the data's."""
    from ebm_engine.metrics.conditional import within_class_spread

    labels = torch.arange(40) % 4
    same = torch.rand(4, 1, 8, 8)[labels]  # every draw of a class alike
    varied = same + 0.3 * torch.randn(40, 1, 8, 8)
    assert within_class_spread(same, labels, 4) == pytest.approx(0.0, abs=1e-6)
    assert within_class_spread(varied, labels, 4) == pytest.approx(0.3, rel=0.2)
    # two draws per class (--n 20 over 10 classes) read as varied as the data's many: the
    # mean of per-pixel standard deviations of two items was 0.56× theirs
    torch.manual_seed(0)
    two = within_class_spread(0.3 * torch.randn(400, 1, 8, 8), torch.arange(400) // 2, 200)
    many = within_class_spread(0.3 * torch.randn(2000, 1, 8, 8), torch.arange(2000) % 10, 10)
    assert two == pytest.approx(0.3, rel=0.03) and many == pytest.approx(0.3, rel=0.03)


def test_the_label_judge_is_at_chance_on_labels_unrelated_to_the_pictures():
    """The ceiling is honest: labels drawn at random give a judge near chance, where
    labels that follow the pictures give one near 1."""
    import torch

    from ebm_engine.metrics.label_judge import fit_judge

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(300, 1, 8, 8, generator=gen) * 2 - 1
    random_labels = torch.randint(0, 3, (300,), generator=gen)
    assert fit_judge(x, random_labels, 3)[1] < 0.55
    regions = torch.stack([x[:, 0, :4].mean((1, 2)), x[:, 0, 4:].mean((1, 2)),
                           x[:, 0, :, :4].mean((1, 2))], 1)
    follows = regions.argmax(1)  # which region is brightest
    predict, accuracy = fit_judge(x, follows, 3)
    assert accuracy > 0.8 and predict(x[:5]).shape == (5,)


def test_a_model_without_conditions_says_what_steers_it(tmp_path, capsys):
    """The stroke translator's refusal named cycle_coop among the conditional methods;
    controlled text said only "takes no condition", and its attribute error gave no names."""
    out = str(tmp_path / "a.txt")
    assert main(["sample", "--run", "zoo:sequence-translation-cycle-coop", "--condition", "x.png",
                 "--n", "2", "--out", str(tmp_path / "a.png")]) == 2
    assert "translates trajectory items, not pictures" in capsys.readouterr().err
    assert main(["sample", "--run", "zoo:grammar-text-controlled-latent-seq", "--condition", "q",
                 "--n", "2", "--out", out]) == 2
    assert "--option sample_attribute=K (0 = statement+present" in capsys.readouterr().err
    assert main(["sample", "--run", "zoo:grammar-text-controlled-latent-seq", "--option",
                 "sample_attribute=9", "--n", "2", "--out", out]) == 2
    assert "3 = question+past), got 9" in capsys.readouterr().err


def test_a_conditional_npz_holds_the_answers_not_the_picture_strip(tmp_path, capsys):
    """`.npz` of a conditional model saved the strip label | initializer | after Langevin
    (16×48) as `samples`: the answers are `samples` now, the strip is `strip`."""
    for extra in ([], ["--condition", "3"]):
        out = tmp_path / f"c{len(extra)}.npz"
        assert main(["sample", "--run", "zoo:digits-class-conditional-conditional-coop", "--n",
                     "4", "--steps", "2", "--out", str(out), *extra]) == 0
        saved = np.load(out)
        assert saved["samples"].shape == saved["initializer"].shape == (4, 1, 16, 16)
        assert saved["strip"].shape == (4, 1, 16, 48)
        np.testing.assert_array_equal(saved["strip"][..., 32:], saved["samples"])
    assert "samples: the answers" in capsys.readouterr().out
    # the class of each row rides along: without it the answers could not be judged
    out = tmp_path / "many.npz"
    assert main(["sample", "--run", "zoo:digits-class-conditional-conditional-coop", "--n",
                 "12", "--steps", "1", "--out", str(out)]) == 0
    np.testing.assert_array_equal(np.load(out)["labels"], np.arange(12) % 10)


@pytest.mark.app
def test_the_raw_answers_are_not_drawn_beside_the_samples(qtbot):
    from app.widgets.samples_area import SamplesArea
    from ebm_engine.learning.events import SamplesReady

    area = SamplesArea()
    qtbot.addWidget(area)
    strip = np.zeros((2, 1, 16, 48), np.float32)
    raw = {"output": strip[..., 32:], "initializer": strip[..., 16:32]}
    area.show_snapshot(SamplesReady(1, "image", (-1.0, 1.0), strip, np.zeros(2, np.float32),
                                    extras=raw))
    assert area.extras.isHidden() and not area.extras.widgets


def test_eval_says_which_conditions_it_scored_on_and_not_as_a_score(capsys):
    assert main(["eval", "--run", INPAINTING, "--n", "20"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("held-out conditions")
    rows = [line.split()[0] for line in lines[1:] if line.startswith("  ")]
    assert "psnr_langevin" in rows and "heldout" not in rows


def test_eval_on_the_users_own_pictures_says_training_conditions(tmp_path, capsys):
    """An inpainting run on a folder of pictures was scored on those pictures (there is no
    test split) but said "held-out conditions": the flag compared two loads of the data."""
    _three_kinds_of_picture(tmp_path / "data", per_class=4)
    run = tmp_path / "inp"
    assert main(["train", "--data", str(tmp_path / "data"), "--method", "conditional_coop",
                 "--set", "train.options.condition=mask", "--set", "sampler.n_steps=1",
                 "--set", "train.batch_size=4", "--steps", "1", "--out", str(run),
                 "--quiet"]) == 0
    capsys.readouterr()
    assert main(["eval", "--run", str(run), "--n", "4", "--steps", "1"]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith(", training conditions")
