"""The PyInstaller bundle's spec, entry point and hooks, checked without building it
(building is ``make bundle-test``, see ``tests/test_bundle.py``)."""

from __future__ import annotations

import importlib.util
import os
import runpy
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

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


def _hook_datas(name: str) -> list[tuple[str, str]]:
    """``datas`` of ``packaging/hooks/hook-NAME.py``; with PyInstaller's own
    ``collect_data_files`` when it is installed, else an equivalent walk."""
    try:
        import PyInstaller.utils.hooks  # noqa: F401
    except ImportError:
        def collect_data_files(package, include_py_files=False, subdir=None, **_):
            base = Path(importlib.util.find_spec(package).origin).parent
            top = base.parents[package.count(".")]  # site-packages: "skimage/data", not "data"
            out = []
            for path in (base / (subdir or "")).rglob("*"):
                if path.is_file() and (include_py_files or path.suffix not in (".py", ".pyc")):
                    out.append((str(path), str(path.parent.relative_to(top))))
            return out

        fake = types.ModuleType("PyInstaller.utils.hooks")
        fake.collect_data_files = collect_data_files
        fake.collect_submodules = lambda package, filter=None, **_: []  # modules: not checked
        mods = {"PyInstaller": types.ModuleType("PyInstaller"),
                "PyInstaller.utils": types.ModuleType("PyInstaller.utils"),
                "PyInstaller.utils.hooks": fake}
        saved = {k: sys.modules.get(k) for k in mods}
        sys.modules.update(mods)
        try:
            return runpy.run_path(str(PACKAGING / "hooks" / f"hook-{name}.py"))["datas"]
        finally:
            for k, v in saved.items():
                if v is None:
                    sys.modules.pop(k, None)
                else:
                    sys.modules[k] = v
    return runpy.run_path(str(PACKAGING / "hooks" / f"hook-{name}.py"))["datas"]


def test_rdkit_hook_collects_the_data_files_the_engine_reads() -> None:
    """PyInstaller takes RDKit's modules, not ``rdkit/Data``: the bundle's molecules
    demo and `ebm eval --run zoo:molecules-latent-seq` said "RDKit's NCI SMILES file
    is missing from this RDKit install"."""
    pytest.importorskip("rdkit")
    from rdkit import RDConfig

    from ebm_engine.data.molecules import nci_smiles_path

    site = Path(importlib.util.find_spec("rdkit").origin).parent.parent
    bundled = {Path(dest) / Path(src).name for src, dest in _hook_datas("rdkit")}
    data = Path(RDConfig.RDDataDir)
    for path in (nci_smiles_path(), data / "Crippen.txt", data / "FragmentDescriptors.csv"):
        assert path.is_file(), path
        assert path.relative_to(site) in bundled, f"{path} is left out of the bundle"


def test_skimage_hook_collects_the_pictures_the_demos_read(monkeypatch) -> None:
    """The texture demos and single-image read pictures inside scikit-image's package;
    the bundle had none of them (`ebm train --data texture-brick` ended in a
    traceback: "requires the installation of an optional dependency, pooch")."""
    pytest.importorskip("skimage")
    import skimage.data
    from skimage.data import _fetchers

    from ebm_engine.data.single_image import PHOTOS, TEXTURES

    read: list[str] = []
    fetch = _fetchers._fetch

    def recording(name, *args, **kwargs):
        read.append(name)
        return fetch(name, *args, **kwargs)

    monkeypatch.setattr(_fetchers, "_fetch", recording)
    for name in sorted(set(PHOTOS) | set(TEXTURES)):
        getattr(skimage.data, name)()
    assert len(read) >= len(set(PHOTOS) | set(TEXTURES))
    bundled = {(Path(dest) / Path(src).name).as_posix() for src, dest in _hook_datas("skimage.data")}
    missing = sorted({f"skimage/{name}" for name in read} - bundled)
    assert not missing, f"left out of the bundle: {missing}"
