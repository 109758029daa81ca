"""The rendering budget: payloads prepared off the GUI thread draw the same pixels,
hidden or unchanged views skip their redraws, the frame pacer spaces slow draws,
and a run's first samples show after one iteration."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from app.testing import TINY_2D, TINY_DIGITS, WAIT_MS, make_window

pytestmark = pytest.mark.app


@pytest.fixture(autouse=True)
def no_leaked_vtk_windows():
    from app.views.vtk_grid import live_render_windows

    before = live_render_windows()
    yield
    assert live_render_windows() == before, "a VTK render window outlived its widget"


def _snapshot(kind, samples, value_range=(-1.0, 1.0), frames=(), extras=None, iteration=7):
    from ebm_engine.learning.events import SamplesReady

    energy = np.linspace(-1, 1, len(samples)).astype(np.float32)
    return SamplesReady(iteration=iteration, kind=kind, value_range=value_range, samples=samples,
                        energy=energy, frames=tuple(frames), extras=extras or {})


def _frames(rng, shape, steps=4):
    from ebm_engine.sampling.langevin import ChainFrame

    return tuple(ChainFrame(s, rng.uniform(-1, 1, shape).astype(np.float32),
                            np.full(shape[0], -float(s), np.float32)) for s in range(steps))


def _on_worker(fn, *args):
    """Run ``fn`` on another thread, as the controller's worker does."""
    out = []
    thread = threading.Thread(target=lambda: out.append(fn(*args)))
    thread.start()
    thread.join()
    return out[0]


def _shown(qtbot, widget, size=(520, 420)):
    qtbot.addWidget(widget)
    widget.resize(*size)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


# --- prepared payloads draw what the views drew before -----------------------------------
def test_prepared_image_payloads_match_the_gui_thread_pixels(qtbot):
    from app.display import PreparedSnapshot, prepare
    from app.views.extras import ExtrasPanel
    from app.views.film_strip import FilmStrip
    from app.views.image_grid import ImageGridView
    from ebm_engine.data.dataset import to_display
    from ebm_engine.export.images import make_grid

    rng = np.random.default_rng(0)
    snap = _snapshot("image", rng.uniform(-1, 1, (10, 1, 7, 7)).astype(np.float32),
                     frames=_frames(rng, (5, 1, 7, 7)),
                     extras={"proposals": rng.uniform(-1, 1, (10, 1, 7, 7)).astype(np.float32)})
    prepared = _on_worker(prepare, snap)
    assert isinstance(prepared, PreparedSnapshot) and prepared.samples is snap.samples
    # the grid the view made on the GUI thread before this change
    before = make_grid(to_display(snap.samples, "image", snap.value_range), pad=2, pad_value=40)
    assert np.array_equal(prepared.display.view.pixels, before)
    assert prepared.display.view.pixels.dtype == np.uint8

    views = [_shown(qtbot, ImageGridView()) for _ in range(2)]
    views[0].set_snapshot(snap)  # computes on the GUI thread
    views[1].set_snapshot(prepared)  # uploads the worker's grid
    assert views[1].grid.last_grid is prepared.display.view.pixels
    assert np.array_equal(views[0].grid.last_grid, views[1].grid.last_grid)
    shots = [v.grab().toImage() for v in views]
    assert shots[0] == shots[1]  # the same pixels on screen
    for index in (0, 3):  # a scrubbed Langevin step: prepared on the worker too
        for v in views:
            v.show_frame(index)
        assert views[1].grid.last_grid is prepared.display.frames[index].pixels
        assert np.array_equal(views[0].grid.last_grid, views[1].grid.last_grid)

    strips = [_shown(qtbot, FilmStrip()) for _ in range(2)]
    assert strips[0].show_chain(snap, 2) and strips[1].show_chain(prepared, 2)
    states = np.stack([f.x[2] for f in snap.frames])
    old = make_grid(to_display(states, "image", snap.value_range), nrow=4, pad=2, pad_value=40)
    assert np.array_equal(prepared.display.chains[2], old)
    assert np.array_equal(strips[0].image.image, strips[1].image.image)

    panels = [_shown(qtbot, ExtrasPanel()) for _ in range(2)]
    panels[0].set_extras(snap.extras, "image", snap.value_range)
    panels[1].set_extras(snap.extras, "image", snap.value_range, prepared.display.extras)
    grids = [p.widgets["proposals"].inner.last_grid for p in panels]
    assert np.array_equal(grids[0], grids[1])


