"""Test-wide settings: headless Qt and VTK, small thread counts, hygiene checks."""

from __future__ import annotations

import os
import threading

import pytest

# Headless: Qt offscreen, VTK through OSMesa (Debian libosmesa6).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkOSOpenGLRenderWindow")
os.environ.setdefault("EBM_STUDIO_SETTINGS", "test")  # the app keeps tests' QSettings apart
os.environ.setdefault("MPLBACKEND", "Agg")
# Decoded-data caches of the tests' temporary folders stay out of the user's cache;
# the tests' settings files (one folder per process, app subprocesses included) go
# under one folder that is removed at the end, not left in /tmp run after run.
for _var, _prefix in (("EBM_CACHE_DIR", "ebm-test-cache-"),
                      ("EBM_STUDIO_SETTINGS_DIR", "ebm-test-settings-")):
    if _var not in os.environ:
        import atexit
        import shutil
        import tempfile

        os.environ[_var] = tempfile.mkdtemp(prefix=_prefix)
        atexit.register(shutil.rmtree, os.environ[_var], True)

import torch  # noqa: E402

# One thread: deterministic conv reductions (exact-resume tests) and a free core
# for the GUI thread in app tests; tiny test models gain nothing from two.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def fresh_app_settings(monkeypatch, request):
    """Each test starts with no saved app settings (a window saves its panes, curves'
    choices and knobs on closing: one test's x axis by wall time broke the next one's
    axis check); windows within one test share them, as two launches do."""
    import zlib

    monkeypatch.setenv("EBM_STUDIO_SETTINGS", f"test-{zlib.crc32(request.node.nodeid.encode())}")


@pytest.fixture(autouse=True)
def no_leaked_threads():
    """A test must not leave worker threads running."""
    before = {t.ident for t in threading.enumerate()}
    yield
    leaked = [t for t in threading.enumerate()
              if t.ident not in before and t.is_alive() and not t.daemon]
    for t in leaked:
        t.join(timeout=5)
    still = [t.name for t in leaked if t.is_alive()]
    assert not still, f"threads left running: {still}"


@pytest.fixture(autouse=True)
def collect_cycles_on_the_main_thread():
    """Once an app test moved cycle collection to the GUI thread (``app.gui_gc``),
    automatic collection stays off for the session; collect what is due between
    tests so the engine tests that follow do not pile up cycles."""
    import sys

    yield
    gui_gc = sys.modules.get("app.gui_gc")
    if gui_gc is not None:
        gui_gc.collect_due()


class _AskedKeys(dict):
    """A dict that remembers which keys were asked for (``get``, ``[]``, ``in``)."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key, default=None):
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key) -> bool:
        self.asked.add(key)
        return super().__contains__(key)


@pytest.fixture
def asked_keys():
    """Make an empty options dict that records the keys a loader or builder reads."""
    return _AskedKeys
