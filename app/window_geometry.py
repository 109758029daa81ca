"""Where the main window opens: the size and place it last had, fitted to the screen
it opens on now.

Qt's ``restoreGeometry`` alone brought a window saved at 1380×860 on a large screen
back at 821×512 on a 1024×768 one (a quarter of the screen unused), so the size the
user chose is saved on its own and fitted to the screen after the restore.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QRect, QSettings, QSize, Qt
from PySide6.QtWidgets import QMainWindow

from app.style import fit_screen

DESIGN_SIZE = QSize(1380, 860)  # the first launch's size, where the screen has room


def save(window: QMainWindow, store: QSettings) -> None:
    """Keep ``window``'s geometry (with maximised or full-screen state) and its size
    in its normal state."""
    store.setValue("geometry", window.saveGeometry())
    store.setValue("window_size", window.normalGeometry().size())


def restore(window: QMainWindow, store: QSettings) -> None:
    """Give ``window`` its saved geometry (the design size on a first launch), shrunk
    to the screen it opens on and moved onto it where it would stick out."""
    geometry = store.value("geometry")
    restored = isinstance(geometry, QByteArray) and window.restoreGeometry(geometry)
    if window.windowState() & (Qt.WindowState.WindowMaximized | Qt.WindowState.WindowFullScreen):
        return  # the window manager sizes it to the screen
    size = store.value("window_size")
    if isinstance(size, QSize) and not size.isEmpty():  # (0, 0) is "valid"
        wanted = size
    else:  # a first launch, or settings saved before the size was kept
        wanted = window.size() if restored else DESIGN_SIZE
    fitted = fit_screen(window, wanted.width(), wanted.height(), share=(1.0, 1.0))
    if window.size() != fitted:
        window.resize(fitted)
    screen = window.screen()
    if screen is None:
        return
    room = screen.availableGeometry()
    if not room.contains(QRect(window.pos(), window.size())):
        window.move(room.topLeft())
