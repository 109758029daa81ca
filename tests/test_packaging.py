"""The PyInstaller bundle's spec, entry point and hooks, checked without building it
(building is ``make bundle-test``, see ``tests/test_bundle.py``)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"


def _entry():
    spec = importlib.util.spec_from_file_location("ebm_entry", PACKAGING / "entry.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_entry_is_the_command_line_under_the_name_ebm() -> None:
    entry = _entry()
    for name in ("ebm", "/opt/ebm-studio/ebm", "C:\\ebm-studio\\ebm.exe", "EBM.EXE"):
        assert entry.is_cli(name.replace("\\", os.sep)), name
    for name in ("ebm-studio", "/opt/ebm-studio/ebm-studio", "ebm-studio.exe", ""):
        assert not entry.is_cli(name), name


def test_entry_called_ebm_runs_the_cli(tmp_path: Path) -> None:
    """The bundle's `ebm` (a link to ebm-studio) answers as `python -m ebm_engine` does:
    the entry script, run under the name `ebm`, is the command line."""
    ebm = shutil.copy(PACKAGING / "entry.py", tmp_path / "ebm")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    as_ebm = subprocess.run([sys.executable, ebm, "--version"], env=env, capture_output=True,
                            text=True, timeout=120, cwd=tmp_path)
    as_module = subprocess.run([sys.executable, "-m", "ebm_engine", "--version"], env=env,
                               capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert as_ebm.returncode == 0, as_ebm.stderr[-2000:]
    assert as_ebm.stdout == as_module.stdout and as_ebm.stdout.startswith("ebm ")
    bad = subprocess.run([sys.executable, ebm, "trian"], env=env, capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    assert bad.returncode == 2 and "did you mean" in bad.stderr  # the CLI's own error line


def test_spec_links_ebm_beside_the_app() -> None:
    text = (PACKAGING / "ebm-studio.spec").read_text(encoding="utf-8")
    assert 'symlink_to(_exe_name)' in text and '"ebm"' in text

