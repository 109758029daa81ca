"""EBM Studio desktop app (PySide6 + pyqtgraph) on top of :mod:`ebm_engine`."""

from __future__ import annotations

ORGANISATION = "EBM Studio"
APPLICATION = "EBM Studio"
