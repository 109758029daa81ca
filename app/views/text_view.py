"""Text samples as a live list: each sentence, its attribute, and whether it is valid.

Snapshots of text carry token ids (``samples``, int) and the vocabulary in
``extras`` (``vocab``, ``joiner``, ``checker``, ``attribute``,
``attribute_values``; :meth:`ebm_engine.methods.base.DataSpec.display_extras`).
The view decodes the ids and judges each sentence with the data's checker
(the built-in grammar's exact parser): invalid ones are marked in red with
a cross. :meth:`show_frame` lists a recorded Langevin step instead: the
greedy decoding of each chain's latent vector at that step, so scrubbing
shows how a sentence changes along the chain.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from app.views.registry import register_view

INVALID = QColor(190, 30, 30)
VALID = QColor(20, 120, 40)
# Extras that decode the ids (DataSpec.display_extras): the view's, not pictures for the extras panel.
SYMBOL_KEYS = ("vocab", "joiner", "checker", "attribute", "attribute_values")


def symbols_from_extras(extras: dict):
    """The :class:`~ebm_engine.data.tokens.SymbolSpec` a snapshot carries, or ``None``."""
    from ebm_engine.data.tokens import SymbolSpec

    if "vocab" not in extras:
        return None
    return SymbolSpec(tuple(str(t) for t in np.asarray(extras["vocab"])),
                      str(extras.get("joiner", " ")), str(extras.get("checker", "")),
                      str(extras.get("attribute", "")),
                      tuple(str(v) for v in np.asarray(extras.get("attribute_values", []))))


Row = tuple[str, str, bool | None]
#: The list's column headers for samples, and for the data preview (the training data
#: before Train: their attribute is their label, not one asked for).
HEADERS = ("", "asked for", "sample", "parsed")
PREVIEW_HEADERS = ("", "labelled", "training sentence", "parsed")
HEADER_TIPS = {
    HEADERS: ("✓: the data's checker accepts the sample",
              "The attribute class each sentence was sampled for (train.options."
              "sample_attribute, or drawn at random)", "",
              "The attribute class the grammar reads in the sentence; red where it is not the "
              "one asked for (the model missing its class), — where the grammar rejects it"),
    PREVIEW_HEADERS: ("✓: the data's checker accepts the sentence",
                      "The attribute class the data gives the sentence", "",
                      "The attribute class the grammar reads in the sentence; red where it is "
                      "not its label, — where the grammar rejects it"),
}


def describe_rows(samples: np.ndarray, symbols) -> tuple[list[Row], list[str] | None]:
    """``(attribute asked for, string, valid)`` per sample (``valid`` ``None`` without a
    checker), and the attribute the grammar parses in each (``"—"`` where it rejects
    it; ``None`` where the data has no attribute or no grammar to read it with)."""
    from ebm_engine.metrics.symbols import validity

    if symbols is None:  # no vocabulary (an old snapshot): show the ids
        return [("", " ".join(str(int(i)) for i in row), None)
                for row in np.asarray(samples)], None
    strings = symbols.decode_all(samples)
    attrs = [symbols.attribute_values[int(a)] if symbols.attribute else ""
             for a in symbols.attribute_of(samples)]
    if symbols.checker == "grammar":  # one parse gives both the ✓ and the attribute
        from ebm_engine.data.grammar import attribute_value, check

        parses = [check(s) for s in strings]
        rows = [(a, s, p is not None) for a, s, p in zip(attrs, strings, parses, strict=True)]
        parsed = ([attribute_value(p, symbols.attribute) if p is not None else "—"
                   for p in parses] if symbols.attribute else None)
        return rows, parsed
    if not symbols.checker:
        return [(a, s, None) for a, s in zip(attrs, strings, strict=True)], None
    try:
        ok = validity(symbols, strings)
    except ImportError:  # SMILES without RDKit: nothing to judge with
        return [(a, s, None) for a, s in zip(attrs, strings, strict=True)], None
    return [(a, s, bool(v)) for a, s, v in zip(attrs, strings, ok, strict=True)], None


@register_view("text")
class TextView(QWidget):
    """The latest samples as rows: ✓/✗, attribute asked for, sentence, attribute parsed;
    a summary line on top."""

    sigSampleClicked = Signal(int)
    # "data" (the latent-sequence method's training batch) is token ids: as a picture in
    # the extras panel it would be a meaningless grey strip; the data show before Train.
    own_extras = (*SYMBOL_KEYS, "data")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.update_count = 0
        self.snapshot = None
        self.symbols = None
        self.rows: list[Row] = []
        self.summary = QLabel("No samples yet.", self)
        self.parsed: list[str] | None = None
        self.table = QTableWidget(0, 4, self)
        # the class the sentence was drawn for, and the one its parse has: a ✓ says only
        # that the grammar accepts it, so "asked for" alone read as the model's success
        self.table.setHorizontalHeaderLabels(list(HEADERS))
        self._headers(HEADERS)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(2, header.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.cellClicked.connect(lambda row, _col: self.sigSampleClicked.emit(row))
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.table)

    def set_snapshot(self, snapshot) -> None:
        self.snapshot = snapshot
        self.symbols = symbols_from_extras(snapshot.extras) or self.symbols
        self.show_frame(-1)
        self.update_count += 1

    def clear(self) -> None:
        self.snapshot = None
        self.rows = []
        self.table.setRowCount(0)
        self.summary.setText("No samples yet.")

    def show_frame(self, index: int) -> None:
        """List the final samples (``-1``) or the decoded chains at recorded step ``index``."""
        if self.snapshot is None:
            return
        frames = self.snapshot.frames
        if index >= 0 and frames:
            frame = frames[min(index, len(frames) - 1)]
            samples, where = frame.x, f"Langevin step {frame.step} (greedy decoding of z)"
        else:
            samples, where = self.snapshot.samples, f"iteration {self.snapshot.iteration}"
        self.rows, self.parsed = describe_rows(np.asarray(samples), self.symbols)
        self._fill(where)

    def _headers(self, names: tuple[str, ...]) -> None:
        for column, (text, tip) in enumerate(zip(names, HEADER_TIPS[names], strict=True)):
            self.table.horizontalHeaderItem(column).setText(text)
            self.table.horizontalHeaderItem(column).setToolTip(tip)

    @property
    def is_preview(self) -> bool:
        """Whether the snapshot shows the training data (before Train), not samples."""
        return getattr(self.snapshot, "origin", "") == "preview"

    def _fill(self, where: str) -> None:
        self.table.setRowCount(len(self.rows))
        for r, (attr, text, ok) in enumerate(self.rows):
            mark = QTableWidgetItem("" if ok is None else ("✓" if ok else "✗"))
            item = QTableWidgetItem(text or "(empty)")
            if ok is not None:
                color = QBrush(VALID if ok else INVALID)
                mark.setForeground(color)
                if not ok:
                    item.setForeground(color)
                    item.setToolTip("rejected by the data's checker")
            mark.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            self.table.setItem(r, 0, mark)
            self.table.setItem(r, 1, QTableWidgetItem(attr))
            self.table.setItem(r, 2, item)
            if self.parsed is not None:
                got = QTableWidgetItem(self.parsed[r])
                if self.parsed[r] != attr:
                    got.setForeground(QBrush(INVALID))
                self.table.setItem(r, 3, got)
        self.table.setColumnHidden(1, not any(a for a, _, _ in self.rows))
        self.table.setColumnHidden(3, self.parsed is None)
        for column in (0, 1, 3):  # "question+past" whole, not "question+p…"
            self.table.resizeColumnToContents(column)
        preview = self.is_preview
        self._headers(PREVIEW_HEADERS if preview else HEADERS)
        judged = [ok for _, _, ok in self.rows if ok is not None]
        valid = f", {sum(judged)}/{len(judged)} valid" if judged else ""
        if self.parsed is not None:
            asked = sum(p == a for p, (a, _, _) in zip(self.parsed, self.rows, strict=True))
            valid += f", {asked} {'as labelled' if preview else 'as asked'}"
        if preview:  # the data set, before any chain ran: not samples of anything
            self.summary.setText(f"{len(self.rows)} training sentences{valid}")
        else:
            self.summary.setText(f"{len(self.rows)} samples at {where}{valid}")

    def valid_count(self) -> int:
        """Rows the checker accepted (for tests and the status line)."""
        return sum(1 for _, _, ok in self.rows if ok)
