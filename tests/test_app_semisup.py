"""The semi-supervised digits demo trains live: samples by class, held-out accuracy curve."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.app


def test_semi_supervised_demo_trains_live_with_accuracy_and_class_rows(qtbot, tmp_path):
    from app.testing import WAIT_MS, make_window, shutdown

    knobs = (("model.width", 16), ("sampler.n_steps", 3), ("train.batch_size", 16),
             ("train.sample_every", 1), ("train.record_every", 1),
             ("train.checkpoint_every", 0), ("train.options.z_dim", 4),
             ("train.options.gen_width", 32), ("train.options.post_steps", 3),
             ("train.options.labelled_batch", 8), ("train.options.eval_every", 1),
             ("train.options.classify_steps", 2), ("train.options.classify_chains", 1),
             ("train.options.class_samples", 3))
    window = make_window(qtbot, tmp_path, demo="digits-semi-supervised", knobs=knobs)
    try:
        window.transport.buttons["train"].click()
        qtbot.waitUntil(lambda: window.snapshot_count >= 2, timeout=WAIT_MS * 3)
        # one picture of class-conditional samples: 10 rows of a glyph and 3 samples
        mosaic = window.snapshot.extras["samples by class"]
        assert mosaic.shape == (1, 1, 10 * 17 - 1, 4 * 17 - 1)
        assert "samples by class" in window.extras.widgets
        # the held-out accuracy gets its own curve
        curves = window.curves
        qtbot.waitUntil(lambda: "accuracy" in curves.items, timeout=WAIT_MS)
        curves.redraw()
        _, ys = curves.lines["accuracy"].getData()
        assert ys is not None and len(ys) >= 1 and np.all((ys >= 0) & (ys <= 1))
    finally:
        shutdown(window)
    curves.clear()  # a new run starts without the task plot
    assert "accuracy" not in curves.items
