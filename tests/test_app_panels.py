"""Settings forms, data catalogue, data preview, view registry and error dialogs (no long training)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from app.panels.data_panel import KEY_SETTLE_MS
from app.testing import TINY_2D, WAIT_MS, make_window

pytestmark = pytest.mark.app


def _demo_item(window, name):
    panel = window.data_panel
    for i in range(panel.list.count()):
        item = panel.list.item(i)
        if item.text().split("\n")[0] == name:
            return item
    raise AssertionError(f"no demo {name}")


def test_settings_panel_edits_through_the_session_and_shows_method_knobs(qtbot):
    from app.controller import Controller
    from app.panels.settings_panel import SettingsPanel
    from ebm_engine.methods import available_methods

    ctrl = Controller()
    panel = SettingsPanel(ctrl)
    qtbot.addWidget(panel)
    edits = []
    panel.sigKnobEdited.connect(lambda k, v: edits.append((k, v)))
    # tooltips come from the knob declarations: meaning, unit, bounds, the energy sign
    tip = panel.editors["sampler.step_size"].widget.toolTip()
    assert "δ" in tip and "data units" in tip and "> 0" in tip and "lower = more probable" in tip
    assert "Fixed once a run starts" in panel.editors["model.width"].widget.toolTip()
    # spin boxes take their range from the bounds
    assert panel.editors["train.snapshot_size"].widget.minimum() == 1
    assert panel.editors["train.snapshot_size"].widget.maximum() == 64
    # the session parses what was typed; the field shows the parsed value
    panel.set_value("sampler.step_size", "0.2")
    assert ctrl.config.sampler.step_size == 0.2 and edits == [("sampler.step_size", 0.2)]
    assert panel.editors["sampler.step_size"].widget.text() == "0.2"
    panel.set_value("sampler.reference_sigma", "inf")
    assert ctrl.config.sampler.reference_sigma == float("inf")
    # the method chooser shows only the chosen method's knobs
    for name, cls in available_methods().items():
        panel.method.setCurrentText(name)
        shown = {k.split(".")[-1] for k in panel.editors if k.startswith("train.options.")}
        assert shown == {k.name for k in cls.knobs()}, name
        assert ctrl.config.train.method == name
        assert cls.summary() in panel.method_summary.text()
    # a run locks the knobs declared fixed (live=False), from the metadata
    panel.set_state("running")
    assert not panel.editors["model.width"].widget.isEnabled()
    assert not panel.editors["train.seed"].widget.isEnabled()
    assert not panel.editors["train.method"].widget.isEnabled()
    assert panel.editors["sampler.step_size"].widget.isEnabled()
    panel.set_state("following")
    assert not panel.editors["sampler.step_size"].widget.isEnabled()
    ctrl.shutdown()


def test_refused_edit_reverts_the_field_and_says_why(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path)
    panel, ctrl = window.settings_panel, window.controller
    field = panel.editors["sampler.step_size"].widget
    error = panel.errors["sampler.step_size"]
    before = window.current_config().sampler.step_size
    field.setText("-1")
    field.editingFinished.emit()  # what pressing Enter does
    assert field.text() == f"{before:g}"  # back to the value in force
    assert not error.isHidden() and "sampler.step_size must be > 0" in error.text()
    assert ctrl.config.sampler.step_size == before
    field.setText("0.07")
    field.editingFinished.emit()
    assert error.isHidden() and ctrl.config.sampler.step_size == 0.07
    panel.set_value("train.lr", -1.0)
    assert not panel.errors["train.lr"].isHidden()
    # mid-run, a knob declared fixed is refused by the session and the field goes back
    window.transport.buttons["train"].click()
    qtbot.waitUntil(lambda: ctrl.state == "running" and ctrl.iteration >= 1, timeout=WAIT_MS)
    assert panel.errors["train.lr"].isHidden()  # a refusal before the run is no longer news
    width = panel.editors["model.width"].widget
    result = panel.set_value("model.width", 32)
    assert result.reason and width.value() == 16 and ctrl.config.model.width == 16
    assert not panel.errors["model.width"].isHidden()
    assert "cannot change during a run" in panel.errors["model.width"].text()
    # a size that passes "> 0" but whose square overflows is refused too; the run goes on
    field.setText("1e300")
    field.editingFinished.emit()
    assert "sampler.step_size is too large" in error.text() and field.text() == "0.07"
    assert ctrl.config.sampler.step_size == 0.07
    at = ctrl.iteration
    qtbot.waitUntil(lambda: ctrl.iteration > at, timeout=WAIT_MS)
    window.transport.buttons["stop"].click()
    qtbot.waitUntil(lambda: ctrl.state == "finished", timeout=WAIT_MS)
    assert window.errors == []


def test_wheel_over_an_unfocused_number_field_does_not_edit(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path, knobs=())
    spin = window.settings_panel.editors["train.iterations"].widget
    before = window.current_config().train.iterations
    assert spin.value() == before and not spin.hasFocus()

    def wheel():
        pos = QPointF(spin.width() / 2, spin.height() / 2)
        event = QWheelEvent(pos, QPointF(spin.mapToGlobal(pos.toPoint())), QPoint(0, 0),
                            QPoint(0, 120), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                            Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(spin, event)

    wheel()
    assert spin.value() == before and window.current_config().train.iterations == before
    assert not spin.hasFocus()
    # with the keyboard focus the wheel does edit (through the session)
    window.activateWindow()
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus, timeout=5000)
    wheel()
    assert spin.value() == before + 1 and window.current_config().train.iterations == before + 1


def test_demo_catalogue_sets_preset(qtbot, tmp_path):
    from ebm_engine.presets import config_for

    window = make_window(qtbot, tmp_path, knobs=())
    item = _demo_item(window, "digits")
    assert "min" in item.text() and not item.icon().isNull()
    window.data_panel.list.itemClicked.emit(item)
    first = item.text()
    cfg = window.current_config()
    assert cfg == config_for("digits") and cfg.model.name == "convnet"
    assert window.settings_panel.editors["model.name"].widget.currentText() == "convnet"
    # choosing a method that has a preset for this demo loads it (digits-recovery)
    window.settings_panel.method.setCurrentText("recovery")
    assert window.current_config() == config_for("digits", method="recovery")
    # … and says how long that preset takes, not the digits demo's own time: in the
    # title, and on the demo's card, which also names the method
    from ebm_engine.data import demos
    from ebm_engine.presets import demo_minutes

    own = f"~{demos()['digits'].expected_minutes:g} min"
    minutes = demo_minutes("digits", "recovery")
    assert minutes is not None and minutes != demos()["digits"].expected_minutes
    assert f"about {minutes:g} min" in window.samples.title.text()
    card = item.text().split("\n", 1)[1]
    assert "recovery" in card and f"~{minutes:g} min" in card and own not in card
    # About opens the method's card (what it measured on digits), not the demo's
    qtbot.mouseClick(window.data_panel.about_button, Qt.MouseButton.LeftButton)
    assert window._about.shown == ("method", "recovery")
    assert "digits" in window._about.text.toPlainText()
    # back to ml: the demo's own preset, card and About again
    window.settings_panel.method.setCurrentText("ml")
    assert window.current_config() == config_for("digits")
    assert item.text() == first and own in first
    qtbot.mouseClick(window.data_panel.about_button, Qt.MouseButton.LeftButton)
    assert window._about.shown == ("demo", "digits")
    window._about.close()
    window.controller.wait()


def test_the_keyboard_chooses_demos_as_clicks_do(qtbot, tmp_path):
    """Arrow keys: the demo the row rests on is loaded (not each one passed on the way);
    Enter loads the current row at once; typing a name only highlights it."""
    from ebm_engine.presets import config_for

    window = make_window(qtbot, tmp_path, knobs=())
    panel, demo_list = window.data_panel, window.data_panel.list
    names = [demo_list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(demo_list.count())]
    start = names.index("moons")
    panel.set_source("moons")
    chosen = []
    panel.sigSourceChosen.connect(chosen.append)
    demo_list.setFocus()
    qtbot.keyClick(demo_list, Qt.Key.Key_Down)
    qtbot.keyClick(demo_list, Qt.Key.Key_Down)
    qtbot.waitUntil(lambda: panel.source == names[start + 2], timeout=WAIT_MS)
    assert chosen == [names[start + 2]]  # the one passed on the way was not loaded
    assert window.current_config() == config_for(names[start + 2])
    assert names[start + 2] in panel.current.text()
    qtbot.keyClick(demo_list, Qt.Key.Key_Up)
    qtbot.keyClick(demo_list, Qt.Key.Key_Return)
    assert panel.source == names[start + 1] and window.current_config() == config_for(
        names[start + 1])
    qtbot.wait(2 * KEY_SETTLE_MS)
    assert chosen == [names[start + 2], names[start + 1]]  # Enter's, not again after it
    # Typing a name only highlights it (a stray key must not replace what is chosen).
    typed = next(n for n in names if n[0] != names[start + 1][0]
                 and [m[:4] for m in names].count(n[:4]) == 1)
    qtbot.keyClicks(demo_list, typed[:4])
    assert demo_list.currentItem().data(Qt.ItemDataRole.UserRole) == typed
    qtbot.wait(2 * KEY_SETTLE_MS)
    assert panel.source == names[start + 1] and len(chosen) == 2
    qtbot.keyClick(demo_list, Qt.Key.Key_Return)
    assert panel.source == typed
    window.controller.wait()


def test_opening_a_folder_after_a_demo_keeps_nothing_of_the_demo(qtbot, tmp_path, monkeypatch):
    from PIL import Image

    from ebm_engine.presets import config_for

    folder = tmp_path / "pictures"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(folder / f"{i}.png")
    window = make_window(qtbot, tmp_path, knobs=())
    window.data_panel.list.itemClicked.emit(_demo_item(window, "dynamic-texture"))
    assert window.current_config().model.name == "stgconvnet"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    window.data_panel.open_button.menu().actions()[0].trigger()  # Open… → Folder…
    cfg = window.current_config()
    assert cfg.data.source == str(folder)
    assert cfg.model.name != "stgconvnet" and cfg == config_for(str(folder))
    assert window.settings_panel.editors["model.name"].widget.currentText() == cfg.model.name
    assert window.snapshot is None  # the demo's preview is gone too
    assert window.errors == []


def test_corrupt_image_folder_shows_error_dialog_and_app_lives(qtbot, tmp_path):
    bad = tmp_path / "bad_images"
    bad.mkdir()
    (bad / "a.png").write_bytes(b"not a png at all")
    window = make_window(qtbot, tmp_path, knobs=(), record_errors=False)
    window.data_panel.set_source(str(bad))
    assert window.current_config().data.source == str(bad)
    with qtbot.waitSignal(window.controller.sigError, timeout=WAIT_MS) as blocker:
        window.transport.buttons["train"].click()
    message = blocker.args[0]
    assert "a.png" in message and "\n" not in message
    boxes = [w for w in QApplication.topLevelWidgets()
             if isinstance(w, QMessageBox) and w.isVisible()]
    from app.main_window import _in_app_words

    assert boxes and boxes[-1].text() == _in_app_words(message)  # the checkbox, not a --set
    boxes[-1].close()
    qtbot.waitUntil(lambda: window.controller.state == "idle" and not window.controller.busy,
                    timeout=WAIT_MS)
    assert window.isVisible() and window.transport.buttons["train"].isEnabled()
    # an invalid knob is refused before anything runs: the config keeps its value
    window.settings_panel.set_value("train.lr", "0")
    assert "train.lr must be > 0" in window.settings_panel.errors["train.lr"].text()
    assert window.current_config().train.lr > 0


def test_views_by_kind_and_extras(qtbot):
    from app.views.extras import ExtrasPanel
    from app.views.film_strip import FilmStrip
    from app.views.registry import view_class
    from ebm_engine.learning.events import SamplesReady
    from ebm_engine.sampling.langevin import ChainFrame

    assert view_class("image").__name__ == "ImageGridView"
    assert view_class("points").__name__ == "LandscapeView"
    for kind in ("video", "voxel", "pointcloud"):
        assert view_class(kind) is not None  # a dedicated view or the placeholder
    assert view_class("no-such-kind").__name__ == "PlaceholderView"
    rng = np.random.default_rng(0)
    frames = tuple(ChainFrame(s, rng.uniform(-1, 1, (8, 1, 6, 6)).astype(np.float32),
                              np.full(8, -s, np.float32)) for s in range(4))
    snap = SamplesReady(5, "image", (-1.0, 1.0), rng.uniform(-1, 1, (9, 1, 6, 6)).astype(np.float32),
                        np.zeros(9, np.float32), frames,
                        {"proposals": rng.uniform(-1, 1, (9, 1, 6, 6)).astype(np.float32)})
    view = view_class("image")()
    qtbot.addWidget(view)
    view.set_snapshot(snap)
    grid = view.grid.last_grid
    assert grid.shape == (3 * 8 + 2, 3 * 8 + 2, 3)
    clicked = []
    view.sigSampleClicked.connect(clicked.append)
    from app.views.image_grid import tile_at
    assert tile_at(2 + 8 + 1, 2 + 8 * 2 + 3, 9, 6, 6) == 7
    view.show_frame(1)
    assert view.grid.last_grid.shape == (2 * 8 + 2, 4 * 8 + 2, 3)  # 8 recorded chains, 4 × 2
    strip = FilmStrip()
    qtbot.addWidget(strip)
    assert strip.show_chain(snap, 2)
    assert list(strip.curve.getData()[1]) == [0, -1, -2, -3]
    strip.trace.setYRange(-5e4, 5e4)  # the axes of a run with large energies …
    strip.clear()
    assert max(abs(v) for v in strip.trace.viewRange()[1]) < 2  # … go with its chain
    assert strip.show_chain(snap, 2)
    assert not strip.show_chain(snap, 8)  # not recorded: says so
    from app.views.film_strip import energy_change

    assert energy_change(-35409.2, -35415.0) == "-3.541e+04 → -3.542e+04"  # not -3.54e+04 twice
    assert energy_change(1.0213, -0.25) == "1.02 → -0.25"
    assert energy_change(2.0, 2.0) == "2 → 2"
    # a sampling without chain steps (FCE's flow): one state, and the title says so
    single = dataclasses.replace(snap, frames=frames[-1:])
    assert strip.show_chain(single, 2) and "only its final state" in strip.title.text()
    assert "recorded steps" not in strip.title.text()
    xs = strip.curve.getData()[0]
    assert xs is None or len(xs) == 0  # no one-dot energy trace
    extras = ExtrasPanel()
    qtbot.addWidget(extras)
    extras.set_extras(snap.extras, "image", (-1.0, 1.0))
    assert list(extras.widgets) == ["proposals"] and not extras.isHidden()
    placeholder = view_class("no-such-kind")()
    qtbot.addWidget(placeholder)
    placeholder.set_snapshot(snap)
    assert "9 samples" in placeholder.label.text()


def test_2d_demo_shows_its_data_before_training(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path, knobs=())
    with qtbot.waitSignal(window.controller.sigSnapshot, timeout=WAIT_MS):
        window.data_panel.list.itemClicked.emit(_demo_item(window, "moons"))
    view = window.sample_view
    x, y = view.data.getData()
    assert window.view_kind == "points" and 500 <= len(x) <= 2000
    # the moons demo spans both signs of x
    assert x.min() < -1 and x.max() > 1 and np.isfinite(y).all()


def test_image_demo_shows_its_data_before_train(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path, knobs=TINY_2D)
    with qtbot.waitSignal(window.controller.sigSnapshot, timeout=20_000) as blocker:
        window.data_panel.list.itemClicked.emit(_demo_item(window, "digits"))
    snap = blocker.args[0]
    assert snap.origin == "preview" and snap.kind == "image" and 1 <= len(snap.samples) <= 64
    assert type(window.sample_view).__name__ == "ImageGridView"
    assert window.sample_view.grid.last_grid is not None and window.snapshot is snap
    assert "training data" in window.samples.title.text()
    assert window.controller.state == "idle"
    # nothing to export yet: a preview is data, not samples
    export = window.menuBar().actions()[1].menu()
    assert not next(a for a in export.actions() if a.text().replace("&", "") == "Sample grid (PNG)…").isEnabled()
    window.controller.wait()


def test_rollback_marks_the_curves_and_drops_the_void_rows(qtbot, tmp_path):
    from ebm_engine.learning.events import Rewound, RolledBack

    window = make_window(qtbot, tmp_path, knobs=())
    ctrl, curves = window.controller, window.curves

    def rows(its):
        return [{"iteration": i, "wall_time": 0.1 * i, "loss": 1.0, "its": 5.0} for i in its]

    ctrl.sigMetrics.emit(rows(range(1, 31)))
    curves.add_marker(25, "lr=0.1")
    # live: the run went back to iteration 20 before going on
    ctrl.sigRolledBack.emit(RolledBack(20, 30, "non-finite energy", {"train.lr": [0.1, 0.05]}))
    assert curves.rows["iteration"] == list(range(1, 21))
    assert [m[2] for m in curves.markers] == ["rollback"] and curves.markers[0][0] == 20
    assert "rolled back to 20" in window.log.toPlainText()
    # followed: the job rewrote metrics.csv before its rollback line, so the rows read by
    # then are the file's (the restarted run's first ones among them): they stay
    ctrl.following_run = True
    curves.add_marker(24, "lr=0.2")
    ctrl.sigMetrics.emit(rows(range(21, 27)))
    ctrl.sigRolledBack.emit(RolledBack(22, 26, "non-finite energy"))
    assert curves.rows["iteration"] == list(range(1, 27))
    assert [m[2] for m in curves.markers] == ["rollback", "rollback"]  # lr=0.2 was undone
    curves.add_marker(23, "lr=0.3")
    ctrl.sigRewound.emit(Rewound(0))  # metrics.csv rewritten: read again from the start
    assert curves.rows["iteration"] == [] and len(curves.markers) == 3  # the markers stay


def test_method_knobs_that_the_chosen_condition_does_not_read_are_hidden(qtbot, tmp_path):
    from app.testing import make_window

    window = make_window(qtbot, tmp_path, demo="saliency-popout", knobs=())
    panel = window.settings_panel

    def shown(name: str) -> bool:
        return panel.options_form.isRowVisible(panel.rows[f"train.options.{name}"])

    assert panel.cfg.train.options["condition"] == "image"
    assert shown("output_channels") and shown("contrast") and shown("gen_lr")
    assert not shown("n_classes") and not shown("mask_min")
    assert panel.set_value("train.options.condition", "label").value == "label"
    assert shown("n_classes") and not shown("contrast")
    window.data_panel.set_source("digits-inpainting")
    window.controller.wait()
    assert shown("mask_min") and shown("mask_max")
    assert not shown("n_classes") and not shown("output_channels")


def test_model_knobs_the_network_does_not_read_are_hidden(qtbot, tmp_path):
    """FRAME's Model panel offered width, depth and spectral_norm, which its energy (a
    filter bank) never reads; a ConvNet's are shown."""
    from app.testing import make_window

    window = make_window(qtbot, tmp_path, demo="frame-texture", knobs=())
    panel = window.settings_panel

    def shown(name: str) -> bool:
        return panel.forms["model"].isRowVisible(panel.rows[f"model.{name}"])

    assert panel.cfg.model.name == "frame"
    assert not shown("width") and not shown("depth") and not shown("spectral_norm")
    assert shown("name")
    window.data_panel.set_source("digits")
    window.controller.wait()
    assert shown("width") and shown("depth") and shown("spectral_norm")


