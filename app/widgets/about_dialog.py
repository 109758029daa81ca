"""The Help window: the newcomer's guide and an About card per method and demo.

The texts are ``resources/about/*.md`` (:mod:`ebm_engine.about`); this window
only lists and shows them (Qt renders the Markdown).
"""

from __future__ import annotations

import re

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor, QTextFormat
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.style import fit_screen
from ebm_engine import about

GUIDE = ("guide", "")


# Where the app shows what a card's Watch section names (the cards serve `ebm about` too).
WATCH_NOTE = ("*A training metric named here without a plot of its own (`gen_loss`, "
              "`cross_entropy` …): pick it in Curves → also plot; what `ebm eval` reports "
              "is in Run summary.*")


def unbroken_code(view: QTextBrowser) -> None:
    """Keep each line of a card's code blocks (its Objective's equations) whole: Qt wrapped
    them at the window's width, mid-expression ("ε ~ N(0," then "s² I)"); a long one
    scrolls sideways instead."""
    block = view.document().begin()
    while block.isValid():
        fmt = block.blockFormat()
        if fmt.hasProperty(QTextFormat.Property.BlockCodeLanguage) or fmt.hasProperty(
                QTextFormat.Property.BlockCodeFence):
            fmt.setNonBreakableLines(True)
            QTextCursor(block).setBlockFormat(fmt)
        block = block.next()


def in_app(text: str) -> str:
    """A card's Markdown with the app's note on where its Watch metrics are plotted."""
    return re.sub(r"^## Watch[ \t]*\n", lambda m: m.group(0) + WATCH_NOTE + "\n\n", text,
                  count=1, flags=re.MULTILINE)


class AboutDialog(QDialog):
    """A list (guide, methods, demos) and the chosen card; non-modal, one per window."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("about_dialog")
        self.setWindowTitle("EBM Studio help")
        # at most the screen: at 1280×720 the Learn window's Close button was off-screen
        self.resize(fit_screen(self, 820, 560))
        self.list = QListWidget()
        self.list.setObjectName("about_list")
        self.list.setMaximumWidth(230)
        self.text = QTextBrowser()
        self.text.setObjectName("about_text")
        self.text.setOpenExternalLinks(False)
        self._add("Getting started", GUIDE, bold=True)
        from ebm_engine.data import demos
        from ebm_engine.methods import available_methods

        self._header("Learning methods")
        for name in available_methods():
            self._add(name, ("method", name))
        self._header("Demos")
        for name in demos():
            self._add(name, ("demo", name))
        self.list.currentItemChanged.connect(self._chosen)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        row = QHBoxLayout()
        row.addWidget(self.list)
        row.addWidget(self.text, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(row, 1)
        layout.addWidget(buttons)
        self.shown: tuple[str, str] | None = None

    def _header(self, text: str) -> None:
        item = QListWidgetItem(text)
        item.setFlags(Qt.ItemFlag.NoItemFlags)
        font = item.font()
        font.setBold(True)
        item.setFont(font)
        self.list.addItem(item)

    def _add(self, text: str, key: tuple[str, str], bold: bool = False) -> None:
        item = QListWidgetItem(text if bold else f"  {text}")
        item.setData(Qt.ItemDataRole.UserRole, key)
        if bold:
            font = item.font()
            font.setBold(True)
            item.setFont(font)
        self.list.addItem(item)

    def _chosen(self, item: QListWidgetItem | None) -> None:
        key = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if key:
            self._show(tuple(key))

    def _show(self, key: tuple[str, str]) -> None:
        kind, name = key
        card = (about.guide() if kind == "guide" else
                about.method_about(name) if kind == "method" else about.demo_about(name))
        if card is None:
            self.text.setMarkdown(f"# {name}\n\nNo About card yet: it would be "
                                  f"`resources/about/{kind}-{name}.md`.")
        else:
            self.text.setMarkdown(in_app(card.text))
            unbroken_code(self.text)
        self.shown = key

    def show_card(self, kind: str, name: str = "") -> None:
        """Show the ``guide``, or the card of ``method``/``demo`` ``name``, and raise the window."""
        key = (kind, name) if kind != "guide" else GUIDE
        for i in range(self.list.count()):
            data = self.list.item(i).data(Qt.ItemDataRole.UserRole)
            if data and tuple(data) == key:
                self.list.setCurrentRow(i)  # shows it through currentItemChanged
                break
        else:
            self._show(key)
        self.show()
        self.raise_()
        self.activateWindow()
