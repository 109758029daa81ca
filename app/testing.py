"""Helpers for the app tests and benchmarks: a window on a tiny, fast config."""

from __future__ import annotations

TINY_2D = (
    ("model.width", 16), ("model.depth", 2), ("sampler.n_steps", 5), ("train.batch_size", 64),
    ("train.sample_every", 2), ("train.record_every", 1), ("train.checkpoint_every", 0),
    ("train.iterations", 100000),
)
TINY_DIGITS = (
    ("model.width", 8), ("model.depth", 1), ("sampler.n_steps", 5), ("train.batch_size", 16),
    ("train.sample_every", 2), ("train.record_every", 1), ("train.checkpoint_every", 0),
    ("train.iterations", 100000), ("sampler.buffer_size", 64),
)
WAIT_MS = 90_000  # generous: the test machine is shared


def make_window(qtbot, tmp_path, demo: str = "8gaussians", knobs=TINY_2D, record_errors=True):
    """A shown MainWindow writing runs under ``tmp_path``, with ``knobs`` typed into the form.

    The demo's data preview is waited for, so no preview thread outlives the setup.
    """
    from app.main_window import MainWindow

    window = MainWindow(runs_root=tmp_path / "runs", demo=demo)
    qtbot.addWidget(window)
    window.controller.wait()
    if record_errors:  # no dialogs in tests: keep the sentence (errors reach show_error by name)
        window.show_error = window.errors.append
    window.show()
    for key, value in knobs:
        result = window.settings_panel.set_value(key, value)
        assert not getattr(result, "reason", None), result  # a test's own knobs must be accepted
    return window


def shutdown(window) -> None:
    window.export_menu.join_picture()
    window.controller.shutdown()
