"""Built-in demos and file readers, registered by the modules of this package.

A demo is a named dataset that ships with the packages (nothing is
downloaded) plus a preset (``resources/presets/<preset>.json``) that gives
good results on a 2-core CPU. A reader turns a file or folder into a
:class:`~ebm_engine.data.dataset.Dataset`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ebm_engine.config import DataConfig
from ebm_engine.data.dataset import Dataset
from ebm_engine.plugins import import_submodules

Loader = Callable[[DataConfig], Dataset]


@dataclass(frozen=True)
class DemoInfo:
    """A built-in demo.

    Attributes
    ----------
    name : str
        What ``--data`` takes.
    kind : str
        Data kind it yields.
    description : str
        One line for the catalogue.
    preset : str
        Preset file name (without ``.json``) in ``resources/presets``.
    expected_minutes : float
        Time for the preset to give visibly good results on a 2-core CPU.
    loader : callable
        ``loader(DataConfig) -> Dataset``.
    options : tuple of str
        The ``data.options`` keys it reads; any other key is refused
        (:mod:`ebm_engine.data.option_keys`).
    """

    name: str
    kind: str
    description: str
    preset: str
    expected_minutes: float
    loader: Loader
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReaderInfo:
    """A file reader: ``loader(path, DataConfig) -> Dataset``.

    Attributes
    ----------
    name : str
        What ``data.options.reader`` takes.
    extensions : tuple of str
        File types it reads when handed one file, lower-case with the dot
        (``.png``); the empty string means a folder.
    loader : callable
        ``loader(path, DataConfig) -> Dataset``.
    label : str
        What its items are, plural, for messages (``meshes``).
    folder_extensions : tuple of str
        File types it collects from a folder.
    auto : bool
        Whether a folder is read with it when its files dominate the folder
        (:func:`ebm_engine.data.detect.detect_reader`); ``False`` for
        readers only chosen by name (``video-frames``).
    cacheable : bool
        Whether what it decodes is kept in the decoded-data cache
        (:mod:`ebm_engine.data.cache`): true for the slow readers.
    stream : callable, optional
        ``stream(path, DataConfig, ItemSink) -> Dataset``: decodes item by
        item into a sink (:mod:`ebm_engine.data.sinks`), so a cache file is
        written without holding the dataset in memory; readers without it
        are cached from their in-memory result.
    options : tuple of str
        The ``data.options`` keys it reads, besides those every path takes
        (:data:`ebm_engine.data.option_keys.PATH_OPTIONS`).
    """

    name: str
    extensions: tuple[str, ...]
    loader: Callable[[Path, DataConfig], Dataset]
    label: str = ""
    folder_extensions: tuple[str, ...] = ()
    auto: bool = True
    cacheable: bool = False
    stream: Callable[..., Dataset] | None = None
    options: tuple[str, ...] = ()

    @property
    def reads_files(self) -> bool:
        """Whether it reads one file (some readers need a folder)."""
        return any(self.extensions)


_DEMOS: dict[str, DemoInfo] = {}
_READERS: list[ReaderInfo] = []


def demo(
    name: str, kind: str, description: str, preset: str | None = None, expected_minutes: float = 2.0,
    options: tuple[str, ...] = (),
) -> Callable[[Loader], Loader]:
    """Decorator registering a demo loader that reads the ``data.options`` keys ``options``."""

    def deco(loader: Loader) -> Loader:
        _DEMOS[name] = DemoInfo(name, kind, description, preset or name, expected_minutes, loader,
                                tuple(options))
        return loader

    return deco


def reader(
    name: str,
    extensions: tuple[str, ...],
    *,
    label: str = "",
    folder_extensions: tuple[str, ...] | None = None,
    auto: bool = True,
    cacheable: bool = False,
    stream: Callable[..., Dataset] | None = None,
    options: tuple[str, ...] = (),
) -> Callable:
    """Decorator registering a file reader for ``extensions``.

    ``folder_extensions`` (default: ``extensions``) are the files it reads
    from a folder; see :class:`ReaderInfo` for the rest.
    """
    exts = tuple(e.lower() for e in extensions)
    in_folder = exts if folder_extensions is None else folder_extensions
    in_folder = tuple(e.lower() for e in in_folder if e)

    def deco(loader: Callable[[Path, DataConfig], Dataset]) -> Callable:
        _READERS.append(ReaderInfo(name, exts, loader, label or name, in_folder, auto, cacheable,
                                   stream, tuple(options)))
        return loader

    return deco


def _load_all() -> None:
    import_submodules("ebm_engine.data")


def demos(measured: bool = True) -> dict[str, DemoInfo]:
    """All built-in demos by name, in registration order; ``expected_minutes``
    is the measured time where ``benchmarks.quality`` measured the demo (with
    ``measured=False``, the time each demo registered)."""
    from ebm_engine.data.measured import measurements

    _load_all()
    if not measured:
        return dict(_DEMOS)
    table = measurements()
    return {name: replace(info, expected_minutes=round(table[name].minutes, 1))
            if name in table else info for name, info in _DEMOS.items()}


def readers() -> list[ReaderInfo]:
    """All file readers."""
    _load_all()
    return list(_READERS)
