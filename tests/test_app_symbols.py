"""Text and molecule views: samples decoded live, invalid ones marked, chains scrubbed."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
from PySide6.QtCore import Qt

from ebm_engine.data.tokens import SymbolSpec, encode, smiles_tokens
from ebm_engine.learning.events import SamplesReady
from ebm_engine.methods.base import DataSpec
from ebm_engine.sampling.langevin import ChainFrame

pytestmark = pytest.mark.app


def _snapshot(spec: SymbolSpec, items: np.ndarray, kind: str = "text", frames=()) -> SamplesReady:
    extras = DataSpec(kind, items.shape[1:], None, spec).display_extras()
    extras["data"] = items
    return SamplesReady(7, kind, None, items, np.zeros(len(items), np.float32), tuple(frames),
                        extras)


def test_text_view_lists_samples_and_marks_invalid_ones(qtbot):
    from app.views.registry import view_class
    from app.views.text_view import INVALID
    from ebm_engine.data.text import grammar_vocabulary

    spec = SymbolSpec(grammar_vocabulary(), " ", "grammar", "mood", ("statement", "question"))
    lines = ["the dog sleeps .", "these dog sleeps .", "does the cat run ?"]
    items = encode([s.split() for s in lines], spec, 8, attributes=[0, 0, 1])
    view = view_class("text")()
    qtbot.addWidget(view)
    frame = ChainFrame(3, items[:1], np.zeros(1, np.float32))
    view.set_snapshot(_snapshot(spec, items, frames=(frame,)))
    assert [view.table.item(r, 2).text() for r in range(3)] == lines
    assert [view.table.item(r, 0).text() for r in range(3)] == ["✓", "✗", "✓"]
    assert view.table.item(2, 1).text() == "question"
    assert view.valid_count() == 2 and "2/3 valid" in view.summary.text()
    # ✓ says only that the grammar accepts it: the class it parses is shown beside the
    # one asked for, and a question asked as a statement counts as a miss
    assert not view.table.isColumnHidden(3)
    assert [view.table.item(r, 3).text() for r in range(3)] == ["statement", "—", "question"]
    assert "2 as asked" in view.summary.text()
    view.show_frame(0)  # a recorded Langevin step: its decoded chains
    assert view.table.rowCount() == 1 and "Langevin step 3" in view.summary.text()
    asked = encode([s.split() for s in lines], spec, 8, attributes=[1, 0, 1])
    view.set_snapshot(_snapshot(spec, asked))
    assert "1 as asked" in view.summary.text()
    assert view.table.item(0, 3).foreground().color() == INVALID


def test_molecule_view_draws_depictions_and_histograms(qtbot):
    pytest.importorskip("rdkit")
    from app.views.registry import view_class
    from ebm_engine.data.tokens import build_vocabulary

    smiles = ["CCO", "c1ccccc1O", "C1CC", "CC(=O)Nc1ccc(O)cc1"]
    tokens = [smiles_tokens(s) for s in smiles]
    spec = SymbolSpec(build_vocabulary(tokens), "", "smiles")
    items = encode(tokens, spec, 24)
    view = view_class("molecule")()
    qtbot.addWidget(view)
    view.set_snapshot(_snapshot(spec, items, "molecule"))
    assert view.valid == [True, True, False, True]  # RDKit rejects the unclosed ring
    assert not view.cells[0].pixmap().isNull()
    assert "invalid" in view.cells[2].text()
    assert len(view.data_props["mw"]) == 3 and len(view.sample_props["mw"]) == 3
    with qtbot.waitSignal(view.sigSampleClicked) as clicked:
        qtbot.mouseClick(view.cells[3], Qt.MouseButton.LeftButton)
    assert clicked.args == [3]
    # the view fits a 900 px screen beside the rest of the window: the cells scroll
    assert view.minimumSizeHint().height() < 450
    # down, never across: as many columns as fit, none cut at the right edge
    view.show()
    for width, wide in ((560, False), (1100, True)):
        view.resize(width, 600)
        qtbot.waitUntil(lambda w=width: view.scroll.viewport().width() > w - 100)
        right = max(c.geometry().right() for c in view.cells)
        assert right <= view.scroll.viewport().width(), (width, view.columns)
        assert view.columns >= (5 if wide else 2), (width, view.columns)
    # an invalid SMILES longer than a cell is elided inside it
    tokens = [smiles_tokens("C1" + "C" * 60)]  # an unclosed ring
    spec = SymbolSpec(build_vocabulary(tokens), "", "smiles")
    view.set_snapshot(_snapshot(spec, encode(tokens, spec, 64), "molecule"))
    shown = view.cells[0].text().splitlines()[-1]
    assert shown.endswith("…") and view.cells[0].fontMetrics().horizontalAdvance(shown) <= 150


def test_text_preview_is_labelled_as_training_sentences(qtbot):
    """The data preview (the training data, before Train) read "3 samples at iteration 0"
    under a "sample" column."""
    import dataclasses

    from app.views.registry import view_class
    from ebm_engine.data.text import grammar_vocabulary

    spec = SymbolSpec(grammar_vocabulary(), " ", "grammar", "mood", ("statement", "question"))
    lines = ["the dog sleeps .", "these dog sleeps .", "does the cat run ?"]
    items = encode([s.split() for s in lines], spec, 8, attributes=[0, 0, 1])
    view = view_class("text")()
    qtbot.addWidget(view)
    snap = _snapshot(spec, items)
    view.set_snapshot(dataclasses.replace(snap, origin="preview"))
    assert view.summary.text() == "3 training sentences, 2/3 valid, 2 as labelled"
    headers = [view.table.horizontalHeaderItem(c).text() for c in range(4)]
    assert headers == ["", "labelled", "training sentence", "parsed"]
    view.set_snapshot(snap)  # then samples: said so again
    assert view.summary.text().startswith("3 samples at iteration 7")
    assert view.table.horizontalHeaderItem(2).text() == "sample"


def _key(view) -> str:
    return view.plots["logp"].getPlotItem().titleLabel.text


def test_molecule_histograms_key_only_what_they_draw(qtbot):
    """After Load pretrained / Sample the key said "data, samples" over samples alone (the
    data's properties came only with training snapshots); a preview's molecules were
    counted as samples and histogrammed as samples."""
    import dataclasses

    pytest.importorskip("rdkit")
    from app.views.registry import view_class
    from ebm_engine.data.tokens import build_vocabulary

    smiles = ["CCO", "c1ccccc1O", "C1CC", "CC(=O)Nc1ccc(O)cc1"]
    tokens = [smiles_tokens(s) for s in smiles]
    spec = SymbolSpec(build_vocabulary(tokens), "", "smiles")
    items = encode(tokens, spec, 24)
    bare = SamplesReady(3, "molecule", None, items, np.zeros(4, np.float32),
                        extras=DataSpec("molecule", items.shape[1:], None, spec).display_extras(),
                        origin="sample")
    view = view_class("molecule")()
    qtbot.addWidget(view)
    view.set_snapshot(bare)  # a model sampled without its data: the samples alone
    assert "samples" in _key(view) and "data" not in _key(view)
    reference = {f"data_{k}": np.array([1.0, 2.0, 3.0], np.float32) for k in ("logp", "qed", "mw")}
    sampled = dataclasses.replace(bare, extras={**bare.extras, **reference})
    view.set_snapshot(sampled)  # the data's properties ride along: both drawn and keyed
    assert view.data_props["mw"] == [1.0, 2.0, 3.0] and len(view.sample_props["mw"]) == 3
    assert "data" in _key(view) and "samples" in _key(view)
    fresh = view_class("molecule")()
    qtbot.addWidget(fresh)
    fresh.set_snapshot(dataclasses.replace(bare, origin="preview"))  # the data, before Train
    assert fresh.summary.text() == "4 training molecules, 3 valid (RDKit)"
    assert len(fresh.data_props["mw"]) == 3 and len(fresh.sample_props["mw"]) == 0
    assert "data" in _key(fresh) and "samples" not in _key(fresh)


def test_exporting_molecules_says_how_many_were_invalid(qtbot, tmp_path):
    pytest.importorskip("rdkit")
    from app.export_menu import ExportMenu
    from ebm_engine.data.tokens import build_vocabulary

    smiles = ["CCO", "C1CC", "c1ccccc1O"]
    tokens = [smiles_tokens(s) for s in smiles]
    spec = SymbolSpec(build_vocabulary(tokens), "", "smiles")
    menu = ExportMenu(lambda: None, lambda: None)
    menu.set_snapshot(_snapshot(spec, encode(tokens, spec, 16), "molecule"))
    with qtbot.waitSignal(menu.sigExported) as said:
        assert menu.export("grid", tmp_path / "m.sdf") == tmp_path / "m.sdf"
    assert said.args[0].startswith(f"exported {tmp_path / 'm.sdf'} (1 of 3 samples are not "
                                   "valid molecules: m.sdf holds the 2 valid ones")


def test_a_deleted_molecule_view_is_freed_without_the_garbage_collector(qtbot):
    """No reference cycle holds the view: were it left to the cyclic garbage collector,
    the collection could run on the training thread and free Qt objects there (a
    crash or hang of the next run)."""
    from PySide6.QtCore import QCoreApplication, QEvent

    from app.views.registry import view_class

    gc.disable()  # only reference counting frees it in this test
    try:
        view = view_class("molecule")()
        freed = weakref.ref(view)
        view.close()
        view.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        del view
        assert freed() is None
    finally:
        gc.enable()


def test_grammar_demo_trains_live_in_the_text_view(qtbot, tmp_path):
    from app.testing import WAIT_MS, make_window, shutdown

    knobs = (("model.width", 16), ("train.batch_size", 8), ("sampler.n_steps", 3),
             ("train.sample_every", 1), ("train.record_every", 1),
             ("train.checkpoint_every", 0), ("train.snapshot_size", 8))
    window = make_window(qtbot, tmp_path, demo="grammar-text", knobs=knobs)
    try:
        window.settings_panel.set_value("train.options.post_steps", 1)
        window.transport.buttons["train"].click()
        qtbot.waitUntil(lambda: window.snapshot_count >= 2, timeout=WAIT_MS * 3)
        view = window.sample_view
        assert type(view).__name__ == "TextView"
        assert view.table.rowCount() == 8
        assert all(view.table.item(r, 0).text() in ("✓", "✗") for r in range(8))
        assert not view.table.item(0, 2).text()[0].isdigit()  # decoded words, not ids
        assert window.snapshot.frames  # the chain scrubber has Langevin steps to show
        # the training batch rides along as token ids: not a stray picture beside the list
        assert "data" in window.snapshot.extras
        assert not window.samples.extras.widgets
    finally:
        shutdown(window)
