"""Apply ``resources/style.qss`` (a calm dark theme) if it is there."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication

from ebm_engine.resources import resources_dir


def apply_style(app: QApplication) -> None:
    path = resources_dir() / "style.qss"
    if path.is_file():
        app.setStyle("Fusion")
        app.setStyleSheet(path.read_text(encoding="utf-8"))


def fit_screen(widget, width: int, height: int, share: tuple[float, float] = (0.95, 0.9)):
    """``QSize(width, height)`` shrunk to ``share`` of the screen ``widget`` opens on
    (by default 95 % × 90 %: room for a title bar and a taskbar)."""
    from PySide6.QtCore import QSize
    from PySide6.QtGui import QGuiApplication

    screen = widget.screen() or QGuiApplication.primaryScreen()
    if screen is None:
        return QSize(width, height)
    room = screen.availableGeometry()
    return QSize(min(width, int(room.width() * share[0])),
                 min(height, int(room.height() * share[1])))
