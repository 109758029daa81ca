"""Choosing a demo shows its training data before Train, for every data kind; a slow
preview never holds the window up when the user picks something else."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from app.testing import WAIT_MS, make_window

pytestmark = pytest.mark.app

# one demo per kind (the image grid and 2D points are covered in test_app_panels)
KINDS = {"shapes-voxels": "voxel", "shapes-points": "pointcloud", "dynamic-texture": "video",
         "grammar-text": "text"}


def test_each_kind_of_demo_shows_its_data_before_train(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path, knobs=())
    for demo, kind in KINDS.items():
        with qtbot.waitSignal(window.controller.sigSnapshot, timeout=WAIT_MS) as blocker:
            window.data_panel.set_source(demo)
        snap = blocker.args[0]
        assert snap.origin == "preview" and snap.kind == kind and len(snap.samples) > 0, demo
        assert window.view_kind == kind and window.snapshot is snap
        assert "training data" in window.samples.title.text()
        if kind in ("voxel", "pointcloud"):  # the data, not chains
            qtbot.waitUntil(lambda: "training items" in window.sample_view.grid.caption.text(),
                            timeout=WAIT_MS)
        assert window.controller.state == "idle" and window.errors == []
        assert "vocab" not in window.extras.widgets  # what decodes text is the view's, not a picture
    window.controller.wait()


def test_a_slow_preview_is_dropped_when_another_demo_is_chosen(qtbot, tmp_path, monkeypatch):
    import app.preview as preview

    window = make_window(qtbot, tmp_path, knobs=())
    release = threading.Event()
    real = preview.preview_events

    def slow(cfg, quiet=False):
        if cfg.data.source == "rings":
            release.wait(30)  # a data set that takes long to load
        yield from real(cfg, quiet)

    monkeypatch.setattr(preview, "preview_events", slow)
    window.data_panel.set_source("rings")
    assert window.controller.busy
    with qtbot.waitSignal(window.controller.sigSnapshot, timeout=WAIT_MS) as blocker:
        started = time.perf_counter()
        window.data_panel.set_source("moons")  # returns at once: the rings loader is dropped
        assert time.perf_counter() - started < 10  # not the 30 s the loader would take
    assert blocker.args[0].origin == "preview"
    shown = window.snapshot
    release.set()
    qtbot.wait(300)
    assert window.snapshot is shown and window.current_config().data.source == "moons"
    window.controller.wait()


def test_a_folder_shows_its_data_and_an_unreadable_one_stays_quiet(qtbot, tmp_path, monkeypatch):
    from PIL import Image

    folder = tmp_path / "pictures"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(np.full((8, 8, 3), 60 * i, np.uint8)).save(folder / f"{i}.png")
    window = make_window(qtbot, tmp_path, knobs=())
    with qtbot.waitSignal(window.controller.sigSnapshot, timeout=WAIT_MS) as blocker:
        window.data_panel.set_source(str(folder))
    snap = blocker.args[0]
    assert snap.origin == "preview" and snap.kind == "image" and len(snap.samples) == 4
    empty = tmp_path / "nothing"
    empty.mkdir()
    (empty / "notes.txt").write_text("no data here")
    window.data_panel.set_source(str(empty))
    window.controller.wait()
    qtbot.wait(100)
    assert window.snapshot is None and window.errors == []


def test_a_refused_train_keeps_the_data_preview(qtbot, tmp_path):
    # A run the memory check refuses, or one with nothing to train, leaves the
    # data on show (Train empties the views; a refusal puts the data back).
    window = make_window(qtbot, tmp_path, knobs=())
    with qtbot.waitSignal(window.controller.sigSnapshot, timeout=WAIT_MS):
        window.data_panel.set_source("moons")
    window.controller.wait()
    shown = window.snapshot
    assert shown.origin == "preview"
    assert window.settings_panel.set_value("model.width", 100000).value == 100000
    with qtbot.waitSignal(window.controller.sigError, timeout=WAIT_MS) as refused:
        window.transport.buttons["train"].click()
    window.controller.wait()
    assert "GB free" in refused.args[0]
    assert window.snapshot is shown and "training data" in window.samples.title.text()
    window.settings_panel.set_value("model.width", 16)
    window.settings_panel.set_value("train.iterations", 0)
    window.transport.buttons["train"].click()
    assert "nothing to train" in window.errors[-1] and window.controller.state == "idle"
    assert window.snapshot is shown
    # a run that starts does empty them, and its samples replace the data
    window.settings_panel.set_value("train.iterations", 3)
    with qtbot.waitSignal(window.controller.sigRunStarted, timeout=WAIT_MS):
        window.transport.buttons["train"].click()
    qtbot.waitUntil(lambda: window.snapshot is not shown and window.snapshot is not None,
                    timeout=WAIT_MS)
    assert window.snapshot.origin != "preview"
    window.controller.wait()


def test_reset_shows_the_data_again_on_fresh_axes(qtbot, tmp_path):
    """After Train → Reset the window is as after choosing the demo: its data on show,
    titled with the demo, curve plots on fresh axes; the edited settings stay."""
    from app.testing import TINY_2D

    window = make_window(qtbot, tmp_path, demo="moons", knobs=TINY_2D)
    window.settings_panel.set_value("train.iterations", 40)
    with qtbot.waitSignal(window.controller.sigFinished, timeout=WAIT_MS * 3):
        window.transport.buttons["train"].click()
    window.controller.wait()
    loss = window.curves.items["loss"]
    # the run's 40 iterations on the x axis (the plots redraw on their own timer)
    qtbot.waitUntil(lambda: loss.viewRange()[0][1] > 10, timeout=WAIT_MS)
    # samples of the run still queued when Reset is pressed are dropped, not drawn
    # before the data (they made this test flaky under load)
    import numpy as np

    from ebm_engine.learning.events import SamplesReady

    window.controller._events.append(SamplesReady(40, "points", None, np.zeros((4, 2), "f4"),
                                                  np.zeros(4, "f4")))
    origins = []
    window.controller.sigSnapshot.connect(lambda snap: origins.append(snap.origin))
    with qtbot.waitSignal(window.controller.sigSnapshot, timeout=WAIT_MS) as shown:
        window.transport.buttons["reset"].click()
    assert shown.args[0].origin == "preview" and window.snapshot is shown.args[0]
    assert origins == ["preview"]
    title = window.samples.title.text()
    assert "training data" in title, title
    assert loss.viewRange()[0][1] <= 1.5  # not the old run's axis
    assert window.controller.config.train.iterations == 40  # settings stay
    window.controller.wait()


def test_a_folder_that_cannot_be_read_says_so_instead_of_loading_for_ever(qtbot, tmp_path):
    """A user's image folder with one broken file: the view says why it shows nothing
    (no dialog for merely choosing it), and a Train refused for it does not leave
    "starting: loading the data…" behind."""
    from PIL import Image

    folder = tmp_path / "pictures"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(np.full((16, 16, 3), 40 * i, np.uint8)).save(folder / f"p{i}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    window = make_window(qtbot, tmp_path, knobs=())
    assert window.data_panel.list.currentItem() is not None  # the demo it opened on
    with qtbot.waitSignal(window.controller.sigPreviewFailed, timeout=WAIT_MS):
        window.data_panel.set_source(str(folder))
    # the user's own data: no demo stays current in the list (it was drawn highlighted)
    assert window.data_panel.list.currentItem() is None
    assert not window.data_panel.list.selectedItems()
    window.controller.wait()
    title = window.samples.title.text()
    assert "its data cannot be shown" in title and "loading" not in title
    assert "broken.png" in window.samples.title.toolTip()
    # the reason in full across the view, not the previous demo's empty 2D plane
    assert "broken.png" in window.samples.view.label.text() and window.samples.kind == ""
    assert "tick “skip pictures that cannot be read”" in window.samples.view.label.text()
    assert window.errors == [] and "data preview:" in window.log.toPlainText()
    with qtbot.waitSignal(window.controller.sigError, timeout=WAIT_MS):
        window.transport.buttons["train"].click()
    window.controller.wait()
    title = window.samples.title.text()
    assert "not started" in title and "loading" not in title
    assert "broken.png" in window.errors[-1]
    assert "tick “skip pictures" in window.errors[-1] and "--set" not in window.errors[-1]
    # one click reads the others: the box sets data.options.skip_unreadable
    box = window.data_panel.skip_box
    assert not box.isHidden() and not box.isChecked()
    with qtbot.waitSignal(window.controller.sigSnapshot, timeout=WAIT_MS) as shown:
        box.click()
    assert shown.args[0].origin == "preview" and len(shown.args[0].samples) == 4
    assert "left out 1 unreadable picture (broken.png); 4 read" in window.log.toPlainText()
    assert window.controller.config.data.options["skip_unreadable"] is True
    window.controller.wait()
    window.data_panel.set_source("moons")  # a demo: no such box
    assert box.isHidden() and not box.isChecked()
    window.controller.wait()


def test_data_options_are_typed_in_the_app_for_a_users_files(qtbot, tmp_path):
    """A folder of one (8, 8) picture per .npy file is read as 8-D points; the hint said
    --set data.options.per_file=item, which the app had no way to say. The data panel's
    options field takes it, and the log's hint names the field."""
    from PySide6.QtCore import Qt

    folder = tmp_path / "perfile"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(20):
        np.save(folder / f"{i:02d}.npy", rng.random((8, 8)).astype(np.float32))
    window = make_window(qtbot, tmp_path, knobs=())
    panel = window.data_panel
    with qtbot.waitSignal(window.controller.sigSnapshot, timeout=WAIT_MS) as shown:
        panel.set_source(str(folder))
    assert shown.args[0].kind == "points" and not panel.options_edit.isHidden()
    assert "per_file=item in the data options field" in window.log.toPlainText()
    window.controller.wait()
    panel.options_edit.setText("per_file=item")
    with qtbot.waitSignal(window.controller.sigSnapshot, timeout=WAIT_MS) as shown:
        qtbot.keyClick(panel.options_edit, Qt.Key.Key_Return)
    assert shown.args[0].kind == "image" and shown.args[0].samples.shape[1:] == (1, 8, 8)
    assert window.controller.config.data.options["per_file"] == "item"
    window.controller.wait()
    panel.options_edit.setText("per_file")  # not KEY=VALUE: one line, the config stays
    qtbot.keyClick(panel.options_edit, Qt.Key.Key_Return)
    assert "KEY=VALUE" in window.errors[-1]
    assert window.controller.config.data.options["per_file"] == "item"
    window.data_panel.set_source("moons")  # a demo: no such field, and nothing kept
    assert panel.options_edit.isHidden() and panel.options_edit.text() == ""
    window.controller.wait()


