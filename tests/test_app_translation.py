"""CycleCoopNets in the app: the handwritten ↔ typeset demo trains live, with
the main grid labelled "translated" beside the source and reconstructed grids."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.app


def test_translation_demo_trains_live_with_translated_beside_source_and_reconstructed(qtbot, tmp_path):
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
        for name in ("source", "reconstructed"):
            assert snap.extras[name].shape == (8, 1, 16, 16), name
        assert "translated" not in snap.extras  # that is the main grid: not drawn twice
        assert list(window.extras.widgets) == ["source", "reconstructed"]
        assert window.samples.view_label.isVisible()  # the main grid says it is the translated one
        assert window.samples.view_label.text().startswith("translated")
        assert window.extras.isVisible()
        # the source and reconstruction are compared cell by cell with the translations:
        # a share each, not 100 px together beside a 250 px grid (digits drawn at 12 px)
        qtbot.waitUntil(lambda: window.samples.split.sizes()[1] >
                        1.5 * window.samples.split.sizes()[0], timeout=WAIT_MS)
        assert snap.frames  # the chains of the revision scrub
        assert type(window.sample_view).__name__ == "ImageGridView"
    finally:
        shutdown(window)


def test_the_main_grid_is_labelled_only_beside_extras_of_a_run(qtbot):
    import numpy as np

    from app.widgets.samples_area import SamplesArea
    from ebm_engine.learning.events import SamplesReady
    from ebm_engine.methods import available_methods

    area = SamplesArea()
    qtbot.addWidget(area)
    area.show()
    x = np.zeros((4, 1, 8, 8), np.float32)
    def snap(origin: str, extras: dict) -> SamplesReady:
        return SamplesReady(3, "image", (-1.0, 1.0), x, np.zeros(4, np.float32),
                            extras=extras, origin=origin)
    area.show_snapshot(snap("train", {"generator proposals": x}), "revised by Langevin")
    assert area.view_label.isVisible() and area.view_label.text() == "revised by Langevin"
    area.show_snapshot(snap("train", {}), "revised by Langevin")  # nothing beside it to tell apart
    assert not area.view_label.isVisible()
    area.show_snapshot(snap("preview", {"generator proposals": x}), "revised by Langevin")
    assert not area.view_label.isVisible()  # training data is no method's output
    area.show_snapshot(snap("train", {"generator proposals": x}), "revised by Langevin")
    area.clear()
    assert not area.view_label.isVisible()
    # a composite cell says what it holds, extras beside it or not (the conditional
    # triples had no caption); the data's own cells are not the method's
    cells = available_methods()["conditional_coop"].cells_are
    area.show_snapshot(snap("sample", {}), "", cells)
    assert area.view_label.isVisible() and "condition | initializer | after Langevin" in \
        area.view_label.text()
    area.show_snapshot(snap("preview", {}), "", cells)
    assert not area.view_label.isVisible()


    # every method whose snapshots carry extras next to its samples says what its grid is
    for name in ("coopnets", "cycle_coop", "multigrid", "multistage", "fce", "jem",
                 "patchwise", "divergence_triangle", "latent_ebm"):
        assert available_methods()[name].samples_are, name


def test_only_a_translations_panels_take_the_samples_width_each(qtbot):
    """Multigrid's coarse grids have the samples' shape but are not the result: they keep
    to half of the width, where a translation's source and reconstruction take a share
    each."""
    import numpy as np

    from app.widgets.samples_area import SamplesArea
    from ebm_engine.learning.events import SamplesReady

    x = np.zeros((16, 1, 16, 16), np.float32)
    for extras, most in (({"grid 1x1": x, "grid 4x4": x}, 0.5), ({"source": x,
                                                                  "reconstructed": x}, 0.4)):
        area = SamplesArea()
        qtbot.addWidget(area)
        area.resize(1200, 600)
        area.show()
        area.show_snapshot(SamplesReady(3, "image", (-1.0, 1.0), x, np.zeros(16, np.float32),
                                        extras=extras, origin="train"))
        qtbot.waitUntil(lambda a=area: a.split.sizes()[1] > 0, timeout=2000)
        qtbot.wait(50)  # the splitter takes the shown extras in, then _halve runs
        samples, beside = area.split.sizes()
        assert (samples / (samples + beside) >= 0.45) == (most == 0.5), (extras.keys(),
                                                                        samples, beside)
