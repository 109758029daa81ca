"""Which VTK and Qt modules the app really imports (for the PyInstaller spec).

VTK's Python modules are C extensions that import their dependencies from C,
which PyInstaller's import analysis cannot see; and PyInstaller would bundle
every PySide6 module it finds. So we import every module of ``app`` (and the
self-test) in a fresh headless interpreter and read ``sys.modules``: the VTK
modules loaded become hidden imports, the Qt modules not loaded are excluded.

Run as ``python packaging/scan_imports.py`` to print the JSON result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# VTK modules the app's views and the self-test need even when a view module
# imports them lazily (inside a function): interaction, text, volume rendering.
BASE_VTK = (
    "vtkmodules.vtkRenderingOpenGL2",
    "vtkmodules.vtkRenderingCore",
    "vtkmodules.vtkInteractionStyle",
    "vtkmodules.vtkRenderingFreeType",
    "vtkmodules.vtkRenderingUI",
    "vtkmodules.vtkRenderingVolumeOpenGL2",
    "vtkmodules.vtkFiltersCore",
    "vtkmodules.vtkFiltersSources",
    "vtkmodules.vtkFiltersGeneral",
    "vtkmodules.vtkIOImage",
    "vtkmodules.util.numpy_support",
    "vtkmodules.qt.QVTKRenderWindowInteractor",
)

_PROBE = r"""
import importlib, json, os, pkgutil, sys
sys.path.insert(0, os.environ["EBM_ROOT"])
failed = []
import app
for info in pkgutil.walk_packages(app.__path__, "app."):
    try:
        importlib.import_module(info.name)
    except Exception as exc:  # a module under construction must not stop the build
        failed.append(f"{info.name}: {type(exc).__name__}: {exc}")
for name in json.loads(os.environ["EBM_BASE_VTK"]):
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed.append(f"{name}: {type(exc).__name__}: {exc}")
mods = sorted(sys.modules)
print(json.dumps({
    "vtk": [m for m in mods if m.startswith("vtkmodules.")],
    "qt": sorted({m.split(".")[1] for m in mods if m.startswith("PySide6.Qt")}),
    "failed": failed,
}))
"""


def scan(python: str = sys.executable) -> dict:
    """Import the whole app headless; return ``{"vtk": [...], "qt": [...], "failed": [...]}``."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "EBM_ROOT": str(ROOT),
           "EBM_BASE_VTK": json.dumps(BASE_VTK)}
    out = subprocess.run([python, "-c", _PROBE], env=env, capture_output=True, text=True,
                         timeout=600, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"import scan failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def all_qt_modules() -> list[str]:
    """Every ``PySide6.Qt*`` extension module installed."""
    import PySide6

    folder = Path(PySide6.__file__).parent
    return sorted({p.name.split(".")[0] for p in folder.iterdir()
                   if p.name.startswith("Qt") and p.suffix in (".so", ".pyd")})


if __name__ == "__main__":
    print(json.dumps(scan(), indent=2))