def test_a_trajectory_preview_spreads_its_cells_over_both_domains():
    """The view draws 16 cells: the first 16 of 64 items spread over the data were all of
    domain A, so a translation's preview never showed its other domain."""
    from app.preview import preview_snapshot
    from app.views.trajectory_view import MAX_CELLS
    from ebm_engine.data import load_dataset
    from ebm_engine.presets import config_for

    cfg = config_for("sequence-translation")
    snap = preview_snapshot(cfg, [])
    assert len(snap.samples) <= MAX_CELLS
    data = load_dataset(cfg.data)
    shown = {tuple(np.round(p, 4).ravel()) for p in snap.samples}
    domains = {int(d) for d, item in zip(data.meta["domain"], data.items.numpy(), strict=True)
               if tuple(np.round(item, 4).ravel()) in shown}
    assert domains == {0, 1}


def test_a_crowd_preview_shows_the_plaza_s_pillars_as_its_predictions_do():
    """The walkers go round pillars: the preview drew their paths on an empty plaza,
    while every prediction afterwards is drawn with the pillars."""
    from app.preview import preview_snapshot
    from ebm_engine.data import load_dataset
    from ebm_engine.data.scenes import split_scenes
    from ebm_engine.presets import config_for

    cfg = config_for("crowd-prediction")
    snap = preview_snapshot(cfg, [])
    pillars = np.asarray(load_dataset(cfg.data).meta["scene"]["obstacles"])
    starts, goals, centres, radii = split_scenes(snap.extras["scenes"])
    assert centres.shape[1] == len(pillars) > 0 and np.allclose(centres[0], pillars[:, :2])
    assert np.allclose(starts, snap.extras["observed"][:, 0])  # where each walker came from
    assert np.allclose(goals, snap.samples[:, -1])  # and where it went


