"""Persistent settings (QSettings) and where app-started runs are written.

Tests set ``EBM_STUDIO_SETTINGS`` (to any name): settings then go to an INI
file of that name in a private per-process folder under the temp folder (or
under ``EBM_STUDIO_SETTINGS_DIR``, which the test suite removes when it ends),
so a test never reads or changes the user's real settings. ``EBM_STUDIO_RUNS``
overrides the runs folder.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths

from app import APPLICATION, ORGANISATION

MAX_RECENT = 8  # at most 9: File → Recent runs numbers them &1 … &9 (app.widgets.open_run)


def settings() -> QSettings:
    """The app's QSettings (an isolated INI file when ``EBM_STUDIO_SETTINGS`` is set)."""
    name = os.environ.get("EBM_STUDIO_SETTINGS")
    if name:
        base = os.environ.get("EBM_STUDIO_SETTINGS_DIR") or tempfile.gettempdir()
        folder = Path(base) / f"ebm-studio-settings-{os.getpid()}"
        folder.mkdir(parents=True, exist_ok=True)
        return QSettings(str(folder / f"{name}.ini"), QSettings.Format.IniFormat)
    return QSettings(ORGANISATION, APPLICATION)


def runs_root() -> Path:
    """Folder holding runs started from the app."""
    env = os.environ.get("EBM_STUDIO_RUNS")
    if env:
        return Path(env)
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".ebm-studio") / "runs"


def new_run_dir(source: str, root: Path | None = None) -> Path:
    """A fresh ``<root>/<timestamp>-<demo>`` path (not created yet)."""
    root = Path(root) if root is not None else runs_root()
    stem = Path(source).name or "data"
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)[:40]
    base = root / f"{time.strftime('%Y%m%d-%H%M%S')}-{safe}"
    path, i = base, 1
    while path.exists():
        path = Path(f"{base}-{i}")
        i += 1
    return path


def recent_runs(store: QSettings | None = None) -> list[str]:
    """Recently opened or started run folders, newest first (existing only)."""
    store = store or settings()
    raw = store.value("recent_runs", [])
    items = [raw] if isinstance(raw, str) else list(raw or [])
    return [p for p in items if Path(p).is_dir()]


def add_recent_run(path: str | Path, store: QSettings | None = None) -> list[str]:
    """Put ``path`` first in the recent-runs list and return the list."""
    store = store or settings()
    items = [str(path)] + [p for p in recent_runs(store) if p != str(path)]
    items = items[:MAX_RECENT]
    store.setValue("recent_runs", items)
    store.sync()
    return items
