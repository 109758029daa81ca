"""A run whose training data has gone: eval and resume say it is this run's data,
sampling (which does not need it) still works, and a fork leaves no folder behind."""

from __future__ import annotations

import numpy as np

from ebm_engine.cli import main
from ebm_engine.config import RunConfig


def test_eval_and_resume_name_the_runs_missing_data(tmp_path, capsys):
    data = tmp_path / "points.npy"
    np.save(data, np.random.default_rng(0).normal(size=(300, 2)).astype(np.float32))
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--steps", "2", "--out", str(run), "--quiet",
                 "--set", "sampler.n_steps=2"]) == 0
    data.unlink()
    capsys.readouterr()
    for argv in (["eval", "--run", str(run), "--no-write", "--n", "16"],
                 ["train", "--resume", str(run), "--steps", "1", "--quiet"],
                 ["train", "--resume", str(run), "--out", str(tmp_path / "fork"), "--steps",
                  "1", "--quiet"]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err == (f"ebm: error: this run's training data {data} is no longer there (the "
                       f"run {run} was trained on it, and evaluating or resuming reads it "
                       f"again): put it back at that path"), argv
    assert not (tmp_path / "fork").exists()
    assert main(["sample", "--run", str(run), "--n", "4", "--steps", "1",
                 "--out", str(tmp_path / "x.npz")]) == 0


def test_a_relative_data_path_is_recorded_absolute_so_any_folder_finds_it(
        tmp_path, capsys, monkeypatch):
    (tmp_path / "here").mkdir()
    np.save(tmp_path / "here" / "p.npy", np.random.default_rng(0).normal(size=(100, 2))
            .astype(np.float32))
    monkeypatch.chdir(tmp_path / "here")
    run = tmp_path / "run"
    assert main(["train", "--data", "p.npy", "--steps", "1", "--out", str(run), "--quiet",
                 "--set", "sampler.n_steps=1"]) == 0
    cfg = RunConfig.load(run / "config.json")
    assert cfg.data.source == str(tmp_path / "here" / "p.npy")
    monkeypatch.chdir(tmp_path)  # a resume and an eval from elsewhere (a cluster job …)
    assert main(["eval", "--run", str(run), "--n", "8", "--no-write"]) == 0
    assert main(["train", "--resume", str(run), "--steps", "1", "--quiet"]) == 0


def test_a_run_that_names_its_data_relatively_says_where_it_was(tmp_path, capsys, monkeypatch):
    """Runs from before sources were recorded absolute: the message names the folder."""
    (tmp_path / "here").mkdir()
    np.save(tmp_path / "here" / "p.npy", np.random.default_rng(0).normal(size=(100, 2))
            .astype(np.float32))
    monkeypatch.chdir(tmp_path / "here")
    import ebm_engine.commands.train as train_command

    monkeypatch.setattr(train_command, "_absolute_data", lambda source: source)  # as before
    run = tmp_path / "run"
    assert main(["train", "--data", "p.npy", "--steps", "1", "--out", str(run), "--quiet",
                 "--set", "sampler.n_steps=1"]) == 0
    assert RunConfig.load(run / "config.json").data.source == "p.npy"
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["eval", "--run", str(run), "--n", "8", "--no-write"]) == 2
    err = capsys.readouterr().err
    assert f"p.npy is not found from {tmp_path}" in err and "run from that folder" in err



def test_the_readmes_picture_to_map_run_resumes_from_another_folder(tmp_path, monkeypatch):
    """``--data photos/ --set data.options.pairs=maps/`` from T, resumed from T/runs: both
    folders are recorded absolute (pairs was left relative to the first working folder)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for folder, shape in (("photos", (12, 12, 3)), ("maps", (12, 12))):
        for c in ("cats", "dogs"):
            (tmp_path / folder / c).mkdir(parents=True)
            for i in range(3):
                Image.fromarray((rng.random(shape) * 255).astype(np.uint8)).save(
                    tmp_path / folder / c / f"{i}.png")
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "runs" / "sal"
    assert main(["train", "--data", "photos/", "--method", "conditional_coop",
                 "--set", "data.image_size=12", "--set", "data.options.pairs=maps/",
                 "--set", "train.options.condition=image",
                 "--set", "train.options.output_channels=1", "--set", "sampler.n_steps=1",
                 "--steps", "1", "--out", str(run), "--quiet"]) == 0
    cfg = RunConfig.load(run / "config.json")
    assert cfg.data.options["pairs"] == str(tmp_path / "maps")
    monkeypatch.chdir(tmp_path / "runs")
    assert main(["train", "--resume", str(run), "--steps", "1", "--quiet"]) == 0


def test_an_older_image_folder_run_says_where_its_data_were(tmp_path, capsys, monkeypatch):
    """data.json holds an image folder's absolute path: the message names it."""
    from PIL import Image

    import ebm_engine.commands.train as train_command

    rng = np.random.default_rng(0)
    (tmp_path / "here" / "pics").mkdir(parents=True)
    for i in range(6):
        Image.fromarray((rng.random((8, 8)) * 255).astype(np.uint8)).save(
            tmp_path / "here" / "pics" / f"{i}.png")
    monkeypatch.chdir(tmp_path / "here")
    monkeypatch.setattr(train_command, "_absolute_data", lambda source: source)  # as before
    run = tmp_path / "run"
    assert main(["train", "--data", "pics", "--steps", "1", "--out", str(run), "--quiet",
                 "--set", "sampler.n_steps=1", "--set", "model.width=8"]) == 0
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["eval", "--run", str(run), "--n", "8", "--no-write"]) == 2
    err = capsys.readouterr().err
    assert f"(it was {tmp_path / 'here' / 'pics'} when the run began)" in err, err


def test_a_label_file_beside_the_data_folder_is_found_and_recorded_absolute(tmp_path,
                                                                            monkeypatch):
    """``--data photos/ --set data.options.labels=labels.csv`` with labels.csv in the
    working folder: it was looked for only inside photos/ ("no such label file"), while a
    pairs folder there was found. Both now look in the data folder, then the current one."""
    from PIL import Image

    rng = np.random.default_rng(0)
    (tmp_path / "photos").mkdir()
    rows = ["file,label"]
    for i in range(6):
        Image.fromarray((rng.random((8, 8, 3)) * 255).astype(np.uint8)).save(
            tmp_path / "photos" / f"{i}.png")
        rows.append(f"{i}.png,{('', 'cat', 'dog')[i % 3]}")  # two classes, some unlabelled
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "runs" / "ss"
    assert main(["train", "--data", "photos/", "--method", "symbol_vector",
                 "--set", "data.options.labels=labels.csv", "--set", "data.image_size=8",
                 "--set", "sampler.n_steps=1", "--set", "train.batch_size=4",
                 "--set", "train.options.n_classes=2",
                 "--steps", "1", "--out", str(run), "--quiet"]) == 0
    assert RunConfig.load(run / "config.json").data.options["labels"] == str(
        tmp_path / "labels.csv")
