"""``data.options`` keys a demo or reader does not read are refused with one line.

A misspelt key (``data.options.max_items`` where ``data.max_items`` was meant)
used to be accepted and ignored: the run trained on data the user did not ask for.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ebm_engine.cli import main
from ebm_engine.config import DataConfig, RunConfig
from ebm_engine.data import cache, demos, load_dataset
from ebm_engine.data.option_keys import PATH_OPTIONS, check_options
from ebm_engine.errors import ConfigError, DataError
from ebm_engine.resources import resources_dir


def _pictures(folder: Path, n: int = 4) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def test_every_demo_declares_each_option_it_reads(asked_keys) -> None:
    """A key a loader reads but its demo does not declare would be refused: the
    declaration must cover every read (this fails when a loader grows an option)."""
    if not demos():
        pytest.fail("no demos registered")
    for name, info in demos().items():
        if name == "molecules":
            pytest.importorskip("rdkit")
        options = asked_keys()
        # max_items keeps the navigation demo's planner short; the others ignore it
        info.loader(DataConfig(source=name, max_items=8, options=options))
        assert options.asked <= set(info.options), (name, options.asked - set(info.options))


def test_a_demo_refuses_a_key_it_does_not_read() -> None:
    with pytest.raises(DataError, match=r"^data\.options\.max_items: the digits demo takes no "
                                        r"such option \(did you mean data\.max_items\?\); "
                                        r"options: exclude_labels, split$"):
        load_dataset(DataConfig(source="digits", options={"max_items": 64}))
    with pytest.raises(DataError, match=r"splt.*did you mean 'split'"):
        load_dataset(DataConfig(source="digits", options={"splt": "test"}))
    with pytest.raises(DataError, match="the moons demo takes no data.options"):
        load_dataset(DataConfig(source="moons", options={"split": "test"}))
    # what a demo reads still works, and an empty reader choice means "none"
    held = load_dataset(DataConfig(source="digits", options={"split": "test", "reader": ""}))
    assert 0 < len(held) < len(load_dataset(DataConfig(source="digits")))


def test_a_path_refuses_keys_no_reader_reads_and_the_chosen_reader_does_not_read(
        tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(cache.ENV_CACHE_DIR, str(tmp_path / "cache"))
    pics = _pictures(tmp_path / "pics")
    with pytest.raises(DataError, match=r"framez: no reader takes such an option \(did you "
                                        r"mean 'frames'\?\)"):
        load_dataset(DataConfig(source=str(pics), options={"framez": 4}))
    # 'frames' is a video reader's option: the detected image-folder reader refuses it
    with pytest.raises(DataError, match="frames: the image-folder reader takes no such option"):
        load_dataset(DataConfig(source=str(pics), options={"frames": 4}))
    with pytest.raises(DataError, match="frames: the mesh reader takes no such option"):
        check_options(DataConfig(source=str(pics), options={"reader": "mesh", "frames": 4}))
    for key in PATH_OPTIONS:  # every path takes these, whichever reader reads it
        assert key in ("reader", *cache.CACHE_OPTIONS, "labels", "pairs")
    assert len(load_dataset(DataConfig(source=str(pics), options={"cache": True}))) == 4


def test_a_cached_folder_still_refuses_an_unknown_key(tmp_path: Path, monkeypatch) -> None:
    """The key check comes before the cache: a hit skips the reader, not the check.

    The cache file is built as a version without the check would have built it.
    """
    import ebm_engine.data as data

    monkeypatch.setenv(cache.ENV_CACHE_DIR, str(tmp_path / "cache"))
    pics = _pictures(tmp_path / "pics")
    odd = DataConfig(source=str(pics), options={"frame_stp": 2})
    with monkeypatch.context() as old:
        old.setattr(data, "check_options", lambda cfg, reader=None: None)
        built = load_dataset(odd)
    assert built.meta["cache"]["built"]
    with pytest.raises(DataError, match="frame_stp.*did you mean 'frame_step'"):
        load_dataset(odd)


def test_an_edit_is_refused_at_once_and_the_cli_says_one_line(tmp_path: Path, capsys) -> None:
    cfg = RunConfig().with_value("data.source", "digits")
    assert cfg.with_value("data.options.split", "test").data.options == {"split": "test"}
    with pytest.raises(ConfigError, match="data.max_items"):
        cfg.with_value("data.options.max_items", 64)
    out = tmp_path / "run"
    assert main(["train", "--data", "digits", "--out", str(out), "--steps", "1",
                 "--set", "data.options.max_items=64"]) == 2
    err = capsys.readouterr().err.strip()
    assert "did you mean data.max_items" in err and "\n" not in err and "Traceback" not in err
    assert not out.exists()
    # a config file with such a key is refused when its data is loaded, before the run folder
    bad = cfg.to_dict()
    bad["data"]["options"] = {"max_item": 3}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    assert main(["train", "--config", str(tmp_path / "bad.json"), "--out", str(out),
                 "--steps", "1"]) == 2
    assert "did you mean data.max_items" in capsys.readouterr().err and not out.exists()


def test_every_preset_and_zoo_entry_passes_the_check() -> None:
    presets = sorted((resources_dir() / "presets").glob("*.json"))
    zoo = sorted((resources_dir() / "zoo").glob("*/config.json"))
    assert presets and zoo
    for path in presets + zoo:
        data = json.loads(path.read_text()).get("data", {})
        source = data.get("source")
        if source in demos():
            check_options(DataConfig(source=source, options=data.get("options", {})))


@pytest.mark.app
def test_the_app_refuses_the_key_in_its_settings(qtbot, tmp_path: Path) -> None:
    from app.main import apply_settings
    from app.testing import make_window

    window = make_window(qtbot, tmp_path, demo="digits", knobs=())
    problem = apply_settings(window, ["data.options.max_items=64"])
    assert problem is not None and "did you mean data.max_items" in problem
    assert "max_items" not in window.current_config().data.options
    assert apply_settings(window, ["data.options.split=train"]) is None
    assert window.current_config().data.options == {"split": "train"}
    window.controller.shutdown()


def test_every_demo_card_names_exactly_the_data_options_it_takes() -> None:
    """The About cards tell users which data.options to set: none may be refused, and
    the keys a card does not describe are listed in its Knobs from the registration."""
    import re

    from ebm_engine.about import demo_about

    named = 0
    for name, info in demos().items():
        card = demo_about(name)
        assert card is not None, name
        for key in re.findall(r"data\.options\.([a-z_]+)", card.text):
            named += 1
            assert key in info.options, (name, key)
        listed = re.findall(r"`(\w+)`", card.sections["Knobs"].split("Data options")[-1]) \
            if "Data options" in card.sections["Knobs"] else []
        for key in info.options:
            assert f"data.options.{key}" in card.text or key in listed, (name, key)
    assert named >= 8
    digits = demo_about("digits").sections["Knobs"]
    assert digits.endswith("`exclude_labels`, `split`; any other key is refused.")


@pytest.mark.parametrize(("source", "options", "message"), [
    ("digits", {"exclude_labels": "abc"}, "exclude_labels must be a list of digits"),
    ("digits", {"exclude_labels": 5}, "exclude_labels must be a list of digits"),
    ("digits", {"exclude_labels": list(range(10))}, "leaves at least one"),
    ("crowd-prediction", {"frames": "abc"}, "frames must be an integer in 100..20000"),
    ("crowd-prediction", {"frames": 10**9}, "frames must be an integer in 100..20000"),
    ("digits-semi-supervised", {"labels_per_class": "x"}, "labels_per_class must be an integer"),
    ("digits-semi-supervised", {"label_seed": -1}, "label_seed must be an integer"),
    ("navigation-ioc", {"test_items": 10**9}, "test_items must be an integer in 1..2000"),
    ("sequence-translation", {"per_shape": "x"}, "per_shape must be an integer"),
    ("saliency-popout", {"n": "x"}, "data.options.n must be an integer"),
    ("saliency-popout", {"ambiguous": 2}, "ambiguous must be a number in [0, 1]"),
    ("digits-handwritten-typeset", {"typeset_count": 10**9}, "typeset_count must be an integer"),
    ("digits-handwritten-typeset", {"seed": "x"}, "seed must be an integer"),
    ("single-image", {"photo": "download_all"}, "photo must be one of"),
])
def test_absurd_option_values_are_one_line_errors_not_crashes_or_hangs(source, options, message):
    """Typable values of a declared key: a wrong type or a size that would simulate,
    plan or render for hours is refused before any work."""
    with pytest.raises(DataError) as err:
        load_dataset(DataConfig(source=source, options=options))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_text_file_refuses_a_bad_max_tokens(tmp_path: Path) -> None:
    lines = tmp_path / "lines.txt"
    lines.write_text("the cat sat\nthe dog ran\n")
    with pytest.raises(DataError, match="max_tokens must be an integer in 1..10000"):
        load_dataset(DataConfig(source=str(lines), options={"max_tokens": "many"}))
    assert len(load_dataset(DataConfig(source=str(lines), options={"max_tokens": 3}))) == 2


def test_navigation_plans_at_most_its_own_scenes(monkeypatch) -> None:
    """data.max_items means "at most": a huge value must not plan a billion scenes."""
    from ebm_engine.data import navigation

    asked = {}
    monkeypatch.setattr(navigation, "navigation_dataset",
                        lambda n_train, n_test: asked.update(n_train=n_train, n_test=n_test))
    load = demos()["navigation-ioc"].loader
    load(DataConfig(source="navigation-ioc", max_items=10**9))
    assert asked == {"n_train": navigation.N_TRAIN, "n_test": navigation.N_TEST}
    load(DataConfig(source="navigation-ioc", max_items=16, options={"test_items": 4}))
    assert asked == {"n_train": 16, "n_test": 4}


def test_a_run_saved_with_an_unread_key_still_resumes_and_evaluates(tmp_path: Path, capsys) -> None:
    """Runs made before the check may carry such a key; it did nothing then, so it is
    dropped with a one-line warning rather than locking the run away."""
    from ebm_engine.learning.saved_config import IgnoredOptionWarning, saved_run_config
    from ebm_engine.runs.rundir import RunDir

    run = tmp_path / "run"
    assert main(["train", "--data", "moons", "--steps", "2", "--out", str(run), "--quiet",
                 "--set", "train.batch_size=16", "--set", "sampler.n_steps=5"]) == 0
    for state in run.glob("checkpoints/*/state.json"):  # as an older version saved it
        saved = json.loads(state.read_text())
        saved["config"]["data"]["options"] = {"max_item": 5}
        state.write_text(json.dumps(saved))
    capsys.readouterr()
    assert main(["eval", "--run", str(run), "--n", "200"]) == 0
    assert "ebm: warning: ignoring data.options max_item" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--steps", "1", "--quiet"]) == 0
    err = capsys.readouterr().err.strip()
    assert err == ("ebm: warning: ignoring data.options max_item of this run: moons does not "
                   "read them (they did nothing when the run was made)")
    latest = json.loads((RunDir(run).latest_checkpoint() / "state.json").read_text())
    assert latest["config"]["data"]["options"] == {}  # the continued run no longer carries it
    cfg = RunConfig().with_value("data.source", "moons").replace_value(
        "data.options", {"max_item": 5})
    with pytest.warns(IgnoredOptionWarning, match="max_item"):
        assert saved_run_config(cfg).data.options == {}
    good = RunConfig().with_value("data.source", "digits").with_value("data.options.split", "test")
    assert saved_run_config(good) is good


def test_a_saved_runs_folder_drops_the_keys_its_own_reader_does_not_read(tmp_path: Path) -> None:
    """'frames' is some reader's key, but not the image-folder reader's that read the run's
    folder: resuming would refuse it, so it goes too."""
    from ebm_engine.learning.saved_config import IgnoredOptionWarning, saved_run_config

    pics = _pictures(tmp_path / "pics")
    cfg = RunConfig().with_value("data.source", str(pics)).replace_value(
        "data.options", {"frames": 4, "cache": False})
    with pytest.warns(IgnoredOptionWarning, match="frames"):
        assert saved_run_config(cfg).data.options == {"cache": False}
    gone = cfg.replace_value("data.source", str(tmp_path / "moved"))
    assert saved_run_config(gone) is gone  # the reader cannot be told: any reader's keys pass


def test_every_photo_the_single_image_demo_takes_loads_without_a_download() -> None:
    from ebm_engine.data.single_image import PHOTOS, photo

    for name in PHOTOS:
        img = photo(name, 32)
        assert img.shape[0] == 3 and img.shape[2] == 32 and -1 <= img.min() < img.max() <= 1, name
