"""Apply ``resources/style.qss`` (a calm dark theme) if it is there."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication

from ebm_engine.resources import resources_dir


def apply_style(app: QApplication) -> None:
    path = resources_dir() / "style.qss"
    if path.is_file():
        app.setStyle("Fusion")
        app.setStyleSheet(path.read_text(encoding="utf-8"))
