"""Opening runs: the Sample-or-Resume question (with Cancel) and the Recent runs menu."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import QMenu, QMessageBox, QWidget

from app import settings as app_settings

# Menu texts, with their Alt+letter mnemonics.
MODES = (("&Sample only", "sample"), ("&Resume training", "resume"), ("&Follow", "follow"))


def ask_open_mode(parent: QWidget) -> str | None:
    """Ask whether to sample from a run or resume it: ``sample``, ``resume`` or ``None`` (Cancel)."""
    box = QMessageBox(QMessageBox.Icon.Question, "Open run",
                      "Draw samples from this model, or continue training it?", parent=parent)
    box.setObjectName("open_run_question")
    sample = box.addButton("Sample only", QMessageBox.ButtonRole.AcceptRole)
    resume = box.addButton("Resume training", QMessageBox.ButtonRole.ActionRole)
    box.setEscapeButton(box.addButton(QMessageBox.StandardButton.Cancel))
    box.exec()
    clicked = box.clickedButton()
    return "sample" if clicked is sample else "resume" if clicked is resume else None


def menu_title(number: int, name: str) -> str:
    """``name`` as the ``number``-th entry of a menu of file names: ``&1 name``.

    The number is the Alt+key (``MAX_RECENT`` keeps it one digit); an ``&`` of the
    name is doubled, so it shows as ``&`` and is no mnemonic of its own.
    """
    return f"&{number} {name.replace('&', '&&')}"


class RecentRunsMenu(QMenu):
    """Recently opened or started runs, each with Sample only / Resume training / Follow.

    ``sigOpen(path, mode)`` says which was picked.
    """

    sigOpen = Signal(str, str)

    def __init__(self, store: QSettings, parent: QWidget | None = None):
        super().__init__("&Recent runs", parent)
        self.store = store
        self.refresh()

    def add(self, path: str | Path) -> None:
        """Put ``path`` first (if it is a run folder)."""
        if (Path(path) / "config.json").is_file():
            app_settings.add_recent_run(path, self.store)
            self.refresh()

    def refresh(self) -> None:
        self.clear()
        runs = app_settings.recent_runs(self.store)
        for number, run in enumerate(runs, 1):
            menu = self.addMenu(menu_title(number, Path(run).name))
            for label, mode in MODES:
                menu.addAction(label, lambda r=run, m=mode: self.sigOpen.emit(r, m))
        self.setEnabled(bool(runs))
