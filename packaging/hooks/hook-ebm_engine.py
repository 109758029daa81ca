"""PyInstaller hook: every engine module (registries are discovered by scanning
packages, so nothing imports most of them by name)."""

from PyInstaller.utils.hooks import collect_submodules

hiddenimports = collect_submodules("ebm_engine")
