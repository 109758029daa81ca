"""The crowd-prediction demo trains live in the trajectory view: predicted futures
continue the observed pasts, the true paths and the plaza's pillars are drawn."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.app


def test_crowd_demo_trains_live_in_the_trajectory_view(qtbot, tmp_path):
    from app.testing import WAIT_MS, make_window, shutdown
    from ebm_engine.data import crowd_sim
    from ebm_engine.data.tracks import OBSERVED, PREDICTED

    knobs = (("model.width", 16), ("train.batch_size", 16), ("sampler.n_steps", 3),
             ("train.sample_every", 1), ("train.record_every", 1),
             ("train.checkpoint_every", 0), ("train.snapshot_size", 4),
             ("data.options", {"frames": 150}))
    window = make_window(qtbot, tmp_path, demo="crowd-prediction", knobs=knobs)
    try:
        window.settings_panel.set_value("train.options.post_steps", 1)
        window.transport.buttons["train"].click()
        qtbot.waitUntil(lambda: window.snapshot_count >= 2, timeout=WAIT_MS * 3)
        view = window.sample_view
        assert type(view).__name__ == "TrajectoryView"
        snap = window.snapshot
        assert snap.samples.shape == (4, PREDICTED, 2)
        assert snap.extras["observed"].shape == (4, OBSERVED, 2)
        assert snap.extras["reference"].shape == (4, OBSERVED + PREDICTED, 2)
        cell = view.cells[0]
        x, y = cell.path.getData()
        # The drawn prediction starts where the observed past ends.
        np.testing.assert_allclose([x[0], y[0]], snap.extras["observed"][0, -1], atol=1e-5)
        assert len(cell.expert.getData()[0]) == OBSERVED + PREDICTED
        assert len(cell.obstacles.data) == len(crowd_sim.OBSTACLES)  # the plaza's pillars
        assert snap.frames  # the chain scrubber has Langevin steps (decoded futures) to show
        view.show_frame(0)
        assert "Langevin step" in view.caption.text()
    finally:
        shutdown(window)
