"""CycleCoopNets in the app: the handwritten ↔ typeset demo trains live, with
source | translated | reconstructed grids side by side."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.app


def test_translation_demo_trains_live_with_source_translated_reconstructed(qtbot, tmp_path):
    from app.testing import WAIT_MS, make_window, shutdown

    knobs = (("model.width", 8), ("train.batch_size", 4), ("sampler.n_steps", 2),
             ("train.sample_every", 1), ("train.record_every", 1),
             ("train.checkpoint_every", 0), ("train.snapshot_size", 8))
    window = make_window(qtbot, tmp_path, demo="digits-handwritten-typeset", knobs=knobs)
    try:
        window.settings_panel.set_value("train.options.gen_width", 4)
        window.transport.buttons["train"].click()
        qtbot.waitUntil(lambda: window.snapshot_count >= 2, timeout=WAIT_MS * 3)
        assert not window.errors
        snap = window.snapshot
        assert snap.samples.shape == (8, 1, 16, 16)  # 4 handwritten → typeset, 4 typeset → handwritten
        for name in ("source", "translated", "reconstructed"):
            assert snap.extras[name].shape == (8, 1, 16, 16), name
        assert list(window.extras.widgets) == ["source", "translated", "reconstructed"]
        assert window.extras.isVisible()
        assert snap.frames  # the chains of the revision scrub
        assert type(window.sample_view).__name__ == "ImageGridView"
    finally:
        shutdown(window)
