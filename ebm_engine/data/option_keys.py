"""``data.options`` keys are checked against what the demo or the reader reads.

Each demo and reader declares the keys it reads when it registers
(:func:`~ebm_engine.data.catalogue.demo`, :func:`~ebm_engine.data.catalogue.reader`).
Any other key would be a silent no-op (``data.options.max_items`` where
``data.max_items`` was meant), so it is refused with one line that names
the keys there are.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from ebm_engine.config import DataConfig
from ebm_engine.data import labelled
from ebm_engine.data.cache import CACHE_OPTIONS
from ebm_engine.data.catalogue import DemoInfo, ReaderInfo, demos, readers
from ebm_engine.errors import DataError
from ebm_engine.suggest import did_you_mean

#: Keys every file or folder takes, whichever reader reads it.
PATH_OPTIONS: tuple[str, ...] = ("reader", *CACHE_OPTIONS, *labelled.OPTIONS)

# DataConfig's own fields: the likeliest meaning of such a key under options.
_FIELDS = ("image_size", "grayscale", "crop", "max_items")


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
    given = [k for k, v in cfg.options.items() if not (k == "reader" and v in (None, ""))]
    catalogue = demos()
    if cfg.source in catalogue:
        info: DemoInfo = catalogue[cfg.source]
        _refuse(given, info.options, f"the {info.name} demo")
        return
    if reader is None:
        forced = cfg.options.get("reader")
        reader = next((r for r in readers() if r.name == forced), None)
    if reader is not None:
        _refuse(given, PATH_OPTIONS + reader.options, f"the {reader.name} reader")
    else:
        known = PATH_OPTIONS + tuple(k for r in readers() for k in r.options)
        _refuse(given, known, None)


def _refuse(given: Iterable[str], known: tuple[str, ...], owner: str | None) -> None:
    """Raise for the first key of ``given`` not in ``known`` (``owner``: ``None`` for any reader)."""
    known = tuple(dict.fromkeys(known))
    for key in given:
        if key in known:
            continue
        hint = did_you_mean(key, known)
        field = difflib.get_close_matches(key, _FIELDS, n=1)
        if field and not hint:
            hint = f" (did you mean data.{field[0]}?)"
        if not known:
            raise DataError(f"data.options.{key}: {owner} takes no data.options{hint}")
        refusal = f"{owner} takes no such option" if owner else "no reader takes such an option"
        raise DataError(f"data.options.{key}: {refusal}{hint}; options: {', '.join(known)}")
