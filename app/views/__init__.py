"""Views of samples by data kind (see :mod:`app.views.registry`), curves and chain tools."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QGraphicsScene, QLabel, QSizePolicy

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


def steady_label(text: str = "", min_width: int = 0) -> QLabel:
    """A label whose changing text never changes the layout's widths.

    A label's size hint follows its text: "iteration 9" → "iteration 10"
    would widen the samples area, move the splitter and resize every view
    next to it — a full re-render of a VTK grid (a quarter of a second in
    software OpenGL) and of the curves, for a caption. This one takes the
    width the layout gives it (at least ``min_width``) and clips what does
    not fit.
    """
    label = QLabel(text)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    label.setMinimumWidth(min_width)
    return label
