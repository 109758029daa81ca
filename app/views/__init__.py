"""Views of samples by data kind (see :mod:`app.views.registry`), curves and chain tools."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QGraphicsScene

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
