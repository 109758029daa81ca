"""Views of samples by data kind (see :mod:`app.views.registry`), curves and chain tools."""

from __future__ import annotations

import pyqtgraph as pg

# Images arrive as (rows, columns[, rgb]) numpy arrays.
pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)
