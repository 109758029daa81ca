"""Users' labels and paired targets for image folders (data.options.labels / pairs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ebm_engine.config import DataConfig
from ebm_engine.data import load_dataset
from ebm_engine.data.conditional_demos import glyph_labels
from ebm_engine.errors import DataError


def pictures(root: Path, classes=("cats", "dogs"), n: int = 3, side: int = 12,
             grey: bool = False, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            shape = (side, side) if grey else (side, side, 3)
            Image.fromarray((rng.random(shape) * 255).astype(np.uint8)).save(root / c / f"{i}.png")
    return root


def load(root: Path, **options) -> object:
    return load_dataset(DataConfig(source=str(root), options=options))


def test_class_folders_and_label_files_give_the_same_labels(tmp_path):
    root = pictures(tmp_path / "data", classes=("2", "10", "b"))
    by_folder = load(root, labels="folders")
    assert by_folder.meta["class_names"] == ["2", "10", "b"]  # numbers in numeric order
    rows = ["file,label"] + [f"{Path(f).parent.name}/{Path(f).name},{Path(f).parent.name}"
                             for f in by_folder.meta["files"]]
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    by_file = load(root, labels="labels.csv")
    assert np.array_equal(by_file.meta["labels"], by_folder.meta["labels"])
    assert sorted(np.bincount(by_file.meta["labels"])) == [3, 3, 3]


def test_a_relative_data_folder_gets_its_labels_and_pairs(tmp_path, monkeypatch):
    """``--data photos/`` as the README writes it (the reader records absolute files)."""
    pictures(tmp_path / "photos")
    pictures(tmp_path / "maps", grey=True, seed=1)
    monkeypatch.chdir(tmp_path)
    labelled = load(Path("photos/"), labels="folders")
    assert labelled.meta["class_names"] == ["cats", "dogs"]
    assert load(Path("photos"), labels="folders", pairs="labels").items.shape[0] == 6
    assert load(Path("photos"), pairs="maps").items.shape[0] == 6


def test_a_folder_of_symlinked_pictures_gets_its_labels(tmp_path):
    """A split made with ln -s: the files live elsewhere, the folder names the classes."""
    store = pictures(tmp_path / "store")
    for c in ("cats", "dogs"):
        (tmp_path / "split" / c).mkdir(parents=True)
        for f in (store / c).iterdir():
            (tmp_path / "split" / c / f.name).symlink_to(f)
    labelled = load(tmp_path / "split", labels="folders")
    assert labelled.meta["class_names"] == ["cats", "dogs"]


def test_empty_labels_mark_unlabelled_items_for_semi_supervised_learning(tmp_path):
    root = pictures(tmp_path / "data")
    rows = [f"cats/{i}.png,{'cat' if i == 0 else ''}" for i in range(3)]
    rows += [f"dogs/{i}.png,{'dog' if i == 0 else ''}" for i in range(3)]
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    labels = load(root, labels="labels.csv").meta["labels"]
    assert sorted(labels.tolist()) == [-1, -1, -1, -1, 0, 1]


def test_label_pairs_put_a_decodable_glyph_left_of_each_picture(tmp_path):
    root = pictures(tmp_path / "data", classes=("a", "b", "c"))
    plain = load(root, labels="folders")
    paired = load(root, labels="folders", pairs="labels")
    side = plain.item_shape[-1]
    assert paired.item_shape == (3, side, 2 * side)
    x = paired.items
    assert torch.equal(x[..., side:], plain.items)
    decoded = glyph_labels(x[:, :1, :, :side], 3)
    assert decoded.tolist() == plain.meta["labels"].tolist()


def test_target_pairs_match_by_path_and_repeat_grey_targets(tmp_path):
    root = pictures(tmp_path / "data")
    targets = pictures(tmp_path / "maps", grey=True, seed=1)
    (targets / "cats" / "1.png").rename(targets / "cats" / "1.jpg.png")  # not a match …
    Image.open(targets / "cats" / "1.jpg.png").save(targets / "cats" / "1.bmp")  # … this is
    paired = load(root, pairs=str(targets))
    side = paired.item_shape[-2]
    for item, f in zip(paired.items, paired.meta["files"]):
        rel = Path(f).relative_to(root)
        match = next(p for p in (targets / rel, targets / rel.with_suffix(".bmp")) if p.is_file())
        want = torch.from_numpy(np.asarray(Image.open(match), dtype=np.float32) / 127.5 - 1)
        assert torch.allclose(item[:, :, side:], want.expand(3, -1, -1), atol=1e-5)


@pytest.mark.parametrize("options, setup, message", [
    ({"labels": "missing.csv"}, None, "no such label file"),
    ({"labels": "labels.csv"}, "cats/0.png,cat\ncats/0.png,dog\n", "line 2: cats/0.png is labelled twice"),
    ({"labels": "labels.csv"}, "cats/0.png,cat,extra\n", "line 1: expected file,label"),
    ({"labels": "labels.csv"}, "cats/9.png,cat\n", "line 1: cats/9.png is not a picture"),
    ({"labels": "labels.csv"}, "0.png,cat\n", "line 1: 0.png is ambiguous"),
    ({"labels": "labels.csv"}, "cats/0.png,cat\n", "no row for cats/1.png (and 4 more)"),
    ({"labels": "labels.csv", "pairs": "labels"}, "\n".join(
        [f"cats/{i}.png,c" for i in range(3)] + [f"dogs/{i}.png," for i in range(3)]),
     "dogs/0.png: no label"),
    ({"pairs": "labels"}, None, "pairs=labels needs data.options.labels"),
    ({"pairs": "nowhere"}, None, "no such folder of targets"),
])
def test_bad_labels_and_pairs_are_one_clear_line(tmp_path, options, setup, message):
    root = pictures(tmp_path / "data")
    if setup is not None:
        (root / "labels.csv").write_text(setup)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load(root, **options)


def test_target_mismatches_are_one_clear_line(tmp_path):
    root = pictures(tmp_path / "grey", grey=True)
    colour = pictures(tmp_path / "colour")
    with pytest.raises(DataError, match="a colour target for grayscale pictures"):
        load_dataset(DataConfig(source=str(root), grayscale=True, options={"pairs": str(colour)}))
    small = pictures(tmp_path / "small", side=8)
    with pytest.raises(DataError, match="target is 8x8, its picture 12x12; set data.image_size"):
        load(colour, pairs=str(small))
    (tmp_path / "few" / "cats").mkdir(parents=True)
    with pytest.raises(DataError, match="no target for picture cats/0.png"):
        load(colour, pairs=str(tmp_path / "few"))
    wide = tmp_path / "wide" / "a"
    wide.mkdir(parents=True)
    Image.new("RGB", (16, 8)).save(wide / "x.png")
    with pytest.raises(DataError, match="pairs need square pictures"):
        load(tmp_path / "wide", pairs=str(colour))


def test_a_target_of_another_shape_than_its_picture_is_refused(tmp_path):
    """Resized to one square size, a 60x40 map no longer lines up with its 100x100 photo:
    each is cropped on its own. It loaded without a word; now it is one line."""
    photos = pictures(tmp_path / "photos", side=20)
    maps = tmp_path / "maps"
    for c in ("cats", "dogs"):
        (maps / c).mkdir(parents=True)
        for i in range(3):
            Image.new("L", (30, 20), 128).save(maps / c / f"{i}.png")
    cfg = DataConfig(source=str(photos), image_size=16, options={"pairs": str(maps)})
    with pytest.raises(DataError, match="target is 30x20, its picture 0.png 20x20; a target must "
                                        "have its picture's shape"):
        load_dataset(cfg)
    for c in ("cats", "dogs"):  # the same shape at another size: resized alike, fine
        for i in range(3):
            Image.new("L", (40, 40), 128).save(maps / c / f"{i}.png")
    assert load_dataset(cfg).items.shape[-1] == 32


@pytest.mark.parametrize("method,options", [
    ("conditional_coop", {"condition": "label"}), ("jem", {})])
def test_a_model_with_another_number_of_classes_than_the_data_is_refused(tmp_path, method,
                                                                          options):
    """Three class folders and n_classes=2: a label condition read back from its glyph
    merged two classes without a word (and 10 left classes nothing trained)."""
    from ebm_engine.config import RunConfig
    from ebm_engine.learning.trainer import Trainer

    root = pictures(tmp_path / "data", classes=("one", "seven", "three"), side=8)
    data = {"source": str(root), "options": {"labels": "folders",
                                             **({"pairs": "labels"} if options else {})}}
    for n in (2, 10):
        cfg = RunConfig.from_dict({
            "data": data, "model": {"width": 8, "depth": 2}, "sampler": {"n_steps": 1},
            "train": {"method": method, "iterations": 1, "batch_size": 4,
                      "options": {**options, "n_classes": n}}})
        with pytest.raises(DataError, match=r"the data has 3 classes \(one, seven, three\), but "
                                            rf"{method}'s train.options.n_classes is {n}; set "
                                            "train.options.n_classes=3"):
            Trainer(cfg, None)