def test_close_knob_markers_label_at_different_heights(qtbot, tmp_path):
    from ebm_engine.learning.events import KnobApplied

    window = make_window(qtbot, tmp_path, knobs=())
    for it, value in ((10, 0.02), (11, 1e6)):
        window.controller.sigKnobApplied.emit(KnobApplied(it, "sampler.step_size", 0.01, value))
    labelled = [line.label for _plot, line in window.curves.marker_items
                if getattr(line, "label", None) is not None]
    assert [label.format for label in labelled] == ["step_size=0.02", "step_size=1e+06"]
    assert labelled[0].orthoPos != labelled[1].orthoPos  # not one on top of the other


def test_any_recorded_metric_can_be_plotted_and_stays_picked_for_the_next_run(qtbot):
    """The About cards say to watch a method's own metrics (latent_seq's gen_loss,
    symbol_vector's cross_entropy), which no plot showed: "also plot" offers every
    metric a run records beyond the fixed plots."""
    from app.views.curves import NONE, OTHER, CurvesView

    curves = CurvesView()
    qtbot.addWidget(curves)
    rows = [{"iteration": i, "wall_time": 0.1 * i, "loss": 1.0, "its": 5.0,
             "gen_loss": 10.0 - i} for i in range(1, 9)]
    curves.add_rows(rows[:4])
    offered = [curves.other.itemText(i) for i in range(curves.other.count())]
    assert offered == [NONE, "gen_loss"] and OTHER not in curves.items  # loss is plotted
    curves.other.setCurrentText("gen_loss")
    assert OTHER in curves.items and curves.items[OTHER].titleLabel.text == "gen_loss"
    curves.smooth.setValue(0)
    curves.add_rows(rows[4:])
    curves.redraw()
    x, y = curves.lines["gen_loss"].getData()
    assert list(x) == list(range(1, 9)) and list(y) == [10.0 - i for i in range(1, 9)]
    # a new run: the list is its own, and the pick comes back once it records the metric
    curves.clear()
    assert curves.other.count() == 1 and OTHER not in curves.items
    curves.add_rows([{"iteration": 1, "loss": 2.0, "gen_loss": 3.0, "recon": 1.0}])
    assert curves.other.currentText() == "gen_loss" and OTHER in curves.items
    curves.other.setCurrentText(NONE)
    assert OTHER not in curves.items and "gen_loss" not in curves.lines
    assert "loss" in curves.lines  # a fixed plot's line is never taken away
