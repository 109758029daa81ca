"""Where the project's ``resources/`` folder is, in a checkout and in a bundle, and
the font files drawings use."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


def resources_dir() -> Path:
    """Return the ``resources/`` folder (presets, icons, style sheet, weights)."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def matplotlib_font(name: str) -> Path | None:
    """The font file ``name`` (e.g. ``DejaVuSans.ttf``) that matplotlib ships, or ``None``.

    Found through the package's location, so matplotlib is not imported (it
    comes with vtk, the app's 3D views; an engine-only install may lack it).
    """
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "fonts" / "ttf" / name
    return path if path.is_file() else None


def font_file(name: str) -> Path | None:
    """The font file ``name``: the bundle's copy in ``resources/fonts`` (the frozen
    app has no matplotlib; ``packaging/ebm-studio.spec`` copies the file), else
    :func:`matplotlib_font`'s, else ``None``."""
    bundled = resources_dir() / "fonts" / name
    return bundled if bundled.is_file() else matplotlib_font(name)
