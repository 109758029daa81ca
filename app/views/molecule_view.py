"""Molecule samples: RDKit 2D depictions in a grid, and property histograms (data vs samples).

Snapshots carry SMILES token ids and the vocabulary (see
:mod:`app.views.text_view`); the ``latent_seq`` method adds the training
batch it learned from as ``extras["data"]``. The view decodes both, draws
up to :data:`SHOWN` samples with RDKit (invalid ones as a labelled empty
cell) and histograms logP, QED and molecular weight of the valid samples
against those of the data seen so far (the data pool grows with each
snapshot up to :data:`DATA_POOL`). A sampled model's snapshot and the data
preview carry the whole data's properties instead (``data_logp``,
``data_qed``, ``data_mw``); a model sampled without its data shows its
samples alone, and the key names only what is drawn. A preview's items are
the data: counted as training molecules and histogrammed as data.
Without RDKit it says what to install.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.views.curves import key_html, shrinkable_title
from app.views.registry import register_view
from app.views.text_view import SYMBOL_KEYS, symbols_from_extras
from ebm_engine.data.molecules import DATA_PROPERTY_PREFIX

SHOWN = 12
COLUMNS = 4
CELL = 150
DATA_POOL = 2000
HIST_LABELS = {"logp": "logP", "qed": "QED", "mw": "mol. weight"}
HIST_KEY = (("data", (150, 150, 150, 120)), ("samples", (40, 90, 200, 150)))
# The whole data's properties, where a snapshot carries them (sampling, the preview)
DATA_KEYS = tuple(DATA_PROPERTY_PREFIX + k for k in HIST_LABELS)


def depiction(smiles: str, size: int = CELL) -> QImage | None:
    """RDKit's 2D drawing of ``smiles`` as a QImage (``None`` if invalid)."""
    from rdkit.Chem import Draw

    from ebm_engine.metrics.symbols import parse_smiles

    mol = parse_smiles(smiles)
    if mol is None:
        return None
    image = Draw.MolToImage(mol, size=(size, size)).convert("RGBA")
    data = image.tobytes("raw", "RGBA")
    return QImage(data, size, size, QImage.Format.Format_RGBA8888).copy()


