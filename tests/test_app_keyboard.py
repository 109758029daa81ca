"""Keyboard-only use: Tab walks the window in reading order (left panel top to bottom,
then the toolbar, the samples, the curves) with no invisible stops."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QPushButton, QScrollArea

from app.testing import make_window, shutdown

pytestmark = pytest.mark.app


def _tab_from(qtbot, widget, presses: int = 1):
    widget.setFocus(Qt.FocusReason.TabFocusReason)
    for _ in range(presses):
        qtbot.keyClick(QApplication.focusWidget() or widget, Qt.Key.Key_Tab)
    return QApplication.focusWidget()


def test_tab_goes_from_the_method_to_its_own_knobs_under_it(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path)
    window.activateWindow()
    assert QTest.qWaitForWindowActive(window)  # focus follows Tab only in the active window
    try:
        panel = window.settings_panel
        options = [k for k in panel.editors if k.startswith("train.options.")]
        assert options, "the default method has knobs of its own"
        first, last = panel.editors[options[0]].widget, panel.editors[options[-1]].widget
        assert _tab_from(qtbot, panel.method) is first
        # after the method's knobs, the next section (the model's name), not the transport
        assert _tab_from(qtbot, last) is panel.editors["model.name"].widget
        # and again after another method is chosen (its knobs are made anew)
        panel.method.setCurrentText("coopnets")
        options = [k for k in panel.editors if k.startswith("train.options.")]
        first = panel.editors[options[0]].widget
        qtbot.waitUntil(first.isVisible)  # a layout shows new fields from the event loop
        assert _tab_from(qtbot, panel.method) is first
    finally:
        shutdown(window)


def test_tab_reaches_the_samples_view_after_the_toolbar_and_before_the_curves(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path)
    window.activateWindow()
    assert QTest.qWaitForWindowActive(window)  # focus follows Tab only in the active window
    try:
        seen, widget = [], _tab_from(qtbot, window.findChild(QPushButton, "btn_sample"))
        for _ in range(40):
            seen.append(widget)
            widget = _tab_from(qtbot, widget)
        in_view = [i for i, w in enumerate(seen) if window.samples.view.isAncestorOf(w)]
        scrubber = [i for i, w in enumerate(seen) if window.samples.scrubber.isAncestorOf(w)]
        curves = [i for i, w in enumerate(seen) if window.tabs.isAncestorOf(w)]
        assert in_view and scrubber and curves
        assert in_view[0] == 0, "right after the toolbar: the view's check boxes"
        assert max(in_view) < min(scrubber) < min(curves)
        # the settings' scroll area is no Tab stop of its own (nothing shows it has focus)
        assert not any(isinstance(w, QScrollArea) for w in seen)
    finally:
        shutdown(window)
