"""The pretrained model zoo: run folders shipped in ``resources/zoo/NAME/``.

::

    zoo/NAME/config.json            the run's config (a plain ``ebm train`` made it)
    zoo/NAME/checkpoints/iter_N/    its one checkpoint (see :mod:`.checkpoint`), without
                                    optimiser state; float16 weights where float32 would
                                    pass 5 MB (``zoo.json`` says which)
    zoo/NAME/checkpoints/latest     names that checkpoint
    zoo/NAME/eval.json              ``ebm eval`` of that checkpoint (the honest metric)
    zoo/NAME/samples.png            a sample grid (or a picture of 3D / symbol samples)
    zoo/NAME/zoo.json               how to rebuild it: the command, the preset, the time

Every place that takes a run folder also takes ``zoo:NAME`` (see :func:`resolve`).
The zoo is read-only: ``ebm eval`` does not write its ``eval.json`` back and
``ebm train --resume zoo:NAME --out NEW`` continues in a copy
(:func:`ebm_engine.runs.fork.fork_run`) with fresh optimisers (its ``resumed``
event says so). Entries are rebuilt by
``python -m benchmarks.build_zoo NAME``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ebm_engine.errors import ConfigError
from ebm_engine.metrics.direction import REFERENCE, hint, label_of
from ebm_engine.resources import resources_dir
from ebm_engine.runs import retention

PREFIX = "zoo:"
RECIPE_FILE = "zoo.json"
SAMPLES_FILE = "samples.png"


def zoo_dir() -> Path:
    """``resources/zoo`` (in a checkout and in a bundle)."""
    return resources_dir() / "zoo"


@dataclass(frozen=True)
class ZooEntry:
    """One pretrained model.

    Attributes
    ----------
    name : str
        What ``zoo:NAME`` takes.
    path : Path
        Its run folder.
    method, data, kind, preset : str
        Learning method, data source (a demo name), data kind, preset it was trained with.
    metric : str
        The headline metric of its ``eval.json`` (``""`` if none), with its value and
        which way it improves.
    iteration : int
        Iterations it was trained for.
    size : int
        Bytes on disk.
    preset_iterations : int
        Iterations of a full run of its preset (0: unknown); an entry trained
        shorter says so (:meth:`iterations_text`).
    """

    name: str
    path: Path
    method: str
    data: str
    kind: str
    preset: str
    metric: str
    value: float
    better: str
    iteration: int
    size: int
    preset_iterations: int = 0

    @property
    def shortened(self) -> bool:
        """Trained for fewer iterations than its preset runs (a CPU budget)."""
        return 0 < self.iteration < self.preset_iterations

    def iterations_text(self) -> str:
        """``1500 iterations`` or ``600 iterations (shortened; the preset runs 2000)``."""
        text = f"{self.iteration} iterations"
        return f"{text} (shortened; the preset runs {self.preset_iterations})" \
            if self.shortened else text

    @property
    def samples_png(self) -> Path:
        return self.path / SAMPLES_FILE

    def metric_text(self) -> str:
        """``digits_fd 14.2 (lower is better)`` or ``not evaluated``."""
        if not self.metric:
            return "not evaluated"
        return f"{self.metric} {self.value:.4g} ({hint(self.better)})"


def _read_json(path: Path) -> dict:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return raw if isinstance(raw, dict) else {}


def _entry(folder: Path) -> ZooEntry:
    config = _read_json(folder / "config.json")
    evaluation = _read_json(folder / "eval.json")
    recipe = _read_json(folder / RECIPE_FILE)
    metrics = evaluation.get("metrics") or {}
    better = evaluation.get("better") or {}
    # The headline: the first metric that is a score, not a fact or a description.
    metric = next((k for k in metrics if label_of(better, k) != REFERENCE), "")
    return ZooEntry(
        name=folder.name,
        path=folder,
        method=str(config.get("train", {}).get("method", "ml")),
        data=str(config.get("data", {}).get("source", "")),
        kind=str(evaluation.get("kind", "")),
        preset=str(recipe.get("preset", "")),
        metric=metric,
        value=float(metrics[metric]) if metric else float("nan"),
        better=label_of(better, metric),
        iteration=int(evaluation.get("iteration", recipe.get("iterations", 0)) or 0),
        size=retention.disk_usage(folder),
        preset_iterations=int(recipe.get("preset_iterations") or 0),
    )


def entries() -> dict[str, ZooEntry]:
    """Every entry of the zoo by name (sorted); folders without ``config.json`` are skipped."""
    root = zoo_dir()
    if not root.is_dir():
        return {}
    return {p.name: _entry(p) for p in sorted(root.iterdir())
            if p.is_dir() and not p.name.startswith(".") and (p / "config.json").is_file()}


def entry(name: str) -> ZooEntry:
    """The entry ``name`` (with or without ``zoo:``); a bad name is one line with a hint."""
    from ebm_engine.suggest import did_you_mean

    name = name[len(PREFIX):] if name.startswith(PREFIX) else name
    known = entries()
    if name not in known:
        listed = ", ".join(known) or "none built yet"
        raise ConfigError(f"no zoo entry {name!r}{did_you_mean(name, known)}; "
                          f"known: {listed} (see `ebm zoo`)")
    return known[name]


def _inside_zoo(path: str | Path) -> bool:
    """Whether ``path``, links followed, lies in the zoo folder (or is it).

    ``os.path.realpath``, not ``Path.resolve``: a symlink loop or a name too long
    for the file system is then a path that is not in the zoo, not a traceback.
    """
    target = os.path.realpath(os.path.expanduser(os.fspath(path)))
    root = os.path.realpath(zoo_dir())
    return target == root or target.startswith(root.rstrip(os.sep) + os.sep)


def is_zoo(spec: str | Path) -> bool:
    """Whether ``spec`` names a zoo entry (``zoo:NAME``) or lies inside the zoo folder."""
    if isinstance(spec, str) and spec.startswith(PREFIX):
        return True
    return _inside_zoo(spec)


def check_outside(path: str | Path) -> None:
    """Refuse to write ``path`` where it lies inside the zoo, which is read-only.

    Every output goes through this (``--out`` of each command, a fork's target, a
    new run folder): ``ebm sample --out resources/zoo/NAME/samples.png`` replaced an
    entry's preview, and ``ebm train --out resources/zoo/NEW`` added an entry.

    Parameters
    ----------
    path : path
        Where something is about to be written (need not exist yet).

    Raises
    ------
    ConfigError
        ``path`` is in the zoo folder, links followed: one line saying so.
    """
    if _inside_zoo(path):
        raise ConfigError(f"{path} is inside the pretrained-model zoo ({zoo_dir()}), which is "
                          "read-only; write it to another folder")


def resolve(spec: str | Path) -> Path:
    """The folder ``spec`` names: ``zoo:NAME`` → ``resources/zoo/NAME``, else the path itself."""
    if isinstance(spec, str) and spec.startswith(PREFIX):
        return entry(spec).path
    return Path(spec)


def for_demo(demo: str, preset: str | None = None,
             known: dict[str, ZooEntry] | None = None) -> ZooEntry | None:
    """The entry a demo card loads: trained on ``demo`` with the demo's own
    ``preset`` if there is one, else any entry trained on ``demo``
    (``known``: :func:`entries`, when the caller already has them)."""
    found = [e for e in (known if known is not None else entries()).values() if e.data == demo]
    own = [e for e in found if preset and e.preset == preset]
    return (own or found or [None])[0]
