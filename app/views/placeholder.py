"""Fallback view for data kinds without a dedicated view yet (video, voxel, point cloud)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget


class PlaceholderView(QWidget):
    """Says what arrived (kind, count, shape, energies) instead of drawing it."""

    sigSampleClicked = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.update_count = 0
        self.label = QLabel("No samples yet.", self)
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)

    def set_snapshot(self, snapshot) -> None:
        shape = "×".join(str(s) for s in snapshot.samples.shape[1:])
        e = np.asarray(snapshot.energy, dtype=np.float64)
        energy = f"mean energy {np.nanmean(e):.3g}" if e.size else ""
        self.label.setText(
            f"{snapshot.kind}: {len(snapshot.samples)} samples of shape {shape} at iteration "
            f"{snapshot.iteration}\n{energy}\n(no dedicated {snapshot.kind} view installed yet; "
            f"export them from the Export menu)")
        self.update_count += 1

    def show_frame(self, index: int) -> None:
        """Nothing to scrub in a text view."""
