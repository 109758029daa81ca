"""Datasets: built-in demos, file readers and the in-memory :class:`Dataset`."""

from __future__ import annotations

from pathlib import Path

from ebm_engine.config import DataConfig
from ebm_engine.data.catalogue import DemoInfo, demos, readers
from ebm_engine.data.dataset import KINDS, Dataset, to_display
from ebm_engine.errors import DataError

__all__ = ["KINDS", "Dataset", "DemoInfo", "demos", "load_dataset", "readers", "to_display"]


def load_dataset(cfg: DataConfig) -> Dataset:
    """Load the demo or file ``cfg.source`` names.

    Raises
    ------
    DataError
        The source is neither a demo nor a readable file or folder.
    """
    catalogue = demos()
    if cfg.source in catalogue:
        dataset = catalogue[cfg.source].loader(cfg)
    else:
        dataset = _read_path(Path(cfg.source).expanduser(), cfg)
    if cfg.max_items and len(dataset) > cfg.max_items:
        dataset.items = dataset.items[: cfg.max_items].contiguous()
    return dataset


def _read_path(path: Path, cfg: DataConfig) -> Dataset:
    if not path.exists():
        names = ", ".join(demos())
        raise DataError(f"{path}: no such file or folder, and not a demo ({names})")
    ext = "" if path.is_dir() else path.suffix.lower()
    # data.options.reader picks a reader by name (e.g. a folder of video frames).
    forced = cfg.options.get("reader")
    for info in readers():
        if (info.name == forced) if forced else (ext in info.extensions):
            return info.loader(path, cfg)
    if forced:
        raise DataError(f"data.options.reader {forced!r} is not one of {[r.name for r in readers()]}")
    known = sorted({e for r in readers() for e in r.extensions if e})
    raise DataError(f"{path}: unsupported file type {ext!r} (known: {' '.join(known)}, or a folder)")
