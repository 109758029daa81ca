"""``data.options`` keys are checked against what the demo or the reader reads.

Each demo and reader declares the keys it reads when it registers
(:func:`~ebm_engine.data.catalogue.demo`, :func:`~ebm_engine.data.catalogue.reader`).
Any other key would be a silent no-op (``data.options.max_items`` where
``data.max_items`` was meant), so a new setting with one is refused with one
line that names the keys there are (a run saved before the check drops
them: :func:`ebm_engine.learning.saved_config.saved_run_config`).
"""

from __future__ import annotations

import difflib

from ebm_engine.config import DataConfig
from ebm_engine.data import labelled
from ebm_engine.data.cache import CACHE_OPTIONS
from ebm_engine.data.catalogue import ReaderInfo, demos, readers
from ebm_engine.data.detect import detect_reader, reader_info
from ebm_engine.errors import DataError
from ebm_engine.suggest import did_you_mean

#: Keys every file or folder takes, whichever reader reads it.
PATH_OPTIONS: tuple[str, ...] = ("reader", *CACHE_OPTIONS, *labelled.OPTIONS)

#: DataConfig's own settings: the likeliest meaning of such a key under options.
DATA_SETTINGS: tuple[str, ...] = ("image_size", "grayscale", "crop", "max_items")


def check_options(cfg: DataConfig, reader: ReaderInfo | None = None) -> None:
    """Refuse ``cfg.options`` keys that the demo or reader does not read.

    Parameters
    ----------
    cfg : DataConfig
        The data settings; ``cfg.source`` is a demo name or a path.
    reader : ReaderInfo, optional
        The reader chosen for a path. Without it, a path's keys are checked
        against the reader ``data.options.reader`` names, else against every
        reader's (the content decides the reader later).

    Raises
    ------
    DataError
        One line naming the first unknown key and the keys there are.
    """
    known, owner = _known(cfg, reader)
    key = next(iter(_unknown(cfg, known)), None)
    if key is None:
        return
    hint = did_you_mean(key, known)
    field = difflib.get_close_matches(key, DATA_SETTINGS, n=1)
    if field and not hint:
        hint = f" (did you mean data.{field[0]}?)"
    if not known:
        raise DataError(f"data.options.{key}: {owner} takes no data.options{hint}")
    refusal = f"{owner} takes no such option" if owner else "no reader takes such an option"
    raise DataError(f"data.options.{key}: {refusal}{hint}; options: {', '.join(known)}")


def unknown_options(cfg: DataConfig) -> list[str]:
    """The ``cfg.options`` keys that its demo, or the reader of its path, does not read
    (any reader's keys pass where the path is gone or its reader cannot be told)."""
    reader = None
    if cfg.source not in demos() and not cfg.options.get("reader"):
        try:
            reader = reader_info(detect_reader(cfg.source)[0])
        except (DataError, OSError):
            pass  # gone or unreadable: any reader's keys pass
    known, _ = _known(cfg, reader)
    return _unknown(cfg, known)


def _known(cfg: DataConfig, reader: ReaderInfo | None) -> tuple[tuple[str, ...], str | None]:
    """The keys ``cfg``'s demo or reader reads, and who reads them (``None``: any reader)."""
    catalogue = demos()
    if cfg.source in catalogue:
        return catalogue[cfg.source].options, f"the {cfg.source} demo"
    if reader is None:
        forced = cfg.options.get("reader")
        reader = next((r for r in readers() if r.name == forced), None)
    if reader is not None:
        return tuple(dict.fromkeys(PATH_OPTIONS + reader.options)), f"the {reader.name} reader"
    return tuple(dict.fromkeys(PATH_OPTIONS + tuple(k for r in readers() for k in r.options))), None


def _unknown(cfg: DataConfig, known: tuple[str, ...]) -> list[str]:
    # an empty reader choice ("automatic" in the app) is no choice, even for a demo
    return [k for k, v in cfg.options.items()
            if k not in known and not (k == "reader" and v in (None, ""))]
