"""Views of samples by data kind (see :mod:`app.views.registry`), curves and chain tools."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtGui
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QPainter, QTextDocumentFragment
from PySide6.QtWidgets import QGraphicsScene, QLabel, QSizePolicy, QToolTip

# Images arrive as (rows, columns[, rgb]) numpy arrays.
pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)


def unindexed(view: pg.GraphicsView) -> pg.GraphicsView:
    """Turn off the BSP index of ``view``'s scene and return ``view``.

    With an index, Qt re-indexes an item each time its geometry changes by
    calling its ``boundingRect`` — a Python method for pyqtgraph items, so
    each call takes the GIL from the training worker. Our scenes hold a few
    dozen items; without an index Qt scans them, and redrawing the curves
    makes about a third fewer calls into Python.
    """
    view.scene().setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)
    return view


class SteadyLabel(QLabel):
    """A one-line label that takes the width the layout gives it and, where its text
    does not fit, ends it with "…" (the whole text as a tooltip); see :func:`steady_label`."""

    def _plain(self) -> str:
        text = self.text()
        rich = self.textFormat() == Qt.TextFormat.RichText or (
            self.textFormat() == Qt.TextFormat.AutoText and QtGui.Qt.mightBeRichText(text))
        return QTextDocumentFragment.fromHtml(text).toPlainText() if rich else text

    def elided(self) -> str:
        """The text as painted: ``""`` when it fits whole, else its plain text cut with "…"."""
        if self.wordWrap() or not self.text():
            return ""
        plain = self._plain()
        room = self.contentsRect().width() - 2 * self.margin()
        metrics = self.fontMetrics()
        if metrics.horizontalAdvance(plain) <= room:
            return ""
        return metrics.elidedText(plain, Qt.TextElideMode.ElideRight, max(room, 0))

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        cut = self.elided()
        if not cut:
            super().paintEvent(event)
            return
        # The cut text is plain: bold or colour spans are dropped until it fits again.
        painter = QPainter(self)
        self.style().drawItemText(painter, self.contentsRect().adjusted(
            self.margin(), self.margin(), -self.margin(), -self.margin()),
            int(self.alignment()), self.palette(), self.isEnabled(), cut, self.foregroundRole())

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ToolTip and not self.toolTip() and self.elided():
            QToolTip.showText(event.globalPos(), self._plain(), self)
            return True
        return super().event(event)


def steady_label(text: str = "", min_width: int = 0) -> SteadyLabel:
    """A label whose changing text never changes the layout's widths.

    A label's size hint follows its text: "iteration 9" → "iteration 10"
    would widen the samples area, move the splitter and resize every view
    next to it — a full re-render of a VTK grid (a quarter of a second in
    software OpenGL) and of the curves, for a caption. This one takes the
    width the layout gives it (at least ``min_width``) and ends what does
    not fit with "…".
    """
    label = SteadyLabel(text)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    label.setMinimumWidth(min_width)
    return label
