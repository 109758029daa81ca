"""The Export dialogs start in the run's folder (then the last one used) with a name
that says what and when, not in the working folder with an empty name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ebm_engine.learning.events import SamplesReady

pytestmark = pytest.mark.app


def _snapshot(iteration: int) -> SamplesReady:
    x = np.random.default_rng(0).uniform(-1, 1, (4, 1, 8, 8)).astype(np.float32)
    return SamplesReady(iteration, "image", (-1.0, 1.0), x, np.zeros(4, np.float32), (), {})


def test_export_dialog_starts_in_the_run_folder_then_the_last_one(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    from app.export_menu import ENTRIES, ExportMenu

    run = tmp_path / "digits-run"
    run.mkdir()
    elsewhere = tmp_path / "figures"
    elsewhere.mkdir()
    asked: list[str] = []

    def dialog(parent, title, start, filt):
        asked.append(start)
        return str(elsewhere / Path(start).name), filt

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(dialog))
    menu = ExportMenu(lambda: run, lambda: None)
    menu.set_snapshot(_snapshot(1870))
    grid = next(e for e in ENTRIES if e.what == "grid" and e.ext == ".png")
    assert menu.ask(grid) == elsewhere / "digits-run_it1870_samples.png"
    assert asked[0] == str(run / "digits-run_it1870_samples.png")
    assert (elsewhere / "digits-run_it1870_samples.png").stat().st_size > 0
    gif = next(e for e in ENTRIES if e.what == "chain" and e.ext == ".gif")
    menu.ask(gif)
    assert Path(asked[1]).parent == elsewhere  # where the last export went


def test_a_zoo_model_exports_into_the_home_folder_not_the_zoo(qtbot, monkeypatch, tmp_path):
    from app.export_menu import ENTRIES, ExportMenu
    from ebm_engine.runs import zoo

    monkeypatch.setattr(Path, "home", lambda: tmp_path)
    entry = zoo.resolve("zoo:digits-ml")
    menu = ExportMenu(lambda: entry, lambda: None)
    menu.set_snapshot(_snapshot(1500))
    grid = next(e for e in ENTRIES if e.what == "grid" and e.ext == ".png")
    assert menu.suggested_path(grid) == tmp_path / "digits-ml_it1500_samples.png"


def test_run_entries_are_enabled_only_where_the_run_has_what_they_need(qtbot):
    from app.export_menu import ExportMenu
    from ebm_engine.runs import zoo

    run: list = [None]
    menu = ExportMenu(lambda: run[0], lambda: None)
    ckpt, metrics = menu.actions_by_label["Checkpoint copy…"], menu.actions_by_label["Metrics (CSV)…"]
    menu.refresh_run_entries()
    assert not ckpt.isEnabled() and not metrics.isEnabled() and not menu.picture_action.isEnabled()
    run[0] = zoo.resolve("zoo:digits-ml")  # a checkpoint, no training history, no condition
    menu.refresh_run_entries()
    assert ckpt.isEnabled() and not metrics.isEnabled() and not menu.picture_action.isEnabled()
    assert "conditional run first" in menu.picture_action.toolTip()
    run[0] = zoo.resolve("zoo:digits-inpainting-conditional-coop")
    menu.refresh_run_entries()
    assert menu.picture_action.isEnabled()


def test_a_checkpoint_copy_is_named_by_its_checkpoint_and_goes_beside_the_run(qtbot, tmp_path):
    from app.export_menu import ENTRIES, ExportMenu
    from ebm_engine.config import RunConfig
    from ebm_engine.session import Session

    run = tmp_path / "runs" / "moons-run"
    cfg = RunConfig.from_dict({"data": {"source": "moons"}, "model": {"width": 8, "depth": 2},
                               "sampler": {"n_steps": 2},
                               "train": {"iterations": 4, "checkpoint_every": 2,
                                         "sample_every": 2}})
    list(Session(cfg).train(run))
    menu = ExportMenu(lambda: run, lambda: None)
    menu.set_snapshot(_snapshot(3))  # a snapshot between checkpoints
    copy = next(e for e in ENTRIES if e.what == "checkpoint")
    assert menu.suggested_path(copy) == tmp_path / "runs" / "moons-run_it4_checkpoint"
    metrics = next(e for e in ENTRIES if e.what == "metrics")  # its last row, not the view's
    assert menu.suggested_path(metrics) == run / "moons-run_it4_metrics.csv"
    # the dialog opens in the run folder: a name typed there must not replace the run's own
    errors = []
    menu.sigError.connect(errors.append)
    curves = (run / "metrics.csv").read_bytes()
    assert menu.export("metrics", run / "metrics.csv") is None
    assert menu.export("checkpoint", run / "checkpoints" / "mine") is None
    assert len(errors) == 2 and all("would write over what the run" in e for e in errors)
    assert (run / "metrics.csv").read_bytes() == curves
    assert menu.export("metrics", run / "mine.csv") == run / "mine.csv"  # beside it: fine


def test_a_failed_checkpoint_copy_says_one_sentence_and_the_retry_works(
        qtbot, tmp_path, monkeypatch):
    """A full disk midway: the copy was left as NAME.partial, the error was a Python list
    (shutil.Error) and a retry said "File exists"."""
    import errno
    import shutil

    from app.export_menu import ExportMenu
    from ebm_engine.runs import zoo

    def copy_until_full(src, dst, **kwargs):  # half a file, then the disk is full
        Path(dst).write_bytes(Path(src).read_bytes()[:100])
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))

    menu = ExportMenu(lambda: zoo.resolve("zoo:digits-ml"), lambda: None)
    errors, done = [], []
    menu.sigError.connect(errors.append)
    menu.sigExported.connect(done.append)
    out = tmp_path / "ck"
    with monkeypatch.context() as m:
        m.setattr(shutil, "copyfile", copy_until_full)
        assert menu.export("checkpoint", out) is None
    assert errors == [f"cannot copy checkpoint to {out}: No space left on device"]
    assert list(tmp_path.iterdir()) == []  # nothing half-copied left behind
    assert menu.export("checkpoint", out) == out and done == [f"exported {out}"]
    assert (out / "state.json").is_file() and list(tmp_path.iterdir()) == [out]


def test_samples_export_as_arrays_with_their_recorded_chains(qtbot, tmp_path):
    """The app had no .npz export: numbers for an analysis meant the command line."""
    from app.export_menu import ENTRIES, ExportMenu
    from ebm_engine.learning.events import ChainFrame

    menu = ExportMenu(lambda: None, lambda: None)
    snap = _snapshot(7)
    chain = tuple(ChainFrame(5 * k, snap.samples[:2] * (k + 1) / 3, np.zeros(2, np.float32))
                  for k in range(3))  # recorded every 5th Langevin step
    for kind in ("image", "voxel", "text", "trajectory"):
        menu.set_snapshot(SamplesReady(7, kind, (-1.0, 1.0), snap.samples, snap.energy))
        assert menu.actions_by_label["Samples as arrays (NPZ)…"].isEnabled(), kind
        # the entries of other kinds are hidden, not a list of greyed-out formats
        shown = [e for e in ENTRIES if menu.actions_by_label[e.label].isVisible()]
        assert all(not e.kinds or kind in e.kinds for e in shown), kind
    # a data preview (the first screen): its kind's entries, disabled (nothing to export)
    menu.set_snapshot(SamplesReady(0, "voxel", None, snap.samples, snap.energy,
                                   origin="preview"))
    stl = menu.actions_by_label["Meshes (STL)…"]
    assert stl.isVisible() and not stl.isEnabled()
    assert not menu.actions_by_label["Sample grid (PNG)…"].isVisible()
    menu.set_snapshot(None)  # nothing shown: every entry, disabled
    assert all(menu.actions_by_label[e.label].isVisible() for e in ENTRIES)
    menu.set_snapshot(SamplesReady(7, "image", (-1.0, 1.0), snap.samples,
                                   np.arange(4, dtype=np.float32), chain))
    entry = next(e for e in ENTRIES if e.ext == ".npz")
    assert menu.suggested_path(entry).name == "samples_it7_samples.npz"
    out = menu.export(entry.what, tmp_path / "s.npz")
    with np.load(out) as saved:
        np.testing.assert_array_equal(saved["samples"], snap.samples)  # model space, as drawn
        np.testing.assert_array_equal(saved["energy"], np.arange(4))
        assert saved["chain"].shape == (3, 2, 1, 8, 8)
        assert saved["chain_steps"].tolist() == [0, 5, 10]  # the steps, not the frame index
        assert int(saved["iteration"]) == 7  # as samples/latest.npz
        assert tuple(saved["value_range"]) == (-1.0, 1.0)


def test_a_trajectory_picture_of_more_samples_than_it_draws_says_so(qtbot, tmp_path):
    """The app's PNG of 64 plans drew 16 and said only "exported …"."""
    from app.export_menu import ExportMenu

    menu = ExportMenu(lambda: None, lambda: None)
    done = []
    menu.sigExported.connect(done.append)
    paths = np.cumsum(np.random.default_rng(0).normal(size=(20, 6, 2)), 1).astype(np.float32)
    menu.set_snapshot(SamplesReady(3, "trajectory", None, paths, np.zeros(20, np.float32)))
    for name in ("t.png", "t.csv"):
        assert menu.export("grid", tmp_path / name) == tmp_path / name
    assert done == [f"exported {tmp_path / 't.png'} (the picture shows the first 16 of 20)",
                    f"exported {tmp_path / 't.csv'}"]