def test_a_molecule_preview_carries_the_whole_datas_properties(tmp_path):
    """The preview's histograms are of the data (all of it, not the 64 molecules shown),
    keyed "data" in the view; they were the 64 shown, keyed "samples"."""
    pytest.importorskip("rdkit")
    from app.preview import preview_snapshot
    from ebm_engine.presets import config_for

    path = tmp_path / "few.smi"
    path.write_text("\n".join(["CCO", "CCN", "c1ccccc1", "CC(=O)O", "CCCl"]) + "\n")
    snap = preview_snapshot(config_for(str(path), "molecules"), [])
    assert len(snap.samples) == 5
    assert {k: len(v) for k, v in snap.extras.items() if k.startswith("data_")} == {
        "data_logp": 5, "data_qed": 5, "data_mw": 5}


def test_the_window_title_names_the_data_and_then_the_run(qtbot, tmp_path):
    """Every window was titled "EBM Studio" alone: two windows, or a screenshot, could
    not be told apart."""
    from app.testing import TINY_2D

    window = make_window(qtbot, tmp_path, demo="moons", knobs=TINY_2D[:-1] + (
        ("train.iterations", 2),))
    assert window.windowTitle() == "moons — EBM Studio"
    with qtbot.waitSignal(window.controller.sigFinished, timeout=WAIT_MS):
        window.transport.buttons["train"].click()
    assert window.windowTitle() == f"{window.controller.run_dir.name} — EBM Studio"
    window.data_panel.set_source("rings")
    window.controller.wait()
    assert window.windowTitle() == "rings — EBM Studio"