def test_prepared_clips_match_the_per_frame_grids(qtbot):
    from app.display import prepare
    from app.views.image_grid import grid_image
    from app.views.video_view import VideoView

    clips = np.random.default_rng(2).uniform(-1, 1, (4, 1, 5, 8, 8)).astype(np.float32)
    snap = _snapshot("video", clips)
    prepared = _on_worker(prepare, snap)
    grids = prepared.display.view.frames
    assert grids.shape[0] == 5 and grids.dtype == np.uint8
    for t in range(5):  # what the view drew per time step before
        assert np.array_equal(grids[t], grid_image(clips[:, :, t], "image", (-1.0, 1.0)))
    view = _shown(qtbot, VideoView())
    view.play.click()  # paused: the time moves only when asked
    view.set_snapshot(prepared)
    view.time_slider.setValue(3)
    assert np.array_equal(view.grid.last_grid, grids[3])


@pytest.mark.parametrize("kind", ["voxel", "pointcloud"])
def test_prepared_3d_geometry_renders_the_same_pixels(qtbot, kind):
    from app.display import prepare
    from app.views.registry import view_class
    from ebm_engine.config import DataConfig
    from ebm_engine.data import load_dataset

    source, options = (("shapes-voxels", {"items": 4}) if kind == "voxel"
                       else ("shapes-points", {"items": 4, "points": 256}))
    ds = load_dataset(DataConfig(source=source, image_size=16, options=options))
    samples = np.stack([np.asarray(ds.items[i]) for i in range(4)]).astype(np.float32)
    snap = _snapshot(kind, samples)
    prepared = _on_worker(prepare, snap)  # isosurfaces / point sets built off the GUI thread
    assert len(prepared.display.view.geometry) == 4
    assert all(g.GetNumberOfPoints() > 0 for g in prepared.display.view.geometry)
    views = [_shown(qtbot, view_class(kind)(), (480, 400)) for _ in range(2)]
    views[0].set_snapshot(snap)
    views[1].set_snapshot(prepared)
    images = [v.grid.capture() for v in views]
    assert np.array_equal(images[0], images[1])
    assert views[0].grid.caption.text() == views[1].grid.caption.text()
    assert (np.abs(images[1].astype(int) - [32, 33, 36]).sum(-1) > 60).sum() > 200  # shapes drawn
    for v in views:
        v.close()


def test_large_point_clouds_are_decimated_for_display():
    from app.render.shapes import MAX_POINTS_SHOWN, cell_geometries, decimate_points

    cloud = np.random.default_rng(3).normal(0, 0.3, (3 * MAX_POINTS_SHOWN, 3)).astype(np.float32)
    kept = decimate_points(cloud)
    assert len(kept) == MAX_POINTS_SHOWN and np.array_equal(kept, decimate_points(cloud))
    assert decimate_points(cloud[:100]) is not None and len(decimate_points(cloud[:100])) == 100
    (geometry,) = cell_geometries("pointcloud", cloud[None], None, 16)
    assert geometry.GetNumberOfPoints() == MAX_POINTS_SHOWN


def test_a_preparer_that_fails_leaves_the_snapshot_to_the_view():
    from app.display import PreparedSnapshot, prepare

    snap = _snapshot("voxel", np.zeros((2, 5), np.float32))  # not a voxel grid
    assert not isinstance(prepare(snap), PreparedSnapshot)


# --- hidden or unchanged views skip redraws ------------------------------------------------
def test_hidden_samples_area_draws_only_the_latest_when_shown(qtbot):
    from app.display import prepare
    from app.widgets.samples_area import SamplesArea

    area = SamplesArea()
    qtbot.addWidget(area)
    rng = np.random.default_rng(4)
    snaps = [prepare(_snapshot("image", rng.uniform(-1, 1, (4, 1, 6, 6)).astype(np.float32),
                               iteration=i)) for i in range(3)]
    for snap in snaps:  # never shown: nothing is drawn
        assert area.show_snapshot(snap) is False
    assert area.count == 0 and area.view.update_count == 0 and area.snapshot is snaps[-1]
    area.show()
    qtbot.waitExposed(area)
    assert area.count == 1 and area.view.snapshot is snaps[-1]  # one draw, of the latest

    # the same pixels again (a re-read file): no redraw, the title follows
    again = prepare(_snapshot("image", snaps[-1].samples.copy(), iteration=9))
    assert again.display.digest == snaps[-1].display.digest
    assert area.show_snapshot(again) is False and area.count == 1
    assert "iteration 9" in area.title.text()

    # a minimised window draws nothing until it is restored
    area.showMinimized()
    qtbot.waitUntil(lambda: area.window().isMinimized(), timeout=5000)
    fresh = prepare(_snapshot("image", rng.uniform(-1, 1, (4, 1, 6, 6)).astype(np.float32)))
    assert area.show_snapshot(fresh) is False and area.count == 1
    area.showNormal()
    qtbot.waitUntil(lambda: area.count == 2, timeout=5000)
    assert area.view.snapshot is fresh


