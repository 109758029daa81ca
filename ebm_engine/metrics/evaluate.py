"""Score a trained run: draw samples, compare them with the training data.

:func:`evaluate_samples` picks the metrics of the data kind;
:func:`evaluate_run` loads a run (or checkpoint), samples it and writes
``RUN/eval.json`` atomically (what ``ebm eval`` and the app's run summary show).

=========== ==========================================================
kind        metrics (see each module)
=========== ==========================================================
points      2D: ``kl_samples``, ``js_samples``, ``kl_model``, ``js_model``;
            other D: ``mmd_rbf`` and its floor (:mod:`.vectors`)
image       digits demo: ``digits_fd``, ``digits_kid`` and ``digits_fd_data``
            (as many data digits at random, all of them in the reference
            statistics: what copies of the data score at this n; unseen
            digits score more); other images (textures): ``gram_distance``
video       ``gram_appearance``, ``gram_motion``
voxel       ``mmd_iou``, ``cov_iou``, ``1nna_iou``, ``iou_nearest``
pointcloud  ``mmd_cd``, ``cov_cd``, ``1nna_cd``
            (voxels and point clouds: each also ``…_data``, as many other
            data items scored the same way, where the data has that many)
text        ``valid`` (grammar text; user text has no checker),
            ``distinct_1/2``, ``unique``, ``novel``,
            ``nll_heldout``; with an attribute ``attr_accuracy``,
            ``attr_chance``, ``attr_valid`` (:mod:`.symbols`)
molecule    ``valid``, ``unique``, ``novel``, ``logp/qed/mw_w1`` (RDKit)
trajectory  the method's own (navigation, ``ioc``: ``success``,
            ``cost_ratio``, ``ade`` and their ``_line``/``_bc`` baselines,
            :mod:`.navigation`)
=========== ==========================================================

A method whose task has its own metrics (conditional, prediction, control…)
defines ``evaluate(dataset, n, seed) -> {name: value}`` (baselines included,
measured in the same call) and a class attribute ``better = {name:
"lower"|"higher"|"0.5"}``; :func:`evaluate_run` then uses those instead of
the data kind's metrics.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ebm_engine import atomic
from ebm_engine.data.dataset import TOKEN_KINDS, Dataset
from ebm_engine.errors import CheckpointError
from ebm_engine.metrics.direction import hint, label_of
from ebm_engine.metrics.symbols import BETTER as SYMBOL_BETTER
from ebm_engine.runs import data_record, zoo
from ebm_engine.runs.rundir import run_folder_of

EVAL_FILE = "eval.json"

#: Which way each metric improves ("lower", "higher", "0.5" for 1-NNA; "reference":
#: not a score, :mod:`.direction`). Methods with their own metrics add theirs.
BETTER = {
    "kl_samples": "lower", "js_samples": "lower", "kl_model": "lower", "js_model": "lower",
    "digits_fd": "lower", "digits_kid": "lower", "gram_distance": "lower",
    "gram_appearance": "lower", "gram_motion": "lower",
    "mmd_iou": "lower", "cov_iou": "higher", "1nna_iou": "0.5", "iou_nearest": "higher",
    "mmd_cd": "lower", "cov_cd": "higher", "1nna_cd": "0.5",
    "mmd_rbf": "lower", "mmd_rbf_floor": "reference",
    **SYMBOL_BETTER,
}
# The same scores of data items in place of samples (copies would score as well): what a
# figure is read against, not a score to beat.
DATA_BASELINES = ("digits_fd", "mmd_iou", "cov_iou", "1nna_iou", "iou_nearest",
                  "mmd_cd", "cov_cd", "1nna_cd")
BETTER.update({f"{name}_data": "reference" for name in DATA_BASELINES})

#: Samples drawn by default per kind (set metrics cost O(n²) distances).
DEFAULT_N = {"points": 2000, "image": 500, "video": 16, "voxel": 100, "pointcloud": 100,
             "text": 500, "molecule": 500}
TEXTURE_DEFAULT_N = 32


def is_digits(dataset_name: str, item_shape: tuple[int, ...]) -> bool:
    """Whether the digits classifier applies (the ``digits`` demo's layout)."""
    return dataset_name == "digits" and tuple(item_shape) == (1, 16, 16)


def default_n(kind: str, dataset_name: str, item_shape: tuple[int, ...]) -> int:
    if kind == "image" and not is_digits(dataset_name, item_shape):
        return TEXTURE_DEFAULT_N
    return DEFAULT_N.get(kind, 100)


def _reference(items: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """A fixed random subset of ``n`` items (balanced sets for COV and 1-NNA)."""
    if len(items) <= n:
        return items
    idx = torch.randperm(len(items), generator=torch.Generator().manual_seed(seed))[:n]
    return items[idx]


def evaluate_samples(
    samples: np.ndarray | torch.Tensor,
    dataset: Dataset,
    energy_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> dict[str, float]:
    """The data kind's metrics of ``samples`` (model space) against ``dataset``.

    Parameters
    ----------
    samples : array ``(N, *item_shape)``
        Model samples in model space.
    dataset : Dataset
        The training data.
    energy_fn : callable, optional
        ``x ↦ E(x)``; for 2D points also scores the model's grid density.
    """
    from ebm_engine import metrics as m

    s = torch.as_tensor(np.asarray(samples) if not isinstance(samples, torch.Tensor) else samples)
    s = s.detach().float().cpu()
    items = dataset.items.cpu()
    kind = dataset.kind
    if kind == "points":
        if items.shape[1] == 2:
            return m.grid_divergences(items.numpy(), s.numpy(), energy_fn)
        from ebm_engine.metrics.vectors import vector_metrics  # any other D: kernel MMD

        return vector_metrics(s.numpy(), items.numpy())
    if kind == "image":
        if is_digits(dataset.name, dataset.item_shape):
            # the FD of n copies of the data at this n (a floor; it has a spread of its own)
            return {"digits_fd": m.digits_fd(s), "digits_kid": m.digits_kid(s),
                    "digits_fd_data": m.digits_fd(_reference(items, len(s), seed=1))}
        return {"gram_distance": m.gram_distance(s, items)}
    if kind == "video":
        return m.video_metrics(s, items)
    ref = _reference(items, len(s))
    if len(s) > len(ref):  # 1-NNA's 0.5 and COV hold for sets of one size only
        warnings.warn(f"scored {len(ref)} of the {len(s)} samples: the data has {len(ref)} "
                      "items, and COV and 1-NNA compare sets of one size", stacklevel=2)
        s = _reference(s, len(ref))
    if kind not in ("voxel", "pointcloud"):
        return {}
    score = m.voxel_metrics if kind == "voxel" else m.pointcloud_metrics
    out = score(s, ref)
    others = _others(items, len(s))  # n data items not in the reference, if there are
    if others is not None:
        out.update({f"{k}_data": v for k, v in score(others, ref).items()})
    return out


def _others(items: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor | None:
    """``n`` items outside :func:`_reference` ``(items, n, seed)`` (None: too few items)."""
    if len(items) < 2 * n:
        return None
    idx = torch.randperm(len(items), generator=torch.Generator().manual_seed(seed))
    return items[idx[n:2 * n]]


def eval_count(method: Any, dataset: Dataset) -> int:
    """Samples an evaluation draws by default: the method's ``default_eval_n``
    (a method with its own metrics may say how many it needs), else the data kind's."""
    return getattr(method, "default_eval_n", None) or default_n(dataset.kind, dataset.name,
                                                                dataset.item_shape)


def score_method(method: Any, dataset: Dataset, n: int, steps: int,
                 seed: int = 0) -> tuple[dict[str, float], dict[str, str]]:
    """Sample ``method`` and score it: its own task metrics when it defines
    ``evaluate``, else the data kind's.

    Returns
    -------
    values : dict
        ``{metric: value}``.
    better : dict
        ``{metric: "lower"|"higher"|"0.5"}``.
    """
    method.rng.manual_seed(seed)
    torch.manual_seed(seed)
    own = getattr(method, "evaluate", None)
    if callable(own):  # a method with its own metrics and same-run baselines
        values = own(dataset, n, seed)
    elif dataset.kind in TOKEN_KINDS:  # samples per attribute and a likelihood bound
        from ebm_engine.metrics.symbols import evaluate_symbols

        values = evaluate_symbols(method, dataset, n, seed)
    else:
        frames = list(method.sample(n, n_steps=steps))  # the last frame holds all n
        energy_fn = method.energy if dataset.kind == "points" else None
        values = evaluate_samples(frames[-1].x, dataset, energy_fn)
    values = {k: float(v) for k, v in values.items()}
    better = declared(method)
    return values, {k: label_of(better, k) for k in values}


def declared(method: Any) -> dict[str, str]:
    """Every metric's label (:mod:`.direction`): :data:`BETTER` and the
    method's own ``better`` (``method`` a class or an instance)."""
    return {**BETTER, **getattr(method, "better", {})}


def evaluate_run(
    path: str | Path,
    n: int | None = None,
    steps: int | None = None,
    *,
    seed: int = 0,
    device: str = "auto",
    write: bool = True,
) -> dict[str, Any]:
    """Sample a trained run and score it against its training data.

    Parameters
    ----------
    path : path
        Run folder (latest checkpoint), checkpoint folder or ``zoo:NAME`` (never written).
    n : int, optional
        Samples to draw (default: per data kind, e.g. 500 for digits).
    steps : int, optional
        Langevin steps (default: the method's ``sample_steps``: the run's
        ``sampler.n_steps``, or its per-grid / per-level steps).
    seed : int
        Seed of the sampling (same seed → same numbers on CPU).
    device : str
        ``auto``, ``cpu``, ``cuda`` or ``mps``.
    write : bool
        Write the result to ``RUN/eval.json`` (atomically).

    Returns
    -------
    dict
        ``metrics`` ``{name: value}``, ``better`` ``{name: label}`` (:mod:`.direction`),
        ``own_metrics`` (the method's task metrics, which read ``n`` as a budget),
        ``conditions`` (``held-out`` or ``training``: which items a conditional task
        was scored on; absent for other methods),
        ``kind``, ``data``, ``n``, ``steps``, ``checkpoint``, ``iteration``,
        ``seconds``, ``evaluated_at``; where a task's own metrics say how many items
        they read, ``items_scored`` (also ``n``) and, if fewer, ``n_asked``.
    """
    from ebm_engine.data import check_recorded_source, load_dataset
    from ebm_engine.data.tokens import in_vocabulary
    from ebm_engine.learning.loading import load_model

    t0 = time.perf_counter()
    loaded = load_model(path, device)
    check_recorded_source(loaded.cfg.data, zoo.resolve(path))
    dataset = load_dataset(loaded.cfg.data)
    # the model's ids name its own words: data whose vocabulary changed is read in the model's
    dataset, recoded = in_vocabulary(dataset, loaded.spec.symbols)
    if recoded is not None:
        warnings.warn(recoded, stacklevel=2)
    run = run_folder_of(zoo.resolve(path))
    other = data_record.changed(run, dataset) if run is not None else None
    if other is not None:  # scored against data the run never saw: said, not hidden
        warnings.warn(other, stacklevel=2)
    kind = loaded.spec.kind
    if n is None:
        n = eval_count(loaded.method, dataset)
    if n < 2:
        raise CheckpointError(f"evaluation needs n >= 2 samples, got {n}")
    # The method's own default: per grid / per level where it samples in stages.
    steps = loaded.method.sample_steps if steps is None else steps
    own_metrics = callable(getattr(loaded.method, "evaluate", None))
    if not own_metrics:  # n chains at once: refuse an --n that cannot fit before drawing
        from ebm_engine.sampling_preflight import check_sampling

        check_sampling(loaded.cfg, loaded.spec.item_shape, n, loaded.method.device)
    values, better = score_method(loaded.method, dataset, n, steps, seed)
    split = values.pop("heldout", None)  # facts of the evaluation, not scores
    scored = values.pop("scored", None)  # a task's own metrics: the items they read
    for fact in ("heldout", "scored"):
        better.pop(fact, None)
    result: dict[str, Any] = {
        "metrics": values,
        "better": better,
        # a task's own metrics take n as a budget (held-out scenes, windows…), not a draw
        "own_metrics": own_metrics,
        "kind": kind,
        "data": dataset.name,
        "method": loaded.cfg.train.method,
        "model": loaded.cfg.model.name,
        "n": int(n),
        "steps": int(steps),
        "checkpoint": loaded.checkpoint.path.name,
        "iteration": loaded.checkpoint.iteration,
        "seconds": round(time.perf_counter() - t0, 2),
        "evaluated_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    if split is not None:
        result["conditions"] = "held-out" if split else "training"
    if scored is not None:  # e.g. the 64 held-out scenes there are, not the --n 500 asked
        result["n"] = result["items_scored"] = int(scored)
        if int(scored) != n:
            result["n_asked"] = int(n)
    if other is not None:
        result["data_changed"] = other
    if recoded is not None:
        result["vocabulary_changed"] = recoded
    target = eval_target(path, write)
    if target is not None:
        try:
            atomic.write_text(target, json.dumps(result, indent=2) + "\n")
            result["written_to"] = str(target)
        except OSError as exc:  # a colleague's read-only run, a full disk: the scores stand
            result["not_written"] = f"cannot write {target}: {exc.strerror or exc}"
    return result


def eval_target(path: str | Path, write: bool = True) -> Path | None:
    """The ``RUN/eval.json`` that evaluating ``path`` (a run, checkpoint or ``zoo:NAME``)
    writes; ``None`` where nothing is written (``write`` off, a read-only zoo entry, a
    checkpoint outside a run)."""
    run = run_folder_of(zoo.resolve(path))
    if not write or run is None or zoo.is_zoo(run):  # the zoo is read-only
        return None
    return run / EVAL_FILE


def read_eval(run: str | Path) -> dict[str, Any] | None:
    """The latest ``RUN/eval.json`` (``None`` if absent or unreadable)."""
    try:
        raw = json.loads((Path(run) / EVAL_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return raw if isinstance(raw, dict) and isinstance(raw.get("metrics"), dict) else None


def format_table(result: dict[str, Any]) -> str:
    """A short text table of an evaluation result."""
    drawn = ("the task's own metrics" if result.get("own_metrics")
             else f"{result.get('n')} samples")
    if result.get("items_scored") is not None:  # a task that says how many items it read
        drawn += f" on {result['items_scored']} items" + (
            f" (of {result['n_asked']} asked)" if result.get("n_asked") is not None else "")
    lines = [f"{result.get('data')} ({result.get('kind')}), {drawn}, "
             f"{result.get('steps')} Langevin steps, checkpoint {result.get('checkpoint')}"
             + (f", {result['conditions']} conditions" if result.get("conditions") else "")]
    width = max((len(k) for k in result["metrics"]), default=6)
    for key, value in result["metrics"].items():
        shown = f"{value:12.5g}" if not math.isnan(value) else f"{'undefined':>12}"  # inf: worst
        lines.append(f"  {key:<{width}}  {shown}   "
                     f"({hint(label_of(result.get('better', {}), key))})")
    return "\n".join(lines)
