"""The samples area: the view for the data kind, method extras, the chain scrubber and film strip.

:meth:`SamplesArea.show_snapshot` takes a :class:`SamplesReady` (live,
sampled, followed or a data preview) and swaps in the view registered for
its kind; :meth:`SamplesArea.clear` puts back an empty view.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QSplitter, QVBoxLayout, QWidget

from app.views.chain_scrubber import ChainScrubber
from app.views.extras import ExtrasPanel
from app.views.film_strip import FilmStrip
from app.views.registry import view_class
from ebm_engine.learning.events import SamplesReady

ORIGINS = {"train": "training chains", "sample": "samples (no training)",
           "follow": "followed run", "preview": "training data"}
HINT = "<b>Samples</b> — pick a demo and press ▶ Train"


class SamplesArea(QWidget):
    """Sample view, extras, scrubber and film strip; ``sigKindChanged(kind)`` when the view changes."""

    sigKindChanged = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.kind = "points"
        self.view = view_class(self.kind)()
        self.view.sigSampleClicked.connect(self._sample_clicked)
        self.extras = ExtrasPanel()
        self.scrubber = ChainScrubber()
        self.film = FilmStrip()
        self.snapshot: SamplesReady | None = None
        self.count = 0  # snapshots shown
        self.title = QLabel(HINT)
        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.addWidget(self.view)
        self.split.addWidget(self.extras)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.split, 5)
        layout.addWidget(self.scrubber)
        layout.addWidget(self.film, 2)
        self.scrubber.sigFrameChanged.connect(lambda i: self.view.show_frame(i))

    def show_snapshot(self, snap: SamplesReady) -> None:
        if snap.kind != self.kind:
            self._swap_view(snap.kind)
        self.snapshot = snap
        self.count += 1
        self.view.set_snapshot(snap)
        self.scrubber.set_frames(snap.frames)
        self.extras.set_extras(snap.extras, snap.kind, snap.value_range)
        if snap.frames:  # keep the picked chain; start with the first one
            self.film.show_chain(snap, self.film.index or 0)
        what = ORIGINS.get(snap.origin, snap.origin)
        where = (" — press ▶ Train" if snap.origin == "preview"
                 else f" at iteration {snap.iteration}")
        self.title.setText(f"<b>{what}</b>{where}")

    def clear(self, title: str = HINT) -> None:
        """An empty view of the same kind; no extras, frames or chain."""
        self._swap_view(self.kind)
        self.snapshot = None
        self.scrubber.set_frames([])
        self.extras.set_extras({}, "", None)
        self.film.clear()
        self.title.setText(title)

    def _swap_view(self, kind: str) -> None:
        old = self.view
        self.view = view_class(kind)()
        self.view.sigSampleClicked.connect(self._sample_clicked)
        self.split.replaceWidget(0, self.view)
        old.close()  # VTK views release their render windows on close
        old.deleteLater()
        if kind != self.kind:
            self.kind = kind
            self.sigKindChanged.emit(kind)

    def _sample_clicked(self, index: int) -> None:
        self.film.show_chain(self.snapshot, index)
