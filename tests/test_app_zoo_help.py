"""Load pretrained (a zoo entry) from a demo card; the Help menu and About cards."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.testing import WAIT_MS, make_window

pytestmark = pytest.mark.app


@pytest.fixture
def tiny_zoo(tmp_path, monkeypatch):
    """A zoo with one tiny 8gaussians entry (4 iterations), installed as build_zoo installs."""
    from benchmarks import build_zoo
    from ebm_engine.learning.trainer import Trainer
    from ebm_engine.presets import config_for
    from ebm_engine.runs import zoo

    monkeypatch.setattr(zoo, "zoo_dir", lambda: tmp_path / "zoo")
    cfg = config_for("8gaussians", overrides=[
        ("model.width", 16), ("model.depth", 2), ("sampler.n_steps", 5), ("train.batch_size", 64),
        ("train.checkpoint_every", 0), ("train.iterations", 4)])
    run = tmp_path / "work"
    for _ in Trainer(cfg, run).events():
        pass
    (run / "eval.json").write_text(json.dumps({"metrics": {"kl_samples": 1.5}, "kind": "points",
                                               "better": {"kl_samples": "lower"},
                                               "iteration": 4}))
    (run / "samples.png").write_bytes(b"")
    return build_zoo._install(run, build_zoo.Recipe("8gaussians-ml", "8gaussians", "toy2d", "ml"),
                              1.0, {})


def _files(folder):
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_sample_only_with_nothing_loaded_samples_the_pretrained_model_or_says_why(
        qtbot, tmp_path, tiny_zoo, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    window = make_window(qtbot, tmp_path, knobs=())
    with qtbot.waitSignal(window.controller.sigSnapshot, timeout=WAIT_MS) as blocker:
        qtbot.mouseClick(window.transport.buttons["sample"], Qt.MouseButton.LeftButton)
    assert blocker.args[0].origin == "sample" and blocker.args[0].iteration == 4
    qtbot.waitUntil(lambda: window.controller.state == "finished", timeout=WAIT_MS)
    # a demo without a pretrained model: a question, not a bare folder chooser
    window.data_panel.set_source("rings")
    window.controller.wait()
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or
                        QMessageBox.StandardButton.Cancel)
    qtbot.mouseClick(window.transport.buttons["sample"], Qt.MouseButton.LeftButton)
    assert asked and "no model to sample yet" in asked[0]
    window.controller.wait()


def test_load_pretrained_samples_then_sample_and_train_continue_it(qtbot, tmp_path, tiny_zoo):
    before = _files(tiny_zoo)
    window = make_window(qtbot, tmp_path, knobs=())
    button = window.data_panel.pretrained_button
    assert button.isEnabled() and "8gaussians-ml" in button.toolTip()
    with qtbot.waitSignal(window.controller.sigSnapshot, timeout=WAIT_MS) as blocker:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    snap = blocker.args[0]
    assert snap.origin == "sample" and snap.iteration == 4 and len(snap.samples) == 64
    qtbot.waitUntil(lambda: window.controller.state == "finished", timeout=WAIT_MS)
    assert window.summary.show_run(window.controller.run_dir)["metrics"]["kl_samples"] == 1.5
    # Sample: fresh chains of the same model
    with qtbot.waitSignal(window.controller.sigSnapshot, timeout=WAIT_MS) as blocker:
        qtbot.mouseClick(window.transport.buttons["sample"], Qt.MouseButton.LeftButton)
    assert blocker.args[0].origin == "sample" and blocker.args[0].iteration == 4
    assert not np.allclose(blocker.args[0].samples, snap.samples)  # new chains, not the same
    qtbot.waitUntil(lambda: window.controller.state == "finished", timeout=WAIT_MS)
    # Train reads "Continue" (what it does is seen, not only said in the log) ...
    train = window.transport.buttons["train"]
    assert train.text() == "Continue" and tiny_zoo.name in train.toolTip()
    assert window.transport.actions_by_name["train"].text().replace("&", "") == "Continue"
    # ... and continues from iteration 4 in a new run folder
    qtbot.mouseClick(train, Qt.MouseButton.LeftButton)
    assert train.text() == "Train"  # what trains now is a run of its own
    qtbot.waitUntil(lambda: window.controller.state == "finished", timeout=WAIT_MS)
    assert window.errors == []
    rows = window.curves.rows["iteration"]
    assert rows[0] == 5 and rows[-1] == 8
    run = window.controller.run_dir
    assert run.parent == tmp_path / "runs" and (run / "checkpoints" / "iter_0000008").is_dir()
    assert _files(tiny_zoo) == before  # the zoo is never written
    assert button.isEnabled()  # again, once the run is over
    # resuming the zoo entry itself (File → Open run, recent runs) continues in a new folder too
    window.open_run(tiny_zoo, "resume")
    qtbot.waitUntil(lambda: window.controller.state == "finished", timeout=WAIT_MS)
    assert window.controller.run_dir not in (run, tiny_zoo) and _files(tiny_zoo) == before
    # a method with its own entry on this demo is what Load pretrained loads
    import dataclasses

    panel = window.data_panel
    own = panel.pretrained["8gaussians"]
    panel.zoo["8gaussians-fce"] = dataclasses.replace(own, name="8gaussians-fce", method="fce")
    panel.set_method("fce")
    assert panel.pretrained_entry().name == "8gaussians-fce"
    # ... and a method without one loads nothing, rather than the demo's entry of another method
    panel.set_method("coopnets")
    assert panel.pretrained_entry() is None and not button.isEnabled()
    assert "trained with ml (choose ml" in button.toolTip()
    panel.set_method("ml")
    assert panel.pretrained_entry().name == "8gaussians-ml"
    # another demo without an entry: no button; Train there starts from scratch
    window.data_panel.set_source("moons")
    assert not window.data_panel.pretrained_button.isEnabled()
    window.controller.wait()


def test_open_takes_a_zoo_name(qtbot, tmp_path, tiny_zoo):
    """`ebm-studio --open zoo:NAME` samples a pretrained model (it said "not a checkpoint
    folder"); a mistyped name is one line with a hint."""
    before = _files(tiny_zoo)
    window = make_window(qtbot, tmp_path, knobs=())
    with qtbot.waitSignal(window.controller.sigSnapshot, timeout=WAIT_MS) as blocker:
        window.open_run("zoo:8gaussians-ml", "sample")
    assert blocker.args[0].origin == "sample" and blocker.args[0].iteration == 4
    qtbot.waitUntil(lambda: window.controller.state == "finished", timeout=WAIT_MS)
    assert window.errors == [] and window.controller.run_dir == tiny_zoo
    # its curves are empty, and the curves pane says why
    assert not window.curves.note.isHidden() and "no metrics.csv" in window.curves.note.text()
    # Train then continues it (in a new folder), as after Load pretrained: not a fresh run
    qtbot.mouseClick(window.transport.buttons["train"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.controller.state == "finished", timeout=WAIT_MS)
    assert window.curves.rows["iteration"][0] == 5 and window.controller.run_dir != tiny_zoo
    window.open_run("zoo:8gausians-ml", "sample")
    assert len(window.errors) == 1 and "8gaussians-ml" in window.errors[0], window.errors
    assert "\n" not in window.errors[0]
    assert _files(tiny_zoo) == before


def test_help_menu_and_about_cards(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path, knobs=())
    qtbot.mouseClick(window.data_panel.about_button, Qt.MouseButton.LeftButton)
    dialog = window._about
    assert dialog.isVisible() and dialog.shown == ("demo", "8gaussians")
    assert "## Topic" not in dialog.text.toPlainText()  # rendered, not raw Markdown
    assert "Knobs" in dialog.text.toPlainText() and "8gaussians" in dialog.text.toPlainText()
    actions = {a.text().replace("&", ""): a for a in window.help_menu.actions()}
    actions["About this method"].trigger()
    assert dialog.shown == ("method", "ml") and "energy_data" in dialog.text.toPlainText()
    actions["Getting started"].trigger()
    assert dialog.shown == ("guide", "") and "Load pretrained" in dialog.text.toPlainText()
    # every method and demo is listed; picking one shows its card
    names = [dialog.list.item(i).text().strip() for i in range(dialog.list.count())]
    assert "coopnets" in names and "digits" in names
    dialog.list.setCurrentRow(names.index("coopnets"))
    assert dialog.shown == ("method", "coopnets") and "MCMC teaching" in dialog.text.toPlainText()
    # its Watch names gen_loss, which has no plot of its own: the card says where to pick it
    watch = dialog.text.toPlainText().split("Watch", 1)[1]
    assert "pick it in Curves → also plot" in watch and watch.count("gen_loss") == 2
    dialog.close()
    window.controller.wait()


def test_a_sampling_draws_as_many_samples_as_its_view_shows(qtbot, tmp_path, monkeypatch):
    # 16 point clouds, voxel grids or clips (what their views show), 64 images; drawing
    # 64 point clouds for a 16-cell view made Load pretrained four times slower.
    from app.samples_shown import samples_to_draw
    from ebm_engine.runs import zoo

    for name, n in (("shapes-points-ml", 16), ("shapes-voxels-ml", 16),
                    ("dynamic-texture-ml", 16), ("digits-ml", 64), ("moons-ml", 64)):
        path = zoo.resolve(f"zoo:{name}")
        assert samples_to_draw(path) == n, name
        assert samples_to_draw(next((path / "checkpoints").glob("iter_*"))) == n, name
    assert samples_to_draw(tmp_path) == 64  # not a run: the loader will say so
    window = make_window(qtbot, tmp_path, knobs=())
    asked = []
    monkeypatch.setattr(window.controller, "sample", lambda path, n=64: asked.append(n))
    window.open_run("zoo:shapes-points-ml", "sample")
    assert asked == [16]


def test_reset_after_load_pretrained_forgets_the_model_and_its_settings(qtbot, tmp_path,
                                                                         tiny_zoo):
    """Load pretrained put the model's settings in the panel (sampler.n_steps 5 for the
    preset's 40 here); Reset kept them, so the next "from scratch" run trained the model's
    recipe, not the demo's, and the run summary still showed the model's scores."""
    window = make_window(qtbot, tmp_path, knobs=())
    preset_steps = window.controller.config.sampler.n_steps
    assert preset_steps != 5
    with qtbot.waitSignal(window.controller.sigSnapshot, timeout=WAIT_MS):
        qtbot.mouseClick(window.data_panel.pretrained_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.controller.state == "finished", timeout=WAIT_MS)
    assert window.controller.config.sampler.n_steps == 5  # the model's own, shown
    with qtbot.waitSignal(window.controller.sigSnapshot, timeout=WAIT_MS):  # fresh chains
        qtbot.mouseClick(window.transport.buttons["sample"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.controller.state == "finished", timeout=WAIT_MS)
    assert "8gaussians-ml" in window.summary.disk.text()  # the model's run summary
    qtbot.mouseClick(window.transport.buttons["reset"], Qt.MouseButton.LeftButton)
    window.controller.wait()
    assert window.controller.config.sampler.n_steps == preset_steps  # the demo's again
    assert window.settings_panel.editors["sampler.n_steps"].value() == preset_steps
    assert "settings in force before 8gaussians-ml was opened are back" in \
        window.log.toPlainText()
    assert window.summary.disk.text() == "no run yet"
    assert window.transport.buttons["train"].text() == "Train"
    # an edit after opening makes the settings the user's: Reset keeps them
    with qtbot.waitSignal(window.controller.sigSnapshot, timeout=WAIT_MS):
        qtbot.mouseClick(window.data_panel.pretrained_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.controller.state == "finished", timeout=WAIT_MS)
    assert not window.settings_panel.set_value("sampler.n_steps", 7).pending
    qtbot.mouseClick(window.transport.buttons["reset"], Qt.MouseButton.LeftButton)
    window.controller.wait()
    assert window.controller.config.sampler.n_steps == 7


def test_about_equations_are_not_broken_across_lines(qtbot):
    """Qt wrapped an Objective's code lines at the window's width, mid-expression
    ("ε ~ N(0," then "s² I)"); a long line scrolls sideways instead."""
    from PySide6.QtGui import QTextFormat

    from app.widgets.about_dialog import AboutDialog

    dialog = AboutDialog()
    qtbot.addWidget(dialog)
    dialog.resize(600, 400)
    dialog.show()
    dialog.show_card("method", "symbol_vector")
    qtbot.waitExposed(dialog)
    code = []
    block = dialog.text.document().begin()
    while block.isValid():
        if block.blockFormat().hasProperty(QTextFormat.Property.BlockCodeLanguage):
            code.append(block)
        block = block.next()
    assert len(code) >= 3  # the three lines of its objective
    assert all(b.layout().lineCount() == 1 for b in code)
    assert dialog.text.horizontalScrollBar().maximum() > 0  # the longest: reached sideways
