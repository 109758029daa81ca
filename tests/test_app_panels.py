"""Settings forms, data catalogue, view registry and error dialogs (no long training)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication, QMessageBox

from app.testing import WAIT_MS, make_window

pytestmark = pytest.mark.app


def test_settings_panel_validates_inline_and_shows_method_knobs(qtbot):
    from app.panels.settings_panel import SettingsPanel
    from ebm_engine.errors import ConfigError
    from ebm_engine.methods.base import available_methods

    panel = SettingsPanel()
    qtbot.addWidget(panel)
    edits = []
    panel.sigKnobEdited.connect(lambda k, v: edits.append((k, v)))
    # tooltips come from the dataclass docstrings, with units
    assert "δ" in panel.editors["sampler.step_size"].widget.toolTip()
    assert "data units" in panel.editors["sampler.step_size"].widget.toolTip()
    # an invalid value: inline message naming the field, config unchanged, nothing emitted
    panel.set_value("sampler.step_size", "-1")
    error = panel.errors["sampler.step_size"]
    assert not error.isHidden() and "sampler.step_size must be > 0" in error.text()
    assert panel.cfg.sampler.step_size == 0.05 and edits == []
    with pytest.raises(ConfigError):
        panel.config()
    panel.set_value("sampler.step_size", "0.2")
    assert error.isHidden() and panel.config().sampler.step_size == 0.2
    assert edits == [("sampler.step_size", 0.2)]
    panel.set_value("sampler.reference_sigma", "inf")
    assert panel.config().sampler.reference_sigma == float("inf")
    # the method chooser shows only the chosen method's knobs
    methods = available_methods()
    for name, cls in methods.items():
        panel.method.setCurrentText(name)
        shown = {k.split(".")[-1] for k in panel.editors if k.startswith("train.options.")}
        assert shown == set(cls.option_defaults), name
        assert panel.config().train.method == name
    # running locks structural knobs only
    panel.set_running(True)
    assert not panel.editors["model.width"].widget.isEnabled()
    assert panel.editors["sampler.step_size"].widget.isEnabled()


def test_demo_catalogue_sets_preset(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path, knobs=())
    names = [window.data_panel.list.item(i).text().split("\n")[0]
             for i in range(window.data_panel.list.count())]
    assert "8gaussians" in names and "digits" in names
    digits = names.index("digits")
    item = window.data_panel.list.item(digits)
    assert "min" in item.text() and not item.icon().isNull()
    window.data_panel.list.itemClicked.emit(item)
    cfg = window.current_config()
    assert cfg.data.source == "digits" and cfg.model.name == "convnet"
    assert window.settings_panel.editors["model.name"].widget.currentText() == "convnet"
    # choosing a method that has a preset for this demo loads it (digits-recovery)
    from ebm_engine.presets import config_for

    window.settings_panel.method.setCurrentText("recovery")
    assert window.current_config() == config_for("digits", method="recovery")
    # back to ml: the demo's own preset again
    window.settings_panel.method.setCurrentText("ml")
    assert window.current_config() == config_for("digits")


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
    assert boxes and boxes[-1].text() == message
    boxes[-1].close()
    qtbot.waitUntil(lambda: window.controller.state == "idle", timeout=WAIT_MS)
    assert window.isVisible() and window.transport.buttons["train"].isEnabled()
    # an invalid knob is refused before anything runs
    window.settings_panel.set_value("train.lr", "0")
    window.show_error = window.errors.append
    window.transport.buttons["train"].click()
    assert window.errors and "train.lr must be > 0" in window.errors[-1]
    assert not window.controller.busy


def test_views_by_kind_and_extras(qtbot):
    from app.controller import Snapshot
    from app.views.extras import ExtrasPanel
    from app.views.film_strip import FilmStrip
    from app.views.registry import view_class
    from ebm_engine.sampling.langevin import ChainFrame

    assert view_class("image").__name__ == "ImageGridView"
    assert view_class("points").__name__ == "LandscapeView"
    for kind in ("video", "voxel", "pointcloud"):
        assert view_class(kind) is not None  # a dedicated view or the placeholder
    assert view_class("no-such-kind").__name__ == "PlaceholderView"
    rng = np.random.default_rng(0)
    frames = tuple(ChainFrame(s, rng.uniform(-1, 1, (8, 1, 6, 6)).astype(np.float32),
                              np.full(8, -s, np.float32)) for s in range(4))
    snap = Snapshot(5, "image", (-1.0, 1.0), rng.uniform(-1, 1, (9, 1, 6, 6)).astype(np.float32),
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
    assert view.grid.last_grid.shape == (3 * 8 + 2, 3 * 8 + 2, 3)  # 8 recorded chains
    strip = FilmStrip()
    qtbot.addWidget(strip)
    assert strip.show_chain(snap, 2)
    assert list(strip.curve.getData()[1]) == [0, -1, -2, -3]
    assert not strip.show_chain(snap, 8)  # not recorded: says so
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
    window._source_chosen("moons")
    view = window.sample_view
    x, y = view.data.getData()
    assert window.view_kind == "points" and 500 <= len(x) <= 2000
    # the moons demo spans both signs of x
    assert x.min() < -1 and x.max() > 1 and np.isfinite(y).all()
