"""Datasets: built-in demos, file readers, the decoded-data cache and :class:`Dataset`."""

from __future__ import annotations

from pathlib import Path

from ebm_engine.config import DataConfig
from ebm_engine.data import cache, labelled, progress
from ebm_engine.data.catalogue import DemoInfo, ReaderInfo, demos, readers
from ebm_engine.data.dataset import KINDS, Dataset, to_display
from ebm_engine.data.detect import (
    applicable_readers,
    describe,
    detect_reader,
    path_exists,
    reader_info,
    reader_label,
)
from ebm_engine.data.option_keys import check_options
from ebm_engine.errors import DataError
from ebm_engine.suggest import did_you_mean

__all__ = [
    "KINDS",
    "Dataset",
    "DemoInfo",
    "applicable_readers",
    "check_options",
    "check_recorded_source",
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
    What the slow readers decode (image folders, videos, voxel grids,
    meshes, point files) goes through the decoded-data cache
    (:mod:`ebm_engine.data.cache`; ``data.options.cache = false`` turns it
    off): the first load decodes, with a progress bar on stderr when that
    takes a while, and later loads map the cache file.

    Raises
    ------
    DataError
        The source is neither a demo nor a readable file or folder, is a
        folder of mixed kinds with no reader chosen, or ``cfg.options`` has
        a key its demo or reader does not read.
    """
    catalogue = demos()
    if cfg.source in catalogue:
        check_options(cfg)
        dataset = catalogue[cfg.source].loader(cfg)
    else:
        dataset = _read_path(_as_path(cfg.source), cfg)
        if labelled.wanted(cfg):  # users' labels or targets for conditional learning
            dataset = labelled.attach(dataset, _as_path(cfg.source), cfg)
    if cfg.max_items and len(dataset) > cfg.max_items:
        dataset.keep_first(cfg.max_items)
    return dataset


def check_recorded_source(cfg: DataConfig, run: str | Path) -> None:
    """Say plainly when a saved run's training data has gone from where it was.

    ``ebm eval`` and ``--resume`` read the data again; "no such file or folder,
    and not a demo; demos: …" would not tell the user it is *this run's* data.

    Parameters
    ----------
    cfg : DataConfig
        The run's data settings.
    run : path
        The run folder (named in the message).

    Raises
    ------
    DataError
        ``cfg.source`` is a path (not a demo) that no longer exists, or a
        relative one not found from the current folder.
    """
    path = _as_path(cfg.source)
    if cfg.source in demos() or path_exists(path):
        return
    if not path.is_absolute():  # relative to wherever training was started
        from ebm_engine.runs.data_record import read_record

        record = read_record(run) or {}
        where = record.get("source")
        was = f" (it was {where} when the run began)" if where and where != cfg.source else ""
        raise DataError(f"this run's training data {cfg.source} is not found from {Path.cwd()}"
                        f"{was}; the run {run} names it relative to the folder its training "
                        f"was started in: run from that folder")
    raise DataError(f"this run's training data {cfg.source} is no longer there (the run "
                    f"{run} was trained on it, and evaluating or resuming reads it again): "
                    f"put it back at that path")


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
    check_options(cfg)  # before the cache is asked: a hit would skip the reader's check
    chosen: list[ReaderInfo] = []

    def pick() -> ReaderInfo:
        if not chosen:
            info = reader_info(forced or detect_reader(path)[0])
            if path.is_dir() and not info.folder_extensions:
                raise DataError(f"{path}: the {info.name} reader reads one file, not a folder")
            if not path.is_dir() and not info.reads_files:
                raise DataError(f"{path}: the {info.name} reader needs a folder, not a file")
            check_options(cfg, info)  # another reader's options mean nothing to this one
            chosen.append(info)
        return chosen[0]

    # One file's reader is known from its name: ask the cache only for slow ones.
    # A folder's needs its content, so the cache is asked first (a hit skips
    # the detection, which lists the folder once more).
    dataset = None
    if path.is_dir() or pick().cacheable:
        dataset = cache.load(path, cfg, pick)
    if dataset is None:
        with progress.decoding(f"decoding {path.name or path}", show=progress.is_first_rank()):
            dataset = pick().loader(path, cfg)
    if "reader" not in dataset.meta:  # a cache hit knows it without detection
        dataset.meta["reader"] = pick().name
    return dataset
