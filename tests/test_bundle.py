"""The PyInstaller bundle builds and passes its self-test (``make bundle-test``).

Building takes minutes, so those tests are marked ``bundle`` and left out of
``make test``, which runs the same self-test from the checkout instead.
Set ``EBM_BUNDLE_PREBUILT=1`` to test an existing ``dist/ebm-studio`` without rebuilding.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _build_module():
    spec = importlib.util.spec_from_file_location("ebm_build", ROOT / "packaging" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bundle():
    pytest.importorskip("PyInstaller")
    build = _build_module()
    if not (os.environ.get("EBM_BUNDLE_PREBUILT") and build.EXE.is_file()):
        build.build()
    return build


def test_self_test_passes_from_the_checkout(tmp_path: Path) -> None:
    """What ``ebm-studio --self-test`` runs, in a fresh interpreter (VTK window classes
    are chosen once per process)."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "EBM_SELF_TEST_DIR": str(tmp_path)}
    env.pop("VTK_DEFAULT_OPENGL_WINDOW", None)
    proc = subprocess.run([sys.executable, "-m", "app.self_test"], env=env, capture_output=True,
                          text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "self-test: ok" in proc.stdout
    assert (tmp_path / "self-test.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.bundle
def test_bundle_self_test_trains_and_renders(bundle, tmp_path: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "EBM_SELF_TEST_DIR": str(tmp_path)}
    env.pop("VTK_DEFAULT_OPENGL_WINDOW", None)  # let the self-test pick OSMesa or EGL
    proc = subprocess.run([str(bundle.EXE), "--self-test"], env=env, capture_output=True,
                          text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "trained 5 iterations" in proc.stdout and "self-test: ok" in proc.stdout
    png = tmp_path / "self-test.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.bundle
def test_bundle_contents_are_trimmed(bundle) -> None:
    files = {p.name for p in bundle.BUNDLE.rglob("*")}
    assert any(n.startswith("QtWidgets") for n in files)
    for unused in ("QtQml", "QtQuick", "QtSql", "QtDesigner"):
        assert not any(n.startswith(unused + ".") for n in files), f"{unused} was bundled"
    assert any(n.startswith("vtkRenderingOpenGL2") for n in files)
    assert (bundle.BUNDLE / "_internal" / "resources" / "presets" / "toy2d.json").is_file()
    # the About cards and the pretrained zoo travel with the app
    assert (bundle.BUNDLE / "_internal" / "resources" / "about" / "method-ml.md").is_file()
    # the text sample PNG's font (matplotlib itself is left out)
    assert (bundle.BUNDLE / "_internal" / "resources" / "fonts" / "DejaVuSans.ttf").is_file()
    from ebm_engine.runs import zoo

    for entry in zoo.entries():
        assert (bundle.BUNDLE / "_internal" / "resources" / "zoo" / entry / "config.json").is_file()
    info = json.loads(bundle.INFO.read_text())
    assert info["size_bytes"] > 0 and info["build_seconds"] > 0


@pytest.mark.bundle
def test_bundle_ebm_is_the_command_line(bundle, tmp_path: Path) -> None:
    """`dist/ebm-studio/ebm` answers as `python -m ebm_engine`, and reads what the
    engine reads from inside RDKit (the molecules data, its drawings) and
    scikit-image (pictures)."""
    ebm = bundle.BUNDLE / ("ebm.exe" if os.name == "nt" else "ebm")
    assert ebm.is_file()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}

    def run(*args: str, exe=(str(ebm),)) -> subprocess.CompletedProcess:
        return subprocess.run([*exe, *args], env=env, capture_output=True, text=True,
                              timeout=600, cwd=tmp_path)

    frozen, checkout = run("demos"), run("demos", exe=(sys.executable, "-m", "ebm_engine"))
    assert frozen.returncode == 0, frozen.stderr[-3000:]
    assert frozen.stdout == checkout.stdout
    assert (bundle.BUNDLE / "_internal" / "rdkit" / "Data" / "NCI" / "first_5K.smi").is_file()
    png = tmp_path / "m.png"
    drawn = run("sample", "--run", "zoo:molecules-latent-seq", "--n", "8", "--out", str(png))
    assert drawn.returncode == 0 and png.read_bytes()[:4] == b"\x89PNG", drawn.stderr[-3000:]
    scored = run("eval", "--run", "zoo:molecules-latent-seq", "--n", "20", "--no-write")
    assert scored.returncode == 0, scored.stderr[-3000:]
    # the pictures inside scikit-image (texture demos, single-image's photo)
    for demo in ("texture-brick", "single-image"):
        trained = run("train", "--data", demo, "--steps", "1", "--out", str(tmp_path / demo))
        assert trained.returncode == 0, f"{demo}: {trained.stderr[-3000:]}"
