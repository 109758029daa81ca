"""Conditional CoopNets in the app: the inpainting demo trains live, each tile showing
condition | initializer | after Langevin."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.app


def test_inpainting_demo_trains_live_with_side_by_side_tiles(qtbot, tmp_path):
    from app.testing import WAIT_MS, make_window, shutdown

    knobs = (("model.width", 8), ("train.batch_size", 8), ("sampler.n_steps", 2),
             ("train.sample_every", 1), ("train.record_every", 1),
             ("train.checkpoint_every", 0), ("train.snapshot_size", 6))
    window = make_window(qtbot, tmp_path, demo="digits-inpainting", knobs=knobs)
    try:
        window.settings_panel.set_value("train.options.gen_width", 8)
        window.transport.buttons["train"].click()
        qtbot.waitUntil(lambda: window.snapshot_count >= 2, timeout=WAIT_MS * 3)
        assert not window.errors
        snap = window.snapshot
        assert snap.samples.shape == (6, 1, 16, 48)  # masked digit | initializer | after Langevin
        assert snap.frames and snap.frames[0].x.shape[-1] == 48  # chains scrub the same tiles
        assert type(window.sample_view).__name__ == "ImageGridView"
    finally:
        shutdown(window)
