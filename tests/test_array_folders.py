"""A folder of .npy files: each file one item where that is what was saved (a point
cloud or a picture per file), a batch of items otherwise; the summary line and the
loaded data agree, and a user's point clouds train with the point-cloud preset."""

from __future__ import annotations

import numpy as np
import pytest

from ebm_engine.cli import main
from ebm_engine.config import DataConfig
from ebm_engine.data import load_dataset
from ebm_engine.data.peek import peek
from ebm_engine.errors import DataError


def _folder(tmp_path, name, shape, n=4):
    folder = tmp_path / name
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        np.save(folder / f"f{i}.npy", rng.random(shape).astype(np.float32))
    return folder


@pytest.mark.parametrize("name, shape, kind, items, item_shape", [
    ("clouds", (50, 3), "pointcloud", 4, (50, 3)),     # one cloud per file
    ("shards", (30, 5), "points", 120, (5,)),           # equal shards of 5-D vectors
    ("batches", (30, 2), "points", 120, (2,)),          # batches of 2D points
    ("volumes", (5, 12, 12), "image", 20, (1, 12, 12)),  # rank 3: batches, as before
])
def test_each_file_is_one_item_where_it_holds_one(tmp_path, name, shape, kind, items,
                                                   item_shape):
    folder = _folder(tmp_path, name, shape)
    data = load_dataset(DataConfig(source=str(folder)))
    assert (data.kind, len(data), tuple(data.items.shape[1:])) == (kind, items, item_shape)
    summary = peek(folder)
    assert (summary.kind, summary.item_shape) == (kind, item_shape)


def test_one_picture_per_file_is_suggested_and_read_when_asked(tmp_path):
    folder = _folder(tmp_path, "pictures", (12, 12))
    assert "each file one picture? --set data.options.per_file=item" in peek(folder).phrase()
    data = load_dataset(DataConfig(source=str(folder), options={"per_file": "item"}))
    assert (data.kind, len(data), tuple(data.items.shape[1:])) == ("image", 4, (1, 12, 12))
    assert "per_file" not in peek(folder, {"per_file": "item"}).phrase()


def test_the_option_says_it_outright_and_shapes_must_agree(tmp_path):
    folder = _folder(tmp_path, "clouds", (50, 3))
    as_batches = load_dataset(DataConfig(source=str(folder), options={"per_file": "items"}))
    assert (as_batches.kind, len(as_batches)) == ("points", 200)
    one = load_dataset(DataConfig(source=str(folder / "f0.npy"), options={"per_file": "item"}))
    assert (one.kind, len(one)) == ("pointcloud", 1)
    np.save(folder / "f9.npy", np.zeros((40, 3), np.float32))
    with pytest.raises(DataError, match=r"f9.npy: shape \(40, 3\) differs .* one item"):
        load_dataset(DataConfig(source=str(folder)))
    with pytest.raises(DataError, match="per_file must be one of"):
        load_dataset(DataConfig(source=str(folder), options={"per_file": "one"}))


def test_a_folder_of_clouds_trains_with_the_point_cloud_preset(tmp_path, capsys):
    """The shapes-points preset sets its demo's data.options.points, which the array
    reader does not read: it used to refuse every user array of point clouds."""
    folder = _folder(tmp_path, "clouds", (64, 3), n=6)
    assert main(["train", "--data", str(folder), "--steps", "1", "--out", str(tmp_path / "r"),
                 "--set", "model.width=8", "--set", "train.batch_size=4",
                 "--set", "sampler.n_steps=1"]) == 0
    assert "6 arrays (pointcloud items of 64×3) → preset shapes-points" in capsys.readouterr().err


def test_a_folders_value_range_is_decided_once_for_all_its_files(tmp_path):
    """Two files in [-1, 1], one of them bright (all >= 0): per file, the bright one was
    read as [0, 1] and doubled while the other was kept."""
    folder = tmp_path / "pictures"
    folder.mkdir()
    rng = np.random.default_rng(0)
    dark = rng.uniform(-1, 1, (3, 8, 8)).astype(np.float32)
    bright = rng.uniform(0.2, 0.6, (3, 8, 8)).astype(np.float32)
    np.save(folder / "a.npy", dark)
    np.save(folder / "b.npy", bright)
    data = load_dataset(DataConfig(source=str(folder)))
    assert data.value_range == (-1.0, 1.0)
    np.testing.assert_allclose(data.items.numpy()[3:, 0], bright)  # kept, not 2x - 1
    np.testing.assert_allclose(data.items.numpy()[:3, 0], dark)


def test_an_npz_with_several_arrays_says_which_it_took(tmp_path):
    path = tmp_path / "two.npz"
    np.savez(path, a=np.zeros((10, 8, 8), np.float32), b=np.zeros((5, 3), np.float32))
    assert "member 'a' of a, b, another with --set data.options.key=NAME" in peek(path).phrase()
    assert "member" not in peek(path, {"key": "b"}).phrase()
    np.savez(tmp_path / "one.npz", x=np.zeros((10, 2), np.float32))
    assert "member" not in peek(tmp_path / "one.npz").phrase()


def test_8_bit_files_beside_float_files_each_keep_their_convention(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    np.save(folder / "a.npy", np.full((2, 8, 8), 255, np.uint8))
    np.save(folder / "b.npy", np.full((2, 8, 8), 1.0, np.float32))
    data = load_dataset(DataConfig(source=str(folder)))
    assert data.value_range == (-1.0, 1.0) and float(data.items.min()) == 1.0  # both white


def test_a_forced_reader_counts_the_folder_s_files(tmp_path):
    """A reader chosen for a folder (the app's "read as") said "1 file of images" for a
    folder of three, and "of 3 sizes" after it."""
    from PIL import Image

    for i, size in enumerate(((8, 8), (10, 10), (12, 12))):
        Image.new("RGB", size).save(tmp_path / f"{i}.png")
    (tmp_path / "notes.npy").write_bytes(b"")  # another reader's file: not counted
    assert peek(tmp_path, {"reader": "image-folder"}).phrase().startswith("3 images of 3 sizes")
