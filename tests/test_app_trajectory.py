"""Trajectory view: scenes, expert and sampled paths, chains, cost heat map; the
navigation-ioc demo trains live in it."""

from __future__ import annotations

import dataclasses
import gc
import weakref

import numpy as np
import pytest
from PySide6.QtCore import Qt

from ebm_engine.data.scenes import make_scenes
from ebm_engine.learning.events import SamplesReady
from ebm_engine.sampling.langevin import ChainFrame

pytestmark = pytest.mark.app


def _snapshot(n: int = 5, t: int = 12) -> SamplesReady:
    gen = np.random.default_rng(0)
    paths = np.cumsum(gen.normal(size=(n, t, 2)), 1).astype(np.float32) * 0.1
    scenes = make_scenes(paths[:, 0], paths[:, -1], np.zeros((n, 2, 2)),
                         np.array([[0.2, 0.0]] * n))
    frames = (ChainFrame(0, paths[:3] * 0, np.zeros(3, np.float32)),
              ChainFrame(5, paths[:3] * 0.5, np.zeros(3, np.float32)))
    extras = {"scenes": scenes, "reference": paths[:, ::-1].copy(),
              "cost_map": np.random.rand(2, 16, 16).astype(np.float32),
              "cost_extent": np.tile(np.float32([-1, 1, -1, 1]), (2, 1)),
              "extent": np.float32([-1.2, 1.2, -1.2, 1.2])}
    return SamplesReady(3, "trajectory", None, paths, np.arange(n, dtype=np.float32), frames,
                        extras)


def test_trajectory_view_draws_scenes_paths_chains_and_cost(qtbot):
    from app.views.registry import view_class

    view = view_class("trajectory")()
    qtbot.addWidget(view)
    view.resize(500, 500)
    view.show()
    snap = _snapshot()
    view.set_snapshot(snap)
    assert len(view.cells) == 5
    cell = view.cells[1]
    xs, ys = cell.path.getData()
    np.testing.assert_allclose(xs, snap.samples[1, :, 0])
    assert len(cell.obstacles.data) == 1  # the radius-0 slot is no obstacle
    assert cell.expert.getData()[0] is not None
    assert view.cells[0].heat.isVisible() and not view.cells[1].heat.isVisible()
    view.show_frame(1)  # a recorded Langevin step: the chains' whole paths
    np.testing.assert_allclose(view.cells[2].path.getData()[0], snap.frames[1].x[2, :, 0])
    assert "Langevin step 5" in view.caption.text()
    target = view.grid.mapFromScene(view.cells[2].plot.sceneBoundingRect().center())
    with qtbot.waitSignal(view.sigSampleClicked) as clicked:
        qtbot.mouseClick(view.grid.viewport(), Qt.MouseButton.LeftButton, pos=target)
    assert clicked.args == [2] and view.picked == 2
    assert len(view.cells[2].trail.getData()[0]) > 0  # the picked chain's recorded states
    assert view.toggles["cost"].isVisible()
    # a model without a cost of places (the crowd's prior): no "cost" box that does nothing
    extras = {k: v for k, v in snap.extras.items() if not k.startswith("cost_")}
    view.set_snapshot(dataclasses.replace(snap, extras=extras))
    assert not view.toggles["cost"].isVisible() and view.toggles["chain"].isVisible()


def test_the_caption_counts_what_is_shown_and_the_data_have_no_iteration(qtbot):
    import dataclasses

    from app.views.registry import view_class
    from app.views.trajectory_view import MAX_CELLS

    view = view_class("trajectory")()
    qtbot.addWidget(view)
    many = _snapshot(n=MAX_CELLS + 8)
    view.set_snapshot(many)
    assert view.caption.text().startswith(f"{MAX_CELLS} of {MAX_CELLS + 8} trajectories at "
                                          "iteration 3")
    view.set_snapshot(dataclasses.replace(many, origin="preview"))
    assert view.caption.text() == f"{MAX_CELLS} of {MAX_CELLS + 8} training trajectories"


def test_a_deleted_trajectory_view_is_freed_without_the_garbage_collector(qtbot):
    from PySide6.QtCore import QCoreApplication, QEvent

    from app.views.registry import view_class

    gc.disable()
    try:
        view = view_class("trajectory")()
        view.set_snapshot(_snapshot())
        freed = weakref.ref(view)
        view.close()
        view.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        del view
        assert freed() is None
    finally:
        gc.enable()


def test_navigation_demo_trains_live_in_the_trajectory_view(qtbot, tmp_path, monkeypatch):
    from app.testing import WAIT_MS, make_window, shutdown
    from ebm_engine.data import navigation

    monkeypatch.setattr(navigation, "N_TRAIN", 32)  # planning the experts: a second, not ten
    monkeypatch.setattr(navigation, "N_TEST", 4)
    knobs = (("model.width", 8), ("train.batch_size", 8), ("sampler.n_steps", 3),
             ("train.sample_every", 1), ("train.record_every", 1),
             ("train.checkpoint_every", 0), ("train.snapshot_size", 6),
             ("train.iterations", 100000))
    window = make_window(qtbot, tmp_path, demo="navigation-ioc", knobs=knobs)
    try:
        # the preview: expert paths in their scenes
        qtbot.waitUntil(lambda: type(window.sample_view).__name__ == "TrajectoryView"
                        and window.sample_view.snapshot is not None, timeout=WAIT_MS)
        assert "scenes" in window.sample_view.snapshot.extras
        window.transport.buttons["train"].click()
        qtbot.waitUntil(lambda: window.snapshot_count >= 2, timeout=WAIT_MS * 3)
        snap, view = window.snapshot, window.sample_view
        assert snap.samples.shape[1:] == (20, 2) and len(view.cells) == 6
        assert {"scenes", "reference", "cost_map"} <= set(snap.extras)
        assert len(view.cells[0].path.getData()[0]) == 20
        assert snap.frames  # the chain scrubber has whole-path Langevin steps to show
        assert snap.frames[0].x.shape[1:] == (20, 2)
        assert "scenes" not in window.extras.widgets  # the view draws them, not the extras panel
    finally:
        shutdown(window)


def test_the_dashed_path_is_named_in_the_tasks_words(qtbot):
    """Every task's dashed path was "expert": a translation's is its source stroke, a
    prediction's the true path."""
    from app.views.registry import view_class

    view = view_class("trajectory")()
    qtbot.addWidget(view)
    plan = _snapshot()
    extras = {k: v for k, v in plan.extras.items() if k == "reference"}
    for snap, name in ((plan, "expert"),
                       (dataclasses.replace(plan, extras=extras), "source"),
                       (dataclasses.replace(plan, extras={**plan.extras,
                                                          "observed": plan.samples[:, :3]}),
                        "true path")):
        view.set_snapshot(snap)
        assert view.toggles["expert"].text() == name