def test_hidden_image_grid_uploads_when_shown(qtbot):
    from app.views.image_grid import ImageGridWidget, prepare_grid

    grid = ImageGridWidget()
    qtbot.addWidget(grid)
    payload = prepare_grid(np.zeros((4, 1, 5, 5), np.float32), "image", (-1.0, 1.0))
    grid.set_grid(payload)
    assert grid.last_grid is payload.pixels and grid.upload_count == 0
    grid.show()
    qtbot.waitExposed(grid)
    assert grid.upload_count == 1
    grid.set_grid(payload)  # the same grid: nothing to upload
    assert grid.upload_count == 1


def test_curves_redraw_only_on_screen(qtbot):
    from app.views.curves import CurvesView

    curves = CurvesView()
    qtbot.addWidget(curves)
    rows = [{"iteration": i, "wall_time": 0.1 * i, "loss": 1.0 / i, "its": 5.0} for i in range(1, 50)]
    curves.add_rows(rows)
    qtbot.wait(600)  # several redraw ticks
    assert curves.update_count == 0  # hidden: the rows wait
    curves.show()
    qtbot.waitExposed(curves)
    qtbot.waitUntil(lambda: curves.update_count >= 1, timeout=5000)
    qtbot.waitUntil(lambda: curves.pacer.draws >= 1, timeout=5000)  # each redraw is costed
    x, y = curves.lines["loss"].getData()
    assert len(x) == 49


def test_video_view_does_not_play_while_hidden(qtbot):
    from app.views.video_view import VideoView

    view = VideoView()
    qtbot.addWidget(view)
    view.set_snapshot(_snapshot("video", np.zeros((2, 1, 4, 6, 6), np.float32)))
    drawn = view.frames_drawn
    qtbot.wait(500)  # four frame ticks
    assert view.frames_drawn == drawn
    view.show()
    qtbot.waitUntil(lambda: view.frames_drawn > drawn, timeout=5000)


# --- adaptive frame interval ---------------------------------------------------------------
def test_frame_pacer_interval_follows_the_draw_cost():
    from app.pacing import FramePacer

    now = [100.0]
    pacer = FramePacer(budget=0.05, min_interval=0.033, max_interval=2.0, clock=lambda: now[0])
    assert pacer.due() and pacer.interval == pytest.approx(0.033)
    pacer.drawn(0.001)  # cheap: as often as the minimum allows
    assert pacer.interval == pytest.approx(0.033) and not pacer.due()
    now[0] += 0.034
    assert pacer.due()
    pacer.drawn(0.04)  # slow: one draw is enough to space the next ones
    assert pacer.interval >= 0.5 and not pacer.due()
    assert pacer.wait() == pytest.approx(pacer.interval - 0.04)
    slow = pacer.interval
    pacer.drawn(0.5)
    assert pacer.interval == 2.0  # capped: progress still shows every 2 s
    for _ in range(30):  # cheap again: the interval comes down gradually
        now[0] += pacer.interval
        assert pacer.due()
        pacer.drawn(0.002)
    assert pacer.interval < slow / 4
    # drawing stays within the budget: cost ÷ interval
    pacer.drawn(0.06)
    assert 0.06 / pacer.interval <= 0.05 + 1e-9
    pacer.reset()
    assert pacer.due()  # a new run's first frame is never held back


def test_slow_drawing_spaces_the_live_snapshots(qtbot, tmp_path):
    import time

    window = make_window(qtbot, tmp_path, knobs=TINY_2D + (("train.sample_every", 1),))
    ctrl = window.controller
    draw = window.samples.show_snapshot

    def slow_draw(snap, *args):  # a view that takes 40 ms to draw
        time.sleep(0.04)
        return draw(snap, *args)

    window.samples.show_snapshot = slow_draw
    arrived = []
    ctrl.sigSnapshot.connect(lambda _s: arrived.append(time.perf_counter()))
    window.transport.buttons["train"].click()
    qtbot.waitUntil(lambda: len(arrived) >= 4, timeout=WAIT_MS)
    assert ctrl.pacer.interval >= 0.5  # 40 ms ÷ 5 % budget = 0.8 s (smoothed)
    gaps = np.diff(arrived[1:])
    assert gaps.min() >= 0.4  # a snapshot every iteration, drawn far less often
    assert ctrl.iteration > 2 * len(arrived)
    window.close()


