"""Keyboard-only use: Tab walks the settings in reading order (a method's knobs under
it) with no invisible stops."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QScrollArea

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


def test_the_settings_scroll_area_is_no_tab_stop(qtbot, tmp_path):
    """Tab went from Open folder/file… to an invisible stop (the scroll area holding the
    settings) before the method."""
    window = make_window(qtbot, tmp_path)
    window.activateWindow()
    assert QTest.qWaitForWindowActive(window)  # focus follows Tab only in the active window
    try:
        method = window.settings_panel.method
        seen, widget = [], _tab_from(qtbot, method, 0)
        for _ in range(500):  # once round the window's Tab chain
            seen.append(widget)
            widget = _tab_from(qtbot, widget)
            if widget is method:
                break
        assert widget is method and len(seen) > 20
        assert not any(isinstance(w, QScrollArea) for w in seen)
    finally:
        shutdown(window)
