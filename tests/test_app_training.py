"""Click the real transport buttons on a 2D demo: train, pause, step, edit a knob, stop, reset, close."""

from __future__ import annotations

import json

import pytest

from app.testing import WAIT_MS, make_window

pytestmark = pytest.mark.app


def _click(window, name):
    button = window.transport.buttons[name]
    assert button.isEnabled(), f"{name} is disabled in state {window.controller.state}"
    button.click()


def test_train_pause_step_knob_close(qtbot, tmp_path):
    from ebm_engine.learning.loading import load_model

    window = make_window(qtbot, tmp_path)
    ctrl = window.controller
    _click(window, "train")
    # the chain view and the curves update live (the view renders the latest snapshot per
    # tick, so it may draw fewer times than snapshots arrive: wait for its own count)
    qtbot.waitUntil(lambda: window.snapshot_count >= 3 and window.curves.update_count >= 3
                    and window.sample_view.update_count >= 3, timeout=WAIT_MS)
    view = window.sample_view
    assert type(view).__name__ == "LandscapeView"
    assert view.update_count >= 3
    assert window.snapshot.landscape is not None and window.snapshot.landscape.energy.shape == (64, 64)
    assert len(window.snapshot.frames) > 1
    assert window.status_labels["device"].text() == "device: CPU"
    run_dir = ctrl.run_dir
    assert run_dir.parent == tmp_path / "runs"

    # Pause → the iteration count stops
    _click(window, "pause")
    qtbot.waitUntil(lambda: ctrl.state == "paused", timeout=WAIT_MS)
    with qtbot.waitSignal(ctrl.sigIteration, timeout=2000, raising=False):
        pass  # the iteration in flight when Pause was pressed may still land
    qtbot.wait(300)
    frozen_at = ctrl.iteration
    qtbot.wait(1500)
    assert ctrl.iteration == frozen_at

    # Step → exactly one iteration
    with qtbot.waitSignal(ctrl.sigIteration, timeout=WAIT_MS) as blocker:
        _click(window, "step")
    assert blocker.args == [frozen_at + 1]
    qtbot.wait(1500)
    assert ctrl.iteration == frozen_at + 1

    # a knob edit mid-run → a marker on the curves and a line in events.jsonl
    assert window.transport.buttons["pause"].text() == "Resume"
    _click(window, "pause")  # the one Resume
    qtbot.waitUntil(lambda: ctrl.state == "running", timeout=WAIT_MS)
    with qtbot.waitSignal(ctrl.sigKnobApplied, timeout=WAIT_MS):
        result = window.settings_panel.set_value("sampler.step_size", 0.07)
    assert result.pending and result.value == 0.07
    assert window.curves.markers and "step_size" in window.curves.markers[-1][1]
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    knob = [e for e in events if e["event"] == "knob"]
    assert knob and knob[-1]["key"] == "sampler.step_size" and knob[-1]["new"] == 0.07
    # the same value again (a field refocused): nothing queued, nothing logged twice
    queued = window.log.toPlainText().count("queued edit sampler.step_size")
    assert not window.settings_panel.set_value("sampler.step_size", 0.07).pending
    assert window.log.toPlainText().count("queued edit sampler.step_size") == queued == 1

    # close during training → worker stopped, checkpoint valid
    qtbot.waitUntil(lambda: ctrl.iteration > frozen_at + 2, timeout=WAIT_MS)
    window.close()
    assert not ctrl.busy
    loaded = load_model(run_dir)
    assert loaded.checkpoint.iteration >= frozen_at + 2
    assert loaded.cfg.sampler.step_size == 0.07
    assert window.errors == []


