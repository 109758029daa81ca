"""Settings that are typable but defeat learning are said when a run starts."""

from __future__ import annotations

import pytest

from ebm_engine.config import RunConfig
from ebm_engine.learning.events import Warned
from ebm_engine.session import Session, StopOnDivergence


def _tiny_images(**values) -> RunConfig:
    cfg = RunConfig.from_dict({
        "data": {"source": "digits", "max_items": 64},
        "model": {"width": 8, "depth": 2},
        "sampler": {"n_steps": 3},
        "train": {"batch_size": 8, "iterations": 2, "checkpoint_every": 0, "sample_every": 2},
    })
    for key, value in values.items():
        cfg = cfg.with_value(key.replace("__", "."), value)
    return cfg


def _warnings(cfg: RunConfig) -> list[str]:
    # 1e9 noise makes the energies explode: stop there rather than wait for a decision
    events = Session(cfg, on_diverge=StopOnDivergence()).train(None)
    return [e.message for e in events if isinstance(e, Warned)]


def test_a_sensible_run_is_not_warned():
    assert _warnings(_tiny_images()) == []


@pytest.mark.parametrize(("values", "said"), [
    ({"sampler__n_steps": 0}, "sampler.n_steps is 0"),
    ({"train__options__data_noise": 1e9}, "larger than the data's whole range (-1 to 1)"),
])
def test_settings_that_defeat_learning_are_said_at_the_start(values, said):
    warned = _warnings(_tiny_images(**values))
    assert said in warned[0] and sum(said in m for m in warned) == 1, warned


def test_millions_of_steps_per_iteration_are_said_before_the_first_iteration():
    """`--set sampler.n_steps=100000000` sat at iteration 0 with no word (hours per step)."""
    from ebm_engine.learning.odd_settings import LONG_CHAINS, odd_settings
    from ebm_engine.learning.trainer import Trainer

    for steps, said in ((10**8, 1), (LONG_CHAINS, 0)):
        trainer = Trainer(_tiny_images(sampler__n_steps=steps))
        warned = odd_settings(trainer.method, trainer.spec)
        assert sum(f"sampler.n_steps is {steps}: every iteration" in m for m in warned) == said


def test_zero_steps_of_a_method_whose_sampler_is_a_network_is_not_warned():
    # FCE's flow is its sampler: sampler.n_steps is not read, so 0 is harmless
    cfg = _tiny_images(train__method="fce", sampler__n_steps=0)
    assert not any("n_steps" in m for m in _warnings(cfg))


def test_the_status_bar_shows_the_latest_warning(qtbot):
    from PySide6.QtWidgets import QMainWindow

    from app.widgets.status_bar import RunStatus

    window = QMainWindow()
    qtbot.addWidget(window)
    status = RunStatus(window.statusBar())
    long = "sampler.n_steps is 0: the Langevin chains never move, " + "and so on " * 10
    status.warned("first")
    status.warned(long)
    label = status.labels["warning"]
    assert label.text().startswith("⚠ (2) sampler.n_steps is 0") and label.text().endswith(" …")
    assert long in label.toolTip() and "first" in label.toolTip()
    status.clear()
    assert label.text() == "" and status.warnings == []


def test_a_note_is_logged_without_the_warning_sign(qtbot, tmp_path):
    from app.testing import make_window
    from ebm_engine.learning.events import Warned

    window = make_window(qtbot, tmp_path, knobs=())
    window.controller.sigWarned.emit(Warned(3, "this model keeps 4 persistent chains", note=True))
    assert "note: this model keeps 4" in window.log.toPlainText()
    assert window.status_labels["warning"].text() == ""
    window.controller.sigWarned.emit(Warned(3, "sampler.n_steps is 0"))
    assert window.status_labels["warning"].text().startswith("⚠")
    window.controller.wait()


def test_an_edit_mid_run_that_defeats_learning_is_said_too():
    session = Session(_tiny_images(train__iterations=6), on_diverge=StopOnDivergence())
    events = session.train(None, paused=True)
    next(events)
    session.edit("sampler.n_steps", 0)
    session.resume_run()
    warned = [e for e in events if isinstance(e, Warned)]
    assert len(warned) == 1 and "sampler.n_steps is 0" in warned[0].message
