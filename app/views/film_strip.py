"""One chain of the latest sampling: its states along the recorded steps and its energy trace."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ebm_engine.data.dataset import to_display
from ebm_engine.export.images import make_grid


class FilmStrip(QWidget):
    """Shows chain ``index`` of a snapshot's recorded frames."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.title = QLabel("Click a sample to see its chain.")
        self.strip = pg.GraphicsLayoutWidget()
        self.strip.setBackground("#202124")
        self.view = self.strip.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.image = pg.ImageItem()
        self.view.addItem(self.image)
        self.trace = pg.PlotWidget(background="#202124")
        self.trace.setLabel("bottom", "Langevin step")
        self.trace.setLabel("left", "E(x)")
        self.trace.setToolTip("Energy of this chain along its Langevin steps (lower = more probable)")
        self.curve = self.trace.plot(pen=pg.mkPen("#e15759", width=2), symbol="o", symbolSize=4)
        self.path = pg.PlotDataItem(pen=pg.mkPen("#ffcc00", width=2), symbol="o", symbolSize=4)
        row = QHBoxLayout()
        row.addWidget(self.strip, 3)
        row.addWidget(self.trace, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addLayout(row, 1)
        self.index: int | None = None

    def clear(self) -> None:
        """No chain shown (a new run)."""
        self.index = None
        self.curve.setData([], [])
        self.image.clear()
        self.title.setText("Click a sample to see its chain.")

    def show_chain(self, snapshot, index: int) -> bool:
        """Draw chain ``index``; False (and a hint) if it was not recorded."""
        frames = snapshot.frames if snapshot is not None else ()
        recorded = min((f.x.shape[0] for f in frames), default=0)
        if index >= recorded:
            self.title.setText(f"Sample {index}: its chain was not recorded (only the first "
                               f"{recorded} chains are; raise train.record_every to record).")
            self.index = None
            return False
        self.index = index
        steps = np.array([f.step for f in frames])
        energy = np.array([f.energy[index] for f in frames], dtype=np.float64)
        self.curve.setData(steps, energy)
        states = np.stack([f.x[index] for f in frames])
        self.strip.setVisible(snapshot.kind in ("image", "video"))
        if snapshot.kind in ("image", "video") and states.ndim >= 4:
            if states.ndim == 5:  # video (steps, C, T, H, W): first frame of the clip
                states = states[:, :, 0]
            disp = to_display(states, "image", snapshot.value_range)
            nrow = len(disp) if len(disp) <= 6 else -(-len(disp) // 2)  # two rows when long
            self.image.setImage(make_grid(disp, nrow=nrow, pad=2, pad_value=40),
                                autoLevels=False, levels=(0, 255))
            self.view.autoRange(padding=0.01)
        else:
            self.image.clear()
        self.title.setText(f"Chain of sample {index}: {len(frames)} recorded steps, "
                           f"energy {energy[0]:.3g} → {energy[-1]:.3g}")
        return True
