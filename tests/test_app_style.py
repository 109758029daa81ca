"""The dark theme draws disabled controls dimmer than enabled ones (its catch-all
text colour used to win, so a disabled field or menu entry looked usable)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRect
from PySide6.QtWidgets import QApplication, QLineEdit, QMenu

from app.style import apply_style

pytestmark = pytest.mark.app


def brightest(widget, rect: QRect | None = None) -> int:
    """The lightest grey level of ``widget``'s pixels in ``rect`` (its text, on the dark theme)."""
    image = widget.grab().toImage()
    rect = rect or image.rect()
    return max(image.pixelColor(x, y).lightness()
               for y in range(rect.top() + 1, rect.bottom()) for x in range(rect.left() + 1, rect.right()))


@pytest.fixture
def themed(qapp):
    style = QApplication.style().name()
    apply_style(qapp)
    yield qapp
    qapp.setStyleSheet("")
    QApplication.setStyle(style)


def test_a_disabled_field_and_menu_entry_look_disabled(themed, qtbot):
    field = QLineEdit("0.125")
    qtbot.addWidget(field)
    field.resize(120, 28)
    enabled = brightest(field)
    field.setEnabled(False)
    assert brightest(field) < enabled - 60, "a disabled field's text must be dimmer"

    menu = QMenu()
    qtbot.addWidget(menu)
    usable, greyed = menu.addAction("Image grid…"), menu.addAction("Meshes (STL)…")
    greyed.setEnabled(False)
    menu.adjustSize()
    on, off = (brightest(menu, menu.actionGeometry(a)) for a in (usable, greyed))
    assert off < on - 60, (on, off)


def test_keyboard_focus_shows_on_a_field_a_button_and_a_check_box(themed, qtbot):
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QCheckBox, QComboBox, QPushButton, QVBoxLayout, QWidget

    box = QWidget()
    qtbot.addWidget(box)
    parts = [QComboBox(), QPushButton("Load pretrained"), QCheckBox("clamp")]
    parts[0].addItems(["ml", "coopnets"])
    layout = QVBoxLayout(box)
    for part in parts:
        layout.addWidget(part)
    box.show()
    box.activateWindow()
    assert QTest.qWaitForWindowActive(box)
    for part in parts:
        box.setFocus()
        before = part.grab().toImage()
        part.setFocus()
        assert part.hasFocus()
        assert part.grab().toImage() != before, f"{type(part).__name__} looks the same with focus"