def _assert_cleared(window, preview: bool = False):
    """Nothing of the last run is left on screen (after Reset the demo's data may be on
    show again already, ``preview``: a loaded machine reads them before the check)."""
    for shown in (window.snapshot, window.sample_view.snapshot):
        assert shown is None or (preview and shown.origin == "preview" and shown.iteration == 0)
    assert window.curves.rows.get("iteration", []) == []
    assert window.film.index is None and window.scrubber.steps == []
    for name in ("iteration", "its", "eta", "run"):
        assert window.status_labels[name].text() == "", name
    assert window.status_labels["device"].text() == "device: –"


def test_train_after_stop_and_reset_clear_views_and_status(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path)
    ctrl = window.controller
    for again in ("train", "reset"):
        _click(window, "train")
        qtbot.waitUntil(lambda: window.snapshot_count >= 2 and ctrl.iteration >= 3
                        and window.status_labels["eta"].text().startswith("ETA"), timeout=WAIT_MS)
        window.sample_view.sigSampleClicked.emit(0)  # a chain in the film strip
        assert window.film.index == 0
        _click(window, "stop")
        qtbot.waitUntil(lambda: ctrl.state == "finished", timeout=WAIT_MS)
        assert window.snapshot is not None and window.status_labels["iteration"].text()
        _click(window, again)  # Train a new run, or Reset
        _assert_cleared(window, preview=again == "reset")
        if again == "train":  # the new run fills the views again
            qtbot.waitUntil(lambda: window.snapshot is not None, timeout=WAIT_MS)
            _click(window, "stop")
            qtbot.waitUntil(lambda: ctrl.state == "finished", timeout=WAIT_MS)
    # after Reset the demo's data are on show again, as before the first Train
    qtbot.waitUntil(lambda: not ctrl.busy and window.snapshot is not None, timeout=WAIT_MS)
    assert ctrl.state == "idle" and window.snapshot.origin == "preview"
    assert window.errors == []


def _diverging(monkeypatch):
    """Trainer.events of a run whose energies explode after iteration 2."""
    from ebm_engine.learning.events import Diverged, Finished, TrainStep
    from ebm_engine.learning.trainer import Trainer

    def events(self, iterations=None):
        gate = getattr(self, "_gate", None)  # the session's pause gate
        for it in range(1, 3):
            self.iteration = it
            yield TrainStep(it, 0.1 * it, {"loss": 0.0, "its": 10.0})
        yield Diverged(2, "non-finite energy_data; the update was not applied")
        for it in range(3, 100):
            if gate is not None:
                gate()
            if self._stop.is_set():
                break
            self.iteration = it
            yield TrainStep(it, 0.1 * it, {"loss": 0.0, "its": 10.0})
        yield Finished(self.iteration, "stopped")

    monkeypatch.setattr(Trainer, "events", events)


def test_divergence_pauses_and_says_so(qtbot, tmp_path, monkeypatch):
    _diverging(monkeypatch)
    window = make_window(qtbot, tmp_path)
    ctrl = window.controller
    with qtbot.waitSignal(ctrl.sigDiverged, timeout=WAIT_MS):
        _click(window, "train")
    assert ctrl.state == "paused"
    assert window.errors and "paused" in window.errors[-1] and "non-finite" in window.errors[-1]
    assert "Lower train.lr or sampler.step_size" in window.errors[-1]  # ml's step knob
    qtbot.wait(500)
    assert ctrl.iteration == 2  # nothing ran after the divergence
    _click(window, "stop")
    qtbot.waitUntil(lambda: ctrl.state == "finished", timeout=WAIT_MS)
    assert window.isVisible()


def test_a_first_step_that_diverges_does_not_blame_the_rate(qtbot, tmp_path):
    # Chains started at 1e18 give non-finite energies before any update: the advice
    # names the start (it said "lower train.lr", which cannot have been the cause).
    window = make_window(qtbot, tmp_path)
    assert window.settings_panel.set_value("sampler.init_scale", 1e18).value == 1e18
    with qtbot.waitSignal(window.controller.sigDiverged, timeout=WAIT_MS) as diverged:
        _click(window, "train")
    assert diverged.args[0].iteration == 0
    assert "sampler.init_scale" in window.errors[-1] and "train.lr" not in window.errors[-1]
    _click(window, "stop")
    qtbot.waitUntil(lambda: window.controller.state == "finished", timeout=WAIT_MS)


