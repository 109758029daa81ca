"""Datasets: built-in demos, file readers and the in-memory :class:`Dataset`."""

from __future__ import annotations

from pathlib import Path

from ebm_engine.config import DataConfig
from ebm_engine.data.catalogue import DemoInfo, demos, readers
from ebm_engine.data.dataset import KINDS, Dataset, to_display
from ebm_engine.data.detect import (
    applicable_readers,
    describe,
    detect_reader,
    path_exists,
    reader_info,
    reader_label,
)
from ebm_engine.errors import DataError
from ebm_engine.suggest import did_you_mean

__all__ = [
    "KINDS",
    "Dataset",
    "DemoInfo",
    "applicable_readers",
    "demos",
    "describe",
    "detect_reader",
    "load_dataset",
    "reader_label",
    "readers",
    "to_display",
]


def load_dataset(cfg: DataConfig) -> Dataset:
    """Load the demo or file ``cfg.source`` names.

    A path is read by the reader its content calls for
    (:func:`~ebm_engine.data.detect.detect_reader`) unless
    ``cfg.options["reader"]`` names one (``""`` also means "detect").

    Raises
    ------
    DataError
        The source is neither a demo nor a readable file or folder, or is a
        folder of mixed kinds with no reader chosen.
    """
    catalogue = demos()
    if cfg.source in catalogue:
        dataset = catalogue[cfg.source].loader(cfg)
    else:
        dataset = _read_path(_as_path(cfg.source), cfg)
    if cfg.max_items and len(dataset) > cfg.max_items:
        dataset.items = dataset.items[: cfg.max_items].contiguous()
    return dataset


def _as_path(source: str) -> Path:
    try:
        return Path(source).expanduser()
    except RuntimeError:  # "~user/…" for a user that does not exist
        return Path(source)


def _read_path(path: Path, cfg: DataConfig) -> Dataset:
    if not path_exists(path):
        hint = did_you_mean(str(path), demos())
        raise DataError(
            f"{path}: no such file or folder, and not a demo{hint}; "
            f"demos: {', '.join(demos())}"
        )
    # data.options.reader picks a reader by name (e.g. a folder of video
    # frames, or one kind out of a mixed folder); otherwise the content decides.
    # "" (what the app sends for "automatic") is the same as no choice.
    forced = cfg.options.get("reader")
    if forced is not None and not isinstance(forced, str):
        raise DataError(f"data.options.reader must be a reader name, got {forced!r}")
    info = reader_info(forced or detect_reader(path)[0])
    if path.is_dir() and not info.folder_extensions:
        raise DataError(f"{path}: the {info.name} reader reads one file, not a folder")
    if not path.is_dir() and not info.reads_files:
        raise DataError(f"{path}: the {info.name} reader needs a folder, not a file")
    dataset = info.loader(path, cfg)
    dataset.meta.setdefault("reader", info.name)
    return dataset
