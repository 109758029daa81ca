"""The film strip of a long chain and of a chain in stages (patchwise's scales)."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.app


def _chain(n_frames: int, segments=None):
    from ebm_engine.learning.events import SamplesReady
    from ebm_engine.sampling import ChainFrame

    segments = segments or [0] * n_frames
    rng = np.random.default_rng(0)
    frames = tuple(ChainFrame(i, rng.uniform(-1, 1, (2, 3, 43, 64)).astype(np.float32),
                              np.full(2, 100.0 * segments[i] - i, np.float32),
                              segment=segments[i]) for i in range(n_frames))
    return SamplesReady(1, "image", (-1.0, 1.0), frames[-1].x, frames[-1].energy, frames,
                        origin="sample")


def test_a_long_chain_shows_every_kth_state_and_says_so(qtbot):
    """106 states in two rows of 53 were 5 px each."""
    from app.views.film_strip import FilmStrip, chain_strip, strip_states

    assert strip_states(6) == ([0, 1, 2, 3, 4, 5], 1)
    picked, k = strip_states(106)
    assert k == 10 and len(picked) <= 12 and picked[0] == 0 and picked[-1] == 105
    snap = _chain(106)
    strip = chain_strip(snap, 1)
    assert strip.shape == (2 * (43 + 2) + 2, 6 * (64 + 2) + 2, 3)  # 12 states, 2 rows of 6
    film = FilmStrip()
    qtbot.addWidget(film)
    film.show()
    assert film.show_chain(snap, 1)
    assert film.note.isVisible() and film.note.text() == "every 10th of 106 states, and the last"
    assert film.show_chain(_chain(5), 0) and not film.note.isVisible()  # all shown: no note


def test_a_chain_in_stages_is_not_joined_across_them(qtbot):
    """patchwise's title "energy -1.03e+03 → 3.46e+03" and its curve joined four scales'
    networks, reading as sampling raising the energy fourfold."""
    from app.views.film_strip import FilmStrip

    segments = [0] * 6 + [1] * 4 + [2] * 4
    film = FilmStrip()
    qtbot.addWidget(film)
    assert film.show_chain(_chain(14, segments), 0)
    title = film.title.text()
    # stage 2 runs from frame 10 (energy 200 − 10) to 13: not from frame 0's 0
    assert "3 stages" in title and title.endswith("last stage E 190 → 187")
    assert "own energy network" in film.title.toolTip()
    xs, ys = film.curve.getData()
    assert np.isnan(ys).sum() == 2  # a gap before each new stage
    assert [line.value() for line in film.boundaries] == [6, 10]
    # a chain under one energy: no gaps, no lines, the whole change in the title
    assert film.show_chain(_chain(4), 0)
    assert film.boundaries == [] and not np.isnan(film.curve.getData()[1]).any()
    assert "energy 0 → -3" in film.title.text()


def test_a_point_cloud_chain_gives_its_energy_trace_the_whole_width(qtbot):
    """Kinds without a strip (point clouds, voxels) left its 3/5 of the row empty beside
    the trace; an image chain gets the strip back."""
    from app.views.film_strip import FilmStrip
    from ebm_engine.learning.events import SamplesReady
    from ebm_engine.sampling import ChainFrame

    rng = np.random.default_rng(0)
    frames = tuple(ChainFrame(i, rng.normal(size=(2, 64, 3)).astype(np.float32),
                              np.full(2, -float(i), np.float32)) for i in range(5))
    cloud = SamplesReady(1, "pointcloud", (-1.0, 1.0), frames[-1].x, frames[-1].energy,
                         frames, origin="sample")
    film = FilmStrip()
    qtbot.addWidget(film)
    film.resize(800, 240)
    film.show()
    assert film.show_chain(cloud, 1)
    qtbot.waitUntil(lambda: film.trace.width() > 0.9 * film.width())
    assert film.show_chain(_chain(5), 0)
    qtbot.waitUntil(lambda: film.strip.isVisible() and film.trace.width() < 0.5 * film.width())


def test_before_any_chain_is_picked_the_trace_has_the_row_where_no_strip_is_drawn(qtbot):
    """Training snapshots of 2D points (or 3D kinds) record no chains: no chain is shown
    until a click, and the empty strip's box took 3/5 of the row meanwhile."""
    from app.widgets.samples_area import SamplesArea
    from ebm_engine.learning.events import SamplesReady

    area = SamplesArea()
    qtbot.addWidget(area)
    area.resize(900, 700)
    area.show()
    qtbot.waitExposed(area)
    points = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
    area.show_snapshot(SamplesReady(1, "points", None, points, np.zeros(64, np.float32), ()))
    film = area.film
    qtbot.waitUntil(lambda: film.trace.width() > 0.9 * film.width())
    pictures = _chain(3)
    area.show_snapshot(SamplesReady(2, "image", (-1.0, 1.0), pictures.samples,
                                    pictures.energy, (), origin="train"))
    qtbot.waitUntil(lambda: film.strip.isVisible() and film.trace.width() < 0.5 * film.width())