class _Cell(QLabel):
    """A grid cell that says which sample was clicked.

    A subclass with a signal rather than a lambda patched onto
    ``mousePressEvent``: the lambda held the view, a reference cycle through
    every cell that kept the whole view (its plots, their menus) alive after
    ``deleteLater`` until a garbage collection, which may run on the
    training thread and free Qt objects there.
    """

    sigClicked = Signal(int)

    def __init__(self, index: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.index = index

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self.sigClicked.emit(self.index)
        super().mousePressEvent(event)


@register_view("molecule")
class MoleculeView(QWidget):
    """A grid of depicted samples over three histograms (logP, QED, MW: data grey, samples blue)."""

    sigSampleClicked = Signal(int)
    own_extras = (*SYMBOL_KEYS, "data", *DATA_KEYS)  # the data's property histograms are drawn here

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        from ebm_engine.metrics.symbols import RDKIT_HINT, rdkit_available

        self.update_count = 0
        self.snapshot = None
        self.symbols = None
        self.smiles: list[str] = []
        self.valid: list[bool] = []
        self.data_props: dict[str, list[float]] = {k: [] for k in HIST_LABELS}
        self.sample_props: dict[str, np.ndarray] = {k: np.zeros(0) for k in HIST_LABELS}
        self.has_rdkit = rdkit_available()
        self.summary = QLabel("No samples yet." if self.has_rdkit else RDKIT_HINT, self)
        self.summary.setWordWrap(True)
        grid_host = QWidget()
        self.grid = QGridLayout(grid_host)
        self.cells: list[QLabel] = []
        for i in range(SHOWN):
            cell = _Cell(i, grid_host)
            cell.setFixedSize(CELL, CELL + 14)
            cell.setAlignment(Qt.AlignmentFlag.AlignCenter)
            cell.sigClicked.connect(self.sigSampleClicked)  # signal to signal: no Python closure
            self.cells.append(cell)
        self.columns = 0
        self._reflow(COLUMNS)
        hist_row = QHBoxLayout()
        self.plots: dict[str, pg.PlotWidget] = {}
        for key in HIST_LABELS:
            plot = pg.PlotWidget(self)
            shrinkable_title(plot.getPlotItem())
            plot.setMinimumHeight(120)
            self.plots[key] = plot
            hist_row.addWidget(plot)
        self.shown_series: tuple[str, ...] = ()
        self._titles(())
        # The cells keep their size and scroll: three rows of them over the histograms
        # made the window taller than a 900 px screen.
        # As many columns as fit across: never a cell cut at the right edge.
        self.scroll = QScrollArea(self)
        self.scroll.setWidget(grid_host)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setMinimumHeight(CELL + 30)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.scroll, 1)
        layout.addLayout(hist_row)

    def _reflow(self, columns: int) -> None:
        """Lay the cells out in ``columns`` columns (only when that number changes)."""
        if columns == self.columns:
            return
        self.columns = columns
        for cell in self.cells:
            self.grid.removeWidget(cell)
        for i, cell in enumerate(self.cells):
            self.grid.addWidget(cell, i // columns, i % columns)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        # From the view's new width (the scroll area is laid out after this event):
        # less both layouts' margins and the vertical scroll bar.
        outer, inner = self.layout().contentsMargins(), self.grid.contentsMargins()
        spacing = max(self.grid.horizontalSpacing(), 0)
        free = (event.size().width() - outer.left() - outer.right() - inner.left()
                - inner.right() - self.scroll.verticalScrollBar().sizeHint().width() + spacing)
        self._reflow(max(1, min(SHOWN, free // (CELL + spacing))))

    def _titles(self, series: tuple[str, ...]) -> None:
        """Each plot's name; the first's has the key of the ``series`` drawn (a legend
        box sat on the bars, and a key naming a series not drawn said it was missing)."""
        self.shown_series = series
        for key, plot in self.plots.items():
            shown = [item for item in HIST_KEY if item[0] in series]
            plot.setTitle(HIST_LABELS[key] + ('<br><span style="font-size: 8pt">'
                                              + key_html(shown) + "</span>"
                                              if key == "logp" and shown else ""))

    @property
    def is_preview(self) -> bool:
        """Whether the snapshot shows the training data (before Train), not samples."""
        return getattr(self.snapshot, "origin", "") == "preview"

    def set_snapshot(self, snapshot) -> None:
        self.snapshot = snapshot
        self.symbols = symbols_from_extras(snapshot.extras) or self.symbols
        extras = snapshot.extras
        if all(k in extras for k in DATA_KEYS):  # the whole data's: they replace the pool
            self.data_props = {k: np.asarray(extras[DATA_PROPERTY_PREFIX + k], float).tolist()
                               for k in HIST_LABELS}
        elif self.symbols is not None and self.has_rdkit:
            if self.is_preview:  # the items are the data
                self.data_props = {k: [] for k in HIST_LABELS}
                self._add_data(self.symbols.decode_all(np.asarray(snapshot.samples)))
            elif "data" in extras:
                self._add_data(self.symbols.decode_all(extras["data"]))
        self.show_frame(-1)
        self.update_count += 1

    def clear(self) -> None:
        self.snapshot = None
        self.data_props = {k: [] for k in HIST_LABELS}
        for cell in self.cells:
            cell.clear()

    def _add_data(self, smiles: list[str]) -> None:
        from ebm_engine.metrics.symbols import parse_smiles, properties

        if len(self.data_props["mw"]) >= DATA_POOL:
            return
        mols = [m for m in (parse_smiles(s) for s in smiles) if m is not None]
        if mols:
            for key, values in properties(mols).items():
                self.data_props[key].extend(values.tolist())

    def show_frame(self, index: int) -> None:
        """Draw the final samples (``-1``) or the decoded chains at a recorded step."""
        if self.snapshot is None or self.symbols is None:
            return
        frames = self.snapshot.frames
        samples = frames[min(index, len(frames) - 1)].x if index >= 0 and frames \
            else self.snapshot.samples
        self.smiles = self.symbols.decode_all(np.asarray(samples))
        if not self.has_rdkit:
            self.valid = []
            for cell, s in zip(self.cells, self.smiles, strict=False):
                cell.setText(s)
            return
        from ebm_engine.metrics.symbols import parse_smiles, properties

        mols = [parse_smiles(s) for s in self.smiles]
        self.valid = [m is not None for m in mols]
        for i, cell in enumerate(self.cells):
            if i >= len(self.smiles):
                cell.clear()
                continue
            image = depiction(self.smiles[i]) if self.valid[i] else None
            if image is None:
                cell.setPixmap(QPixmap())
                shown = cell.fontMetrics().elidedText(self.smiles[i], Qt.TextElideMode.ElideRight,
                                                      CELL - 8)  # within the cell
                cell.setText(f"✗ invalid\n{shown}")
                cell.setStyleSheet("color: rgb(190,30,30)")
            else:
                cell.setStyleSheet("")
                cell.setPixmap(QPixmap.fromImage(image))
            cell.setToolTip(self.smiles[i])
        good = [m for m in mols if m is not None]
        # a preview's molecules are the data's, histogrammed as such in set_snapshot
        self.sample_props = (properties(good) if good and not self.is_preview
                             else {k: np.zeros(0) for k in HIST_LABELS})
        self._histograms()
        if self.is_preview:
            self.summary.setText(f"{len(self.smiles)} training molecules, {sum(self.valid)} "
                                 "valid (RDKit)")
        else:
            self.summary.setText(f"{len(self.smiles)} samples, {sum(self.valid)} valid "
                                 f"(RDKit) at iteration {self.snapshot.iteration}")

    def _histograms(self) -> None:
        drawn: set[str] = set()
        for key, plot in self.plots.items():
            plot.clear()
            data = np.asarray(self.data_props[key])
            ours = self.sample_props[key]
            both = np.concatenate([data, ours])
            if not len(both):
                continue
            edges = np.linspace(both.min(), both.max() + 1e-9, 21)
            for values, (name, brush) in zip((data, ours), HIST_KEY, strict=True):
                if len(values):
                    counts, _ = np.histogram(values, edges, density=True)
                    plot.plot(edges, counts, stepMode="center", fillLevel=0, brush=brush,
                              name=name)
                    drawn.add(name)
        series = tuple(name for name, _ in HIST_KEY if name in drawn)
        if series != self.shown_series:
            self._titles(series)