# --- the first frame ---------------------------------------------------------------------
def test_first_snapshot_comes_after_one_iteration_and_config_keeps_sample_every(qtbot, tmp_path):
    from app.display import PreparedSnapshot
    from app.views.image_grid import grid_image

    knobs = tuple(kv for kv in TINY_DIGITS if kv[0] != "train.sample_every")
    window = make_window(qtbot, tmp_path, demo="digits",
                         knobs=knobs + (("train.sample_every", 1000),))
    ctrl = window.controller
    with qtbot.waitSignal(ctrl.sigSnapshot, timeout=WAIT_MS,
                          check_params_cb=lambda s: s.origin == "train") as blocker:
        window.transport.buttons["train"].click()
    first = blocker.args[0]
    assert first.iteration == 1  # not train.sample_every = 1000
    # prepared on the worker: the view uploaded its grid
    assert isinstance(first, PreparedSnapshot)
    assert np.array_equal(first.display.view.pixels,
                          grid_image(first.samples, "image", first.value_range))
    assert window.sample_view.grid.last_grid is first.display.view.pixels
    window.close()
    saved = json.loads((ctrl.run_dir / "config.json").read_text())
    assert saved["train"]["sample_every"] == 1000  # the run records the real value


def test_display_session_snapshots_the_first_iteration_then_every_sample_every(tmp_path):
    from ebm_engine.learning.events import KnobApplied, SamplesReady, TrainStep
    from ebm_engine.presets import config_for
    from ebm_engine.session import Session

    cfg = config_for("digits")
    for key, value in TINY_DIGITS:
        cfg = cfg.with_value(key, value)
    cfg = cfg.with_value("train.sample_every", 5).with_value("train.iterations", 12)
    session = Session(cfg, display=True)
    snapshots, applied = [], []
    for event in session.train(tmp_path / "run"):
        if isinstance(event, TrainStep) and event.iteration == 1:
            assert session.edit("sampler.step_size", 0.02).pending  # an edit in between
        elif isinstance(event, SamplesReady):
            snapshots.append(event.iteration)
        elif isinstance(event, KnobApplied):
            applied.append((event.iteration, event.key))
    assert snapshots == [1, 5, 10, 12]
    assert applied == [(1, "sampler.step_size")]  # applied before the next iteration
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["train"]["sample_every"] == 5 and saved["sampler"]["step_size"] == 0.02
    # the CLI (no display) keeps the trainer's own schedule
    headless = Session(cfg)
    assert [e.iteration for e in headless.train(None) if isinstance(e, SamplesReady)] == [5, 10, 12]


def test_train_again_keeps_the_vtk_window(qtbot, tmp_path):
    from app.views.voxel_view import VoxelView

    knobs = (("data.image_size", 16), ("model.width", 8), ("model.depth", 1),
             ("sampler.n_steps", 3), ("train.batch_size", 16), ("train.snapshot_size", 16),
             ("train.checkpoint_every", 0), ("train.iterations", 100000))
    window = make_window(qtbot, tmp_path, demo="shapes-voxels", knobs=knobs)
    assert window.settings_panel.set_value("data.options.items", 24).value == 24
    window.controller.wait()
    qtbot.waitUntil(lambda: isinstance(window.sample_view, VoxelView), timeout=WAIT_MS)
    view = window.sample_view  # the data preview's view
    renderers = list(view.grid.renderers)
    window.transport.buttons["train"].click()
    assert window.sample_view is view and view.snapshot is None  # emptied, not replaced
    assert all(a.GetMapper().GetInput().GetNumberOfPoints() == 0 for a in view.grid.actors)
    qtbot.waitUntil(lambda: view.snapshot is not None and view.snapshot.origin == "train",
                    timeout=WAIT_MS)
    assert window.sample_view is view and not view.grid.released
    assert view.grid.renderers == renderers  # 16 cells before and after: kept, only refilled
    window.close()


def test_changing_captions_do_not_move_the_layout(qtbot, tmp_path):
    """A longer iteration number or chain caption must not resize the views (a resized
    VTK grid or plot re-renders in full)."""
    window = make_window(qtbot, tmp_path, knobs=())
    rng = np.random.default_rng(5)
    frames = _frames(rng, (4, 1, 6, 6))
    widths = []
    for iteration in (9, 123456789):
        snap = _snapshot("image", rng.uniform(-1, 1, (16, 1, 6, 6)).astype(np.float32),
                         frames=frames, iteration=iteration)
        window.controller.sigSnapshot.emit(snap)
        window.film.title.setText("Chain of sample 0: " + "a very long caption " * (iteration % 7))
        qtbot.wait(50)  # layout requests are posted
        widths.append((window.sample_view.width(), window.tabs.width(), window.samples.width()))
    assert widths[0] == widths[1]
    window.close()