def test_divergence_pause_shows_one_resume(qtbot, tmp_path, monkeypatch):
    _diverging(monkeypatch)
    window = make_window(qtbot, tmp_path)
    ctrl = window.controller
    with qtbot.waitSignal(ctrl.sigDiverged, timeout=WAIT_MS):
        _click(window, "train")
    buttons = window.transport.buttons.values()
    resumes = [b for b in buttons if b.isEnabled() and b.text() == "Resume"]
    assert len(resumes) == 1, [(b.objectName(), b.text(), b.isEnabled()) for b in buttons]
    assert not window.transport.buttons["train"].isEnabled()
    with qtbot.waitSignal(ctrl.sigIteration, timeout=WAIT_MS) as blocker:
        resumes[0].click()  # it resumes the run (which then runs to its end)
    assert blocker.args[0] >= 3
    qtbot.waitUntil(lambda: ctrl.state == "finished", timeout=WAIT_MS)


def test_the_last_failed_attempt_says_the_run_ended_not_press_resume(qtbot, tmp_path):
    from ebm_engine.learning.events import Diverged

    window = make_window(qtbot, tmp_path)
    window.controller.sigDiverged.emit(Diverged(283, "non-finite energy_data"))
    assert "press Resume" in window.errors[-1]
    window.controller.sigDiverged.emit(Diverged(283, "non-finite energy_data", final=True))
    said = window.errors[-1]
    assert said.startswith("Training stopped: iteration 284 diverged again")
    assert "press Resume" not in said and "▶ Train" in said


def test_a_divergence_dialog_goes_when_the_pause_ends(qtbot, tmp_path):
    from PySide6.QtWidgets import QMessageBox

    from ebm_engine.learning.events import Diverged

    window = make_window(qtbot, tmp_path, record_errors=False)
    window.controller.sigDiverged.emit(Diverged(40, "non-finite energy_data"))
    window.controller.sigDiverged.emit(Diverged(40, "non-finite energy_data"))
    shown = [b for b in window.findChildren(QMessageBox) if b.isVisible()]
    assert len(shown) == 1 and "press Resume" in shown[0].text()  # one, not a stack
    window.controller.sigStateChanged.emit("running")  # Resume (or Stop, Reset)
    qtbot.waitUntil(lambda: not any(b.isVisible() for b in window.findChildren(QMessageBox)))


