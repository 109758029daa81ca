"""Every menu item is reachable from the keyboard: Alt+letter opens a menu of the menu
bar, then one key per item, unique within its menu."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication, QMenu

from app.testing import make_window
from ebm_engine.data.dataset import KINDS
from ebm_engine.learning.events import SamplesReady

pytestmark = pytest.mark.app


def marked(text: str) -> list[str]:
    """The characters ``text`` marks as mnemonics: each single ``&`` (``&&`` is a literal one)."""
    marks, i = [], 0
    while i < len(text):
        if text[i] == "&":
            if text[i + 1:i + 2] != "&":
                marks.append(text[i + 1:i + 2])
            i += 2
        else:
            i += 1
    return marks


def problems(menu: QMenu, where: str, enabled_only: bool = False) -> list[str]:
    """What keeps ``menu`` and its submenus from being walked by their mnemonics.

    Every item needs exactly one mnemonic; the keys of the items shown together must
    differ (``enabled_only``: of the enabled ones, as Qt skips disabled items).
    """
    found, keys = [], {}
    for action in menu.actions():
        if action.isSeparator():
            continue
        text = action.text()
        if len(marked(text)) != 1:
            found.append(f"{where} → {text!r}: {len(marked(text))} mnemonics, not one")
        elif action.isVisible() and (action.isEnabled() or not enabled_only):
            key = QKeySequence.mnemonic(text).toString()  # as Qt reads it
            keys.setdefault(key, []).append(text)
        if action.menu() is not None:
            found += problems(action.menu(), f"{where} → {text}")
    found += [f"{where}: {key} is {texts}" for key, texts in keys.items() if len(texts) > 1]
    return found


def menu_bar_problems(window) -> list[str]:
    bar = window.menuBar()
    found, keys = [], {}
    for action in bar.actions():
        marks = marked(action.text())
        if len(marks) != 1:
            found.append(f"menu bar → {action.text()!r}: {len(marks)} mnemonics, not one")
        keys.setdefault(QKeySequence.mnemonic(action.text()).toString(), []).append(action.text())
        found += problems(action.menu(), action.text())
    found += [f"menu bar: {key} is {texts}" for key, texts in keys.items() if len(texts) > 1]
    return found


def _run_folder(path):
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")  # what Recent runs asks of a run folder
    return path


def _samples(kind: str) -> SamplesReady:
    return SamplesReady(1, kind, None, np.zeros((1, 2)), np.zeros(1))


def test_every_menu_item_has_one_mnemonic_unique_in_its_menu(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path, knobs=())
    # Recent runs lists file names: numbered, an "&" of a name shown as itself
    for name in ("moons-ml", "moons-ml-1", "R&D"):
        window.recent_menu.add(_run_folder(tmp_path / "runs" / name))
    titles = [a.text() for a in window.recent_menu.actions()]
    assert titles == ["&1 R&&D", "&2 moons-ml-1", "&3 moons-ml"]
    assert marked(titles[0]) == ["1"]
    export = window.export_menu
    export.set_snapshot(_samples("points"))  # below: every kind, and nothing shown
    assert menu_bar_problems(window) == []

    # the Run menu's other words: Resume while paused, Continue on a loaded model
    window.transport.set_state("paused")
    window.transport.set_continues("tiny")
    run_menu = window.findChild(QMenu, "run_menu")
    assert {"Resume", "Continue"} <= {a.text().replace("&", "") for a in run_menu.actions()}
    assert problems(run_menu, "Run") == []
    window.transport.set_continues(None)
    window.transport.set_state("idle")

    # the Export menu shows one data kind's entries at a time ...
    for kind in KINDS:
        export.set_snapshot(_samples(kind))
        assert problems(export, f"Export ({kind})") == []
    # ... and every entry, disabled, while nothing is shown: those never answer a key
    export.set_snapshot(None)
    assert problems(export, "Export (nothing shown)", enabled_only=True) == []

    # the dock keeps its View entry's mnemonic as it floats and docks again
    window.dock.setFloating(True)
    window.dock.setFloating(False)
    assert window.dock.toggleViewAction().text() == "&Data and settings"
    window.close()


def test_alt_h_opens_the_help_menu_and_a_letter_picks_an_item(qtbot, tmp_path):
    """Keys only: Alt+H, then G for Getting started."""
    window = make_window(qtbot, tmp_path, knobs=())
    with qtbot.waitActive(window):  # shortcuts go to the active window
        window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_H, Qt.KeyboardModifier.AltModifier)
    qtbot.waitUntil(window.help_menu.isVisible)
    assert QApplication.activePopupWidget() is window.help_menu
    qtbot.keyClick(window.help_menu, Qt.Key.Key_G)
    qtbot.waitUntil(lambda: not window.help_menu.isVisible())
    assert window._about is not None and window._about.isVisible()
    assert window._about.shown == ("guide", "")
    window.close()
