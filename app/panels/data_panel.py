"""The data panel: built-in demo catalogue (thumbnail, kind, expected time) and "Open…"."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ebm_engine.data import demos, readers
from ebm_engine.resources import resources_dir


def thumbnail_path(name: str) -> Path:
    return resources_dir() / "icons" / f"demo-{name}.png"


class DataPanel(QWidget):
    """Choose a demo with one click, or open a folder/file the engine can read.

    ``sigSourceChosen(source)`` carries a demo name or a path.
    """

    sigSourceChosen = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.catalogue = demos()
        self.list = QListWidget()
        self.list.setObjectName("demo_list")
        self.list.setIconSize(QSize(48, 48))
        self.list.setSpacing(1)
        for name, info in self.catalogue.items():
            item = QListWidgetItem(f"{name}\n{info.kind} · ~{info.expected_minutes:g} min")
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setToolTip(f"{info.description}\nPreset: {info.preset}; about "
                            f"{info.expected_minutes:g} min for good results on a 2-core CPU")
            icon = thumbnail_path(name)
            if icon.is_file():
                item.setIcon(QIcon(QPixmap(str(icon))))
            self.list.addItem(item)
        self.list.itemClicked.connect(self._clicked)
        self.open_button = QPushButton("Open folder/file…")
        self.open_button.setToolTip("Train on your own images, clips, voxels or point clouds")
        menu = QMenu(self.open_button)
        menu.addAction("Folder of images…", self._open_folder)
        menu.addAction("Data file…", self._open_file)
        self.open_button.setMenu(menu)
        self.current = QLabel()
        self.current.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.open_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(QLabel("<b>Built-in demos</b> (one click, then ▶ Train)"))
        layout.addWidget(self.list, 1)
        layout.addLayout(row)
        layout.addWidget(self.current)
        self.source = ""

    def set_source(self, source: str, emit: bool = True) -> None:
        """Select ``source`` (demo name or path) and announce it."""
        self.source = source
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == source:
                self.list.setCurrentItem(item)
                break
        else:
            self.list.clearSelection()
        info = self.catalogue.get(source)
        self.current.setText(f"Data: <b>{source}</b>" + (f" — {info.description}" if info else ""))
        if emit:
            self.sigSourceChosen.emit(source)

    def _clicked(self, item: QListWidgetItem) -> None:
        self.set_source(item.data(Qt.ItemDataRole.UserRole))

    def _open_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a folder of images")
        if path:
            self.set_source(path)

    def _open_file(self) -> None:
        exts = sorted({e for r in readers() for e in r.extensions if e})
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a data file", "", f"Data files ({' '.join('*' + e for e in exts)})")
        if path:
            self.set_source(path)
