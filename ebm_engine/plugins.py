"""Discovery for the registries (models, learning methods, demos and readers,
app views): each module of a package registers itself with a decorator when
imported, so a new plugin is just a new file."""

from __future__ import annotations

import functools
import importlib
import pkgutil


@functools.cache
def import_submodules(package: str) -> None:
    """Import every public (not ``_``-prefixed) module of ``package``, once."""
    pkg = importlib.import_module(package)
    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")
