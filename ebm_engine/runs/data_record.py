"""What data a run was trained on, so that training on other data is said.

``RUN/data.json`` holds the source, the item count and shape, and a
fingerprint of the items (a hash of up to :data:`SAMPLED` of them, spread
evenly, as stored). Resuming, or evaluating, a run whose source now holds
other items (pictures deleted or added, an array overwritten) gets one line
saying so, instead of silently training or scoring on different data.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from ebm_engine import atomic
from ebm_engine.data.dataset import Dataset

DATA_FILE = "data.json"
SAMPLED = 4096
"""Items hashed at most (the first, the last and evenly between)."""


def describe(dataset: Dataset) -> dict[str, Any]:
    """What ``dataset`` is, for :data:`DATA_FILE`.

    Parameters
    ----------
    dataset : Dataset
        The training data.

    Returns
    -------
    dict
        ``source``, ``items`` (count), ``item_shape`` and ``fingerprint`` (16 hex
        digits of a SHA-256 over the count, the shape and up to :data:`SAMPLED` items),
        and ``class_names`` where the data has named classes.
    """
    stored = dataset.stored
    n = len(stored)
    picks = np.unique(np.linspace(0, n - 1, min(n, SAMPLED)).astype(int)) if n else []
    digest = hashlib.sha256(f"{n}:{tuple(stored.shape[1:])}".encode())
    for i in picks:
        digest.update(stored[int(i)].contiguous().cpu().numpy().tobytes())
    out = {"source": dataset.name, "items": n, "item_shape": list(stored.shape[1:]),
           "fingerprint": digest.hexdigest()[:16]}
    names = dataset.meta.get("class_names")
    if names:  # a user's labels: what class k is called (sampling a class takes its name)
        out["class_names"] = [str(name) for name in names]
    return out


def class_names(run: str | Path | None) -> list[str]:
    """The class names ``run`` was trained with (its user's labels).

    Parameters
    ----------
    run : path or None
        The run folder.

    Returns
    -------
    list of str
        Class ``k``'s name at ``k``; empty for data without named classes, or a run
        from before names were recorded.
    """
    record = read_record(run) if run is not None else None
    names = (record or {}).get("class_names")
    return [str(n) for n in names] if isinstance(names, list) else []


def record(run: str | Path, dataset: Dataset) -> None:
    """Write ``RUN/data.json`` for a new run (atomically).

    Parameters
    ----------
    run : path
        The run folder.
    dataset : Dataset
        What it trains on.
    """
    atomic.write_text(Path(run) / DATA_FILE, json.dumps(describe(dataset), indent=2) + "\n")


def read_record(run: str | Path) -> dict[str, Any] | None:
    """``RUN/data.json`` as a dict.

    Parameters
    ----------
    run : path
        The run folder.

    Returns
    -------
    dict or None
        Its record, or ``None`` (absent, unreadable, or a run from before it).
    """
    try:
        then = json.loads((Path(run) / DATA_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return then if isinstance(then, dict) else None


def changed(run: str | Path, dataset: Dataset) -> str | None:
    """Whether ``dataset`` is the data ``run`` was trained on.

    Parameters
    ----------
    run : path
        The run folder.
    dataset : Dataset
        The data loaded now from the run's source.

    Returns
    -------
    str or None
        One line saying how it differs, or ``None`` (also for a run from
        before ``data.json`` was written).
    """
    then = read_record(run)
    now = describe(dataset)
    if then is None or then.get("fingerprint") == now["fingerprint"]:
        return None
    count = (f"{then.get('items')} items then, {now['items']} now"
             if then.get("items") != now["items"] else f"the same {now['items']} items in "
             "number, other in content")
    return (f"the training data at {now['source']} is not what this run was trained on "
            f"({count})")
