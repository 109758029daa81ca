"""A folder is read by the reader whose files dominate it (issue 17): a folder
of meshes trains as meshes without ``--set data.options.reader``, a mixed
folder gets one line with the counts and how to choose, and an explicit
reader always wins."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ebm_engine.cli import main
from ebm_engine.config import DataConfig
from ebm_engine.data import (
    applicable_readers,
    describe,
    detect_reader,
    load_dataset,
)
from ebm_engine.data.ply import ply_bytes
from ebm_engine.errors import DataError

CUBE_V = [(x, y, z) for x in (0, 2) for y in (0, 2) for z in (0, 2)]
CUBE_QUADS = [[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4], [1, 5, 7, 3]]


def cube_off(scale: float = 1.0) -> bytes:
    verts = "".join(f"{x * scale:g} {y * scale:g} {z * scale:g}\n" for x, y, z in CUBE_V)
    faces = "".join("4 " + " ".join(map(str, q)) + "\n" for q in CUBE_QUADS)
    return ("OFF\n8 6 0\n" + verts + faces).encode()


def write_meshes(folder: Path, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"chair_{i:04d}.off").write_bytes(cube_off(1.0 + i))


def write_images(folder: Path, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / f"{i}.png")


def load(source: Path, **kw) -> object:
    return load_dataset(DataConfig(source=str(source), **kw))


def test_folder_of_off_meshes_loads_as_voxels(tmp_path: Path) -> None:
    write_meshes(tmp_path / "chairs", 10)
    (tmp_path / "chairs" / "README.txt").write_text("ModelNet10 chairs")  # not counted

    assert detect_reader(tmp_path / "chairs") == ("mesh", {"mesh": 10})
    ds = load(tmp_path / "chairs", image_size=8)
    assert ds.kind == "voxel" and tuple(ds.items.shape) == (10, 1, 8, 8, 8)
    assert ds.meta["reader"] == "mesh"
    assert describe("mesh", {"mesh": 10}) == "meshes (10 files)"


def test_folder_of_off_meshes_trains_from_the_cli(tmp_path: Path, capsys) -> None:
    write_meshes(tmp_path / "chairs", 4)
    run = tmp_path / "run"
    code = main(["train", "--data", str(tmp_path / "chairs"), "--out", str(run), "--steps", "1",
                 "--quiet", "--set", "data.image_size=8", "--set", "model.width=4",
                 "--set", "train.batch_size=2", "--set", "sampler.n_steps=1",
                 "--set", "train.checkpoint_every=0"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert (run / "config.json").is_file()


def test_a_stray_file_does_not_stop_a_clear_majority(tmp_path: Path) -> None:
    write_meshes(tmp_path, 4)
    write_images(tmp_path / "previews", 2)  # 4 of 6 = 2/3: meshes still win
    reader, counts = detect_reader(tmp_path)
    assert reader == "mesh" and counts == {"mesh": 4, "image-folder": 2}
    assert load(tmp_path, image_size=8).items.shape[0] == 4


def test_mixed_folder_is_one_line_with_counts_and_choices(tmp_path: Path) -> None:
    write_images(tmp_path, 12)
    write_meshes(tmp_path / "meshes", 10)

    with pytest.raises(DataError) as info:
        load(tmp_path)
    msg = str(info.value)
    assert "\n" not in msg
    assert "12 images and 10 meshes" in msg
    assert "--set data.options.reader=image-folder (or mesh)" in msg
    with pytest.raises(DataError, match="12 images and 10 meshes"):
        detect_reader(tmp_path)
    assert applicable_readers(tmp_path)[:2] == ["image-folder", "mesh"]
    assert "video-frames" in applicable_readers(tmp_path)  # pictures may be frames


def test_explicit_reader_wins(tmp_path: Path) -> None:
    write_images(tmp_path, 12)
    write_meshes(tmp_path / "meshes", 10)

    meshes = load(tmp_path, image_size=8, options={"reader": "mesh"})
    assert meshes.kind == "voxel" and meshes.items.shape[0] == 10
    images = load(tmp_path, options={"reader": "image-folder"})
    assert images.kind == "image" and images.items.shape[0] == 12
    # Even against a clear majority.
    only_meshes = tmp_path / "meshes"
    write_images(only_meshes, 1)
    assert load(only_meshes, options={"reader": "image-folder"}).items.shape[0] == 1


def test_misspelled_reader_suggests_the_name(tmp_path: Path) -> None:
    write_meshes(tmp_path, 2)
    with pytest.raises(DataError, match=r"'meshh' is not one of .*did you mean 'mesh'"):
        load(tmp_path, options={"reader": "meshh"})


def test_ply_point_clouds_and_meshes_are_told_apart(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for i in range(3):
        (tmp_path / f"scan{i}.ply").write_bytes(ply_bytes(rng.normal(size=(50, 3))))
    assert detect_reader(tmp_path) == ("pointcloud", {"pointcloud": 3})
    ds = load(tmp_path, options={"points": 32})
    assert ds.kind == "pointcloud" and tuple(ds.items.shape) == (3, 32, 3)
    assert applicable_readers(tmp_path) == ["pointcloud", "mesh"]


def test_folder_of_arrays_is_one_dataset(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.zeros((5, 2), np.float32))
    np.save(tmp_path / "b.npy", np.ones((3, 2), np.float32))
    ds = load(tmp_path)
    assert ds.kind == "points" and tuple(ds.items.shape) == (8, 2)
    assert ds.items[-1].tolist() == [1.0, 1.0]
    np.save(tmp_path / "c.npy", np.ones((3, 4), np.float32))
    with pytest.raises(DataError, match=r"c\.npy: points items of shape \(4,\) differ"):
        load(tmp_path)


def test_single_files_and_unknown_types(tmp_path: Path) -> None:
    (tmp_path / "cube.off").write_bytes(cube_off())
    assert detect_reader(tmp_path / "cube.off") == ("mesh", {"mesh": 1})
    assert applicable_readers(tmp_path / "cube.off") == ["mesh"]
    (tmp_path / "notes.docx").write_text("hi")
    with pytest.raises(DataError, match=r"unsupported file type '\.docx'"):
        detect_reader(tmp_path / "notes.docx")
    with pytest.raises(DataError, match="no such file"):
        detect_reader(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no images found, nor any other data file"):
        detect_reader(empty)


def test_a_file_reader_refuses_a_folder(tmp_path: Path) -> None:
    write_images(tmp_path, 2)
    with pytest.raises(DataError, match="reads one file, not a folder"):
        load(tmp_path, options={"reader": "image-file"})
    with pytest.raises(DataError, match="needs a folder"):
        load(tmp_path / "0.png", options={"reader": "video-frames"})


# --------------------------------------------------------------------------- app


@pytest.mark.app
def test_data_panel_shows_the_reader_and_lets_the_user_change_it(qtbot, tmp_path: Path) -> None:
    from PySide6.QtCore import Qt

    from app.panels.data_panel import DataPanel

    write_images(tmp_path / "mixed", 12)
    write_meshes(tmp_path / "mixed" / "meshes", 10)
    write_meshes(tmp_path / "chairs", 3)
    panel = DataPanel()
    qtbot.addWidget(panel)
    panel.show()
    seen: list[tuple[str, str]] = []
    panel.sigReaderChosen.connect(lambda r: seen.append(("reader", r)))
    panel.sigSourceChosen.connect(lambda s: seen.append(("source", s)))

    # A folder of meshes: read as meshes, and the box offers the alternatives.
    panel.set_source(str(tmp_path / "chairs"))
    assert panel.reader_row.isVisible()
    assert panel.read_as.text() == "read as: meshes (3 files)"
    assert panel.reader_box.currentData() == "mesh"
    assert seen == [("reader", ""), ("source", str(tmp_path / "chairs"))]

    # A mixed folder: the counts, and nothing chosen until the user picks.
    seen.clear()
    panel.set_source(str(tmp_path / "mixed"))
    assert "12 images and 10 meshes" in panel.read_as.text()
    assert panel.reader_box.currentIndex() == -1
    names = [panel.reader_box.itemData(i) for i in range(panel.reader_box.count())]
    assert names[:2] == ["image-folder", "mesh"] and "video-frames" in names
    seen.clear()
    panel.reader_box.setFocus()
    qtbot.keyClick(panel.reader_box, Qt.Key.Key_Down)  # the user picks the first reader
    assert seen == [("reader", "image-folder"), ("source", str(tmp_path / "mixed"))]
    assert panel.read_as.text() == "read as: images (12 files), your choice"
    seen.clear()
    qtbot.keyClick(panel.reader_box, Qt.Key.Key_Down)
    assert seen == [("reader", "mesh"), ("source", str(tmp_path / "mixed"))]
    assert panel.reader == "mesh"

    # A demo hides the row; the public API sets a reader without signals.
    panel.set_source("digits")
    assert not panel.reader_row.isVisible()
    panel.set_source(str(tmp_path / "chairs"), emit=False)
    panel.set_reader("voxels")
    assert panel.reader_box.currentData() == "voxels" and "your choice" in panel.read_as.text()


@pytest.mark.app
def test_a_mixed_folder_shows_what_to_do_not_an_empty_plot(qtbot, tmp_path: Path) -> None:
    """Before a reader is chosen, the view showed the last data kind's empty plot (a 2D
    plane after 8gaussians); it now says what the folder holds and where to choose."""
    from app.testing import make_window

    write_images(tmp_path / "mixed", 4)
    write_meshes(tmp_path / "mixed" / "meshes", 4)
    window = make_window(qtbot, tmp_path, demo="8gaussians", knobs=())
    window.controller.wait()
    window.data_panel.set_source(str(tmp_path / "mixed"))
    shown = window.samples.view.label.text()
    assert window.samples.kind == "" and "4 images and 4 meshes" in shown
    assert "choose a reader" in shown and "first" in window.samples.title.text()
    assert window.errors == []
    window.controller.wait()


@pytest.mark.app
def test_ebm_studio_set_accepts_option_keys(qtbot, tmp_path: Path) -> None:
    from app.main import apply_settings
    from app.testing import make_window

    write_meshes(tmp_path / "chairs", 3)
    window = make_window(qtbot, tmp_path, demo=str(tmp_path / "chairs"), knobs=())
    problem = apply_settings(window, ["data.options.reader=mesh", "model.options.leaky_slope=0.1",
                                      "data.options.points=64", "model.width=8"])
    assert problem is None
    cfg = window.current_config()
    assert cfg.data.options == {"reader": "mesh", "points": 64}
    assert cfg.model.options == {"leaky_slope": 0.1} and cfg.model.width == 8
    assert "the voxelnet network with ml takes no such option" in apply_settings(
        window, ["model.options.extra=3"])
    assert window.data_panel.reader == "mesh"
    assert "unknown config key" in apply_settings(window, ["nosuch.key=1"])
    assert "KEY=VALUE" in apply_settings(window, ["data.options.reader"])
    window.controller.shutdown()