def test_the_pause_dialog_offers_to_go_back_to_the_last_checkpoint(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox, QPushButton

    from ebm_engine.learning.events import Diverged

    window = make_window(qtbot, tmp_path, record_errors=False)
    asked = []
    monkeypatch.setattr(window.controller, "roll_back_choices",
                        lambda: [(440, "the latest checkpoint")])
    monkeypatch.setattr(window.controller, "roll_back", asked.append)
    window.controller.sigDiverged.emit(Diverged(443, "non-finite energy_data"))
    box = next(b for b in window.findChildren(QMessageBox) if b.isVisible())
    assert "go back instead, to iteration 440 (the latest checkpoint)" in box.text()
    button = box.findChild(QPushButton, "roll_back")
    assert button.text() == "Go back to iteration 440"
    assert box.findChild(QPushButton, "roll_back_1") is None  # no edit: one way back
    button.click()
    assert asked == [440]


def test_the_pause_dialog_offers_the_state_before_an_edit_past_a_later_checkpoint(
        qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox, QPushButton

    from ebm_engine.learning.events import Diverged

    window = make_window(qtbot, tmp_path, record_errors=False)
    asked = []
    monkeypatch.setattr(window.controller, "roll_back_choices", lambda: [
        (400, "the latest checkpoint"), (219, "before your edit of train.lr")])
    monkeypatch.setattr(window.controller, "roll_back", asked.append)
    window.controller.sigDiverged.emit(Diverged(443, "non-finite energy_data"))
    box = next(b for b in window.findChildren(QMessageBox) if b.isVisible())
    assert "iteration 219 (before your edit of train.lr)" in box.text()
    older = box.findChild(QPushButton, "roll_back_1")
    assert older.text() == "Go back to iteration 219" and "train.lr" in older.toolTip()
    older.click()
    assert asked == [219]


def test_quit_while_training_asks_first_and_keeps_the_run(qtbot, tmp_path):
    """File → Quit mid-run: a question, not an instant close. Keep training goes on;
    Stop and quit closes, and the run's checkpoint is there to continue."""
    from PySide6.QtWidgets import QMessageBox, QPushButton

    from ebm_engine.learning.loading import load_model

    window = make_window(qtbot, tmp_path)
    ctrl = window.controller
    quit_action = next(a for a in window.menuBar().actions()[0].menu().actions()
                       if a.text().replace("&", "") == "Quit")
    from PySide6.QtCore import Qt

    # Ctrl+Q also from the Learn or Help window in front
    assert quit_action.shortcutContext() == Qt.ShortcutContext.ApplicationShortcut
    _click(window, "train")
    qtbot.waitUntil(lambda: ctrl.iteration >= 3, timeout=WAIT_MS)
    quit_action.trigger()
    box = window.findChild(QMessageBox, "quit_dialog")
    assert box is not None and box.isVisible() and "Stop it and quit?" in box.text()
    assert "File → Open run continues it" in box.text()
    assert window.isVisible() and ctrl.busy
    quit_action.trigger()  # asked again: the same question, not a second one
    assert len([b for b in window.findChildren(QMessageBox, "quit_dialog") if b.isVisible()]) == 1
    keep = next(b for b in box.findChildren(QPushButton) if b.text() == "Keep training")
    keep.click()
    at = ctrl.iteration
    qtbot.waitUntil(lambda: ctrl.iteration > at + 2, timeout=WAIT_MS)  # still training
    assert window.isVisible()
    run_dir = ctrl.run_dir
    quit_action.trigger()
    box = window.findChild(QMessageBox, "quit_dialog")
    box.findChild(QPushButton, "quit_anyway").click()
    assert not window.isVisible() and not ctrl.busy
    assert load_model(run_dir).checkpoint.iteration >= at + 2


def test_the_windows_close_button_asks_as_quit_does(qtbot, tmp_path):
    """The close button's path (a close event from the window system) had no test."""
    from PySide6.QtGui import QCloseEvent
    from PySide6.QtWidgets import QMessageBox, QPushButton

    class CloseButton(QCloseEvent):  # what the window manager sends: spontaneous
        def spontaneous(self) -> bool:  # noqa: D102
            return True

    window = make_window(qtbot, tmp_path)
    ctrl = window.controller
    _click(window, "train")
    qtbot.waitUntil(lambda: ctrl.iteration >= 2, timeout=WAIT_MS)
    event = CloseButton()
    window.closeEvent(event)
    assert not event.isAccepted() and window.isVisible() and ctrl.busy
    box = window.findChild(QMessageBox, "quit_dialog")
    assert box is not None and box.isVisible()
    box.findChild(QPushButton, "quit_anyway").click()
    assert not window.isVisible() and not ctrl.busy


def test_the_run_menu_and_its_keys_drive_a_run_as_the_buttons_do(qtbot, tmp_path):
    """F5 trains, F6 pauses and resumes, F7 steps, Shift+F5 stops; the Run menu lists
    them, enabled as the buttons are."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QMenu

    window = make_window(qtbot, tmp_path)
    ctrl = window.controller
    menu = window.findChild(QMenu, "run_menu")
    actions = {a.text().replace("&", ""): a for a in menu.actions()}
    assert {"Train", "Pause", "Step", "Sample only", "Stop", "Reset"} <= set(actions)
    assert actions["Train"].shortcut().toString() == "F5"
    assert "(F5)" in window.transport.buttons["train"].toolTip()
    assert actions["Train"].isEnabled() and not actions["Stop"].isEnabled()
    with qtbot.waitActive(window):  # shortcuts go to the active window
        window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: ctrl.iteration >= 2, timeout=WAIT_MS)
    assert not actions["Train"].isEnabled() and actions["Stop"].isEnabled()
    qtbot.keyClick(window, Qt.Key.Key_F6)
    qtbot.waitUntil(lambda: ctrl.state == "paused", timeout=WAIT_MS)
    assert [a.text().replace("&", "") for a in menu.actions()][1] == "Resume" and actions["Pause"].isEnabled()
    with qtbot.waitSignal(ctrl.sigIteration, timeout=2000, raising=False):
        pass  # the iteration in flight when F6 was pressed may still land
    qtbot.wait(300)
    at = ctrl.iteration
    with qtbot.waitSignal(ctrl.sigIteration, timeout=WAIT_MS) as stepped:
        qtbot.keyClick(window, Qt.Key.Key_F7)
    assert stepped.args == [at + 1] and ctrl.state == "paused"
    qtbot.keyClick(window, Qt.Key.Key_F5, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: ctrl.state == "finished", timeout=WAIT_MS)
    assert actions["Train"].isEnabled() and window.errors == []


def test_choosing_other_data_while_a_run_starts_says_so_and_leaves_the_run_alone(qtbot,
                                                                                 tmp_path):
    """A demo chosen just after ▶ Train was refused as if the run had failed: the samples
    area said "not started: A run is already active" over the run that was starting, and
    put the data preview back over it. The run is left alone now, and the one line says
    what is going on and what to press."""
    window = make_window(qtbot, tmp_path)
    ctrl = window.controller
    _click(window, "train")
    window.data_panel.set_source("moons")  # a click on the moons card, at once
    assert ctrl.state == "running" and ctrl.config.data.source == "8gaussians"
    assert window.data_panel.source == "8gaussians"  # the panel goes back to the run's data
    assert "starting" in window.samples.title.text()
    assert "not started" not in window.samples.title.text()
    assert window.snapshot is None  # not the data preview, put back over the run
    assert window.errors == ["A run is training: press Stop first, then choose other data "
                             "or settings."]
    qtbot.waitUntil(lambda: window.snapshot is not None, timeout=WAIT_MS)
    assert window.snapshot.origin != "preview"
    _click(window, "stop")
    qtbot.waitUntil(lambda: ctrl.state == "finished", timeout=WAIT_MS)


def test_the_title_says_what_the_first_iteration_does_once_the_run_has_started(qtbot, tmp_path):
    """The 3D demos' first picture waits a whole iteration (64 Langevin steps on
    shapes-points: 2 s on an idle core, 5 s on a busy one): from RunStarted on, the samples'
    title says so instead of "loading the data and building the model" (done by then)."""
    window = make_window(qtbot, tmp_path)
    titles: list[str] = []
    # connected after the window's own slot: reads the title the window has just set
    window.controller.sigRunStarted.connect(lambda _ev: titles.append(window.samples.title.text()))
    _click(window, "train")
    assert "loading the data" in window.samples.title.text()  # until the trainer is built
    qtbot.waitUntil(lambda: bool(titles), timeout=WAIT_MS)
    assert "loading the data" not in titles[0], titles[0]
    assert "iteration 1: 5 Langevin steps of 64 chains, then samples" in titles[0], titles[0]
    qtbot.waitUntil(lambda: window.snapshot_count >= 1, timeout=WAIT_MS)
    assert "then samples" not in window.samples.title.text()  # the samples' own title now
    _click(window, "stop")
    qtbot.waitUntil(lambda: window.controller.state in ("finished", "idle"), timeout=WAIT_MS)
