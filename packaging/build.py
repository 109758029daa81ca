"""Build the one-folder bundle ``dist/ebm-studio/`` (what ``make bundle`` runs).

::

    python packaging/build.py [--self-test] [--keep-build]

Runs PyInstaller on ``packaging/ebm-studio.spec``, then prints (and writes to
``dist/ebm-studio-build.json``) the build time and the bundle's size. With
``--self-test`` it runs ``dist/ebm-studio/ebm-studio --self-test`` afterwards
and exits with its status.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "packaging" / "ebm-studio.spec"
DIST = ROOT / "dist"
WORK = ROOT / "build" / "pyinstaller"
BUNDLE = DIST / "ebm-studio"
EXE = BUNDLE / ("ebm-studio.exe" if os.name == "nt" else "ebm-studio")
INFO = DIST / "ebm-studio-build.json"


def folder_size(folder: Path) -> tuple[int, int]:
    """Total bytes and number of files under ``folder`` (links not followed)."""
    total = count = 0
    for dirpath, _, files in os.walk(folder):
        for name in files:
            p = Path(dirpath) / name
            if not p.is_symlink():
                total += p.stat().st_size
                count += 1
    return total, count


def build(keep_build: bool = False) -> dict:
    """Run PyInstaller; return the build facts (seconds, bytes, files)."""
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        sys.exit("build.py: PyInstaller is not installed; run `pip install '.[bundle]'` "
                 "(or `make bundle`)")
    import torch

    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
           "--distpath", str(DIST), "--workpath", str(WORK), str(SPEC)]
    print("build.py:", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)
    seconds = time.perf_counter() - t0
    if not keep_build:
        shutil.rmtree(WORK, ignore_errors=True)
    size, files = folder_size(BUNDLE)
    info = {
        "bundle": str(BUNDLE.relative_to(ROOT)),
        "build_seconds": round(seconds, 1),
        "size_bytes": size,
        "size_mib": round(size / 1024**2, 1),
        "files": files,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    INFO.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    print(f"build.py: built {BUNDLE} in {seconds / 60:.1f} min; "
          f"{size / 1024**2:.0f} MiB in {files} files", flush=True)
    return info


def self_test(timeout: float = 600.0) -> int:
    """Run the bundle's ``--self-test`` headless; return its exit status."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    t0 = time.perf_counter()
    proc = subprocess.run([str(EXE), "--self-test"], env=env, timeout=timeout, check=False)
    print(f"build.py: {EXE.name} --self-test exited {proc.returncode} "
          f"in {time.perf_counter() - t0:.1f} s", flush=True)
    return proc.returncode


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--self-test", action="store_true", help="run the bundle's --self-test after")
    p.add_argument("--keep-build", action="store_true", help="keep PyInstaller's work folder")
    args = p.parse_args(argv)
    build(args.keep_build)
    return self_test() if args.self_test else 0


if __name__ == "__main__":
    sys.exit(main())
