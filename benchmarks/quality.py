"""Every demo × method preset trained for its advertised time: the metric against time.

Usage::

    python -m benchmarks.quality [--only digits,digits-multigrid] [--scale 1.0]
        [--evals 4] [--threads 2] [--clock wall|cpu] [--jobs 1]
        [--out benchmarks/results/quality.md]

Rows are every built-in demo with its own preset, plus the digits demo with
each method's ``digits-<method>`` preset. Each row trains with a plain
:class:`~ebm_engine.learning.trainer.Trainer` as a user's run does: the
preset's iterations, cut at the minutes the catalogue advertises (both ×
``--scale``), pausing the clock ``--evals`` times to sample and
score with :func:`ebm_engine.metrics.evaluate.score_method` (what ``ebm eval``
does). It writes

- ``quality.md`` / ``quality.json``: per row the headline metric at each
  evaluation, the goal, and the minutes at which the goal was first met;
- ``quality_curves.png``: the headline metric against training minutes, a
  curve per row;
- ``quality/<row>.png``: the final samples of each row;
- ``resources/measured.json``: each row's measured minutes and metric, which
  the catalogue, the app and ``ebm demos`` show (:mod:`ebm_engine.data.measured`).

Each row's result is kept as ``quality/<row>.json`` and the table is
rewritten from all of them after each row: a cut-short run keeps its rows,
and ``--only`` reruns some rows without losing the others.
It is long (the sum of all advertised times) and not part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmarks.scored_training import train_and_score
from ebm_engine import atomic
from ebm_engine.data.catalogue import demos
from ebm_engine.learning.trainer import Trainer
from ebm_engine.presets import available_presets, config_for, preset_minutes

RESULTS = Path(__file__).resolve().parent / "results"

#: Headline metric per data kind (the first one a row reports is used) and its goal.
#: Task demos report their metric beside a baseline of the same call (``BASELINE``).
HEADLINE = {"image": (("digits_fd", 30.0), ("psnr_langevin", None), ("accuracy_langevin", None),
                      ("cc_langevin", None), ("content_ab", None), ("accuracy", 0.85),
                      ("patch_nn", None), ("gram_distance", None)),
            "points": (("kl_samples", None),),
            "video": (("gram_appearance", None),),
            "voxel": (("mmd_iou", None),), "pointcloud": (("mmd_cd", None),),
            "text": (("valid", None),), "molecule": (("valid", 0.9),)}
#: Stricter goals for one method's row (issue 11: plain ML on digits ≤ 10).
METHOD_GOAL = {("digits_fd", "ml"): 10.0}
#: The same-call baseline shown beside a headline metric.
BASELINE = {"psnr_langevin": "psnr_initializer", "accuracy_langevin": "accuracy_initializer",
            "cc_langevin": "cc_centre_bias", "content_ab": "content_ab_source",
            "accuracy": "accuracy_supervised", "ade": "ade_cv", "success": "success_line"}
#: Which side is better for the headline candidates (rows kept before ``better`` was stored).
SIDE = {"psnr_langevin": "higher", "accuracy_langevin": "higher", "cc_langevin": "higher",
        "content_ab": "higher", "accuracy": "higher", "success": "higher", "valid": "higher",
        "patch_nn": "lower", "ade": "lower"}


@dataclass(frozen=True)
class Row:
    """One measured configuration."""

    label: str
    data: str
    preset: str
    minutes: float


def all_rows() -> list[Row]:
    """Every demo with its preset, then digits with every ``digits-*`` method preset."""
    rows = []
    # The budget is never below the time a demo registered: a cut-short row's catalogue
    # time is where its figure settled, and as the next budget it shrank each run
    # (texture-grass: 10 min, then 5, then 3.8)
    registered = demos(measured=False)
    for name, info in demos().items():
        minutes = max(info.expected_minutes, registered[name].expected_minutes)
        rows.append(Row(name, name, info.preset, minutes))
    digits = demos()["digits"]
    for preset in available_presets():
        if preset.startswith("digits-") and preset not in {r.label for r in rows}:
            minutes = preset_minutes(preset) or digits.expected_minutes
            rows.append(Row(preset, "digits", preset, minutes))
    return rows


def headline(kind: str, values: dict[str, float], method: str = "") -> tuple[str, float | None]:
    """The metric a row is judged by, and its goal (``None``: no fixed goal)."""
    for name, goal in HEADLINE.get(kind, ()):
        if name in values:
            return name, METHOD_GOAL.get((name, method), goal)
    for name in ("content_ab", "success", "ade", "valid"):  # translation, plans, paths, symbols
        if name in values:
            return name, None
    return (next(iter(values)), None) if values else ("", None)


def judged(result: dict) -> dict:
    """``result`` with its headline, goal and goal-met time taken again from its points
    (so the table follows ``HEADLINE`` without training again)."""
    if "kind" not in result:
        return result
    final = result["points"][-1]["metrics"] if result["points"] else {}
    name, goal = headline(result["kind"], final, result.get("method", ""))
    if name == result["headline"] and goal == result["goal"]:
        return result
    side = SIDE.get(name, "lower")
    first = next((p["minutes"] for p in result["points"] if name in p["metrics"]
                  and met(p["metrics"][name], goal, side)), None)
    return {**result, "headline": name, "better": side, "goal": goal, "goal_met_minutes": first}


def met(value: float, goal: float | None, better: str) -> bool:
    if goal is None:
        return False
    return value >= goal if better == "higher" else value <= goal


def sample_figure(samples: np.ndarray, kind: str, value_range, path: Path, symbols=None) -> None:
    """A look at the final samples: the kind's own export, or projections for 3D."""
    from ebm_engine.export.samples import FORMATS, export_samples

    if ".png" in FORMATS.get(kind, ()):
        export_samples(samples if kind == "points" else samples[:64], kind, value_range, path,
                       symbols=symbols)
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(16, len(samples))
    fig, axes = plt.subplots(2, 8, figsize=(12, 3.2))
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        x = samples[i]
        if kind == "voxel":  # occupancy seen from the front (max over depth)
            ax.imshow((x[0] > 0).max(axis=0), cmap="gray_r", origin="lower")
        elif kind == "pointcloud":
            ax.scatter(x[:, 0], x[:, 1], s=1, c=x[:, 2], cmap="viridis")
            ax.set_aspect("equal")
        elif kind == "video":
            ax.imshow(np.clip((x[:, 0].transpose(1, 2, 0) + 1) / 2, 0, 1).squeeze())
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    tmp.replace(path)


def measure(row: Row, scale: float, evals: int, seed: int, out_dir: Path,
            clock: str = "wall") -> dict:
    """Train ``row`` as a user's run would, scoring ``evals`` times on the way.

    The run ends where the user's ends (the preset's iterations) or when
    its advertised minutes are up, whichever comes first (both × ``scale``);
    scoring ``k`` comes at ``k/evals`` of either. ``clock="cpu"`` counts the
    process's CPU seconds instead of wall seconds: a budget that load on a
    shared machine shrinks far less (a CPU second still buys fewer
    iterations there). With one thread it is conservative (an idle 2-core
    CPU does at least as much per wall second).
    """
    cfg = config_for(row.data, row.preset, [("train.device", "cpu"), ("train.seed", seed)])
    iterations = max(1, round(cfg.train.iterations * scale))
    cfg = cfg.replace_value("train.iterations", iterations)
    trainer = Trainer(cfg, None)
    budget = row.minutes * 60.0 * scale

    def due(seconds: float, iteration: int, k: int) -> bool:
        return seconds >= budget * k / evals or iteration >= iterations * k / evals

    ended: list[str] = []  # why a run stopped short of its iterations (diverged)
    scorings = train_and_score(trainer, due, evals, seed, clock, on_score=lambda s: print(
        row.label, f"{s.seconds / 60:.2f} min", s.iteration, s.values, flush=True),
        on_end=lambda f: ended.append(f.reason) if f.iteration < iterations else None)
    points = [{"minutes": s.seconds / 60.0, "iteration": s.iteration, "metrics": s.values}
              for s in scorings]
    better = scorings[-1].better if scorings else {}
    kind = trainer.dataset.kind
    final = points[-1]["metrics"] if points else {}
    name, goal = headline(kind, final, cfg.train.method)
    side = better.get(name, SIDE.get(name, "lower"))
    first = next((p["minutes"] for p in points if name in p["metrics"]
                  and met(p["metrics"][name], goal, side)), None)
    # 2D points are judged as a cloud (64 dots show no shape); other kinds as a 64-item grid
    n_show = 1000 if kind == "points" else 64
    frames = list(trainer.method.sample(n_show, n_steps=cfg.sampler.n_steps))
    png = out_dir / f"{row.label}.png"
    sample_figure(frames[-1].x, kind, trainer.dataset.value_range, png,
                  trainer.dataset.meta.get("symbols"))
    return {"label": row.label, "data": row.data, "preset": row.preset, "method": cfg.train.method,
            "kind": kind, "advertised_minutes": row.minutes, "budget_minutes": budget / 60.0,
            "preset_iterations": iterations,
            "clock": clock, "threads": torch.get_num_threads(),
            "headline": name, "better": side, "goal": goal, "goal_met_minutes": first,
            "points": points, "samples_png": png.name,
            **({"ended": ended[0]} if ended else {})}


def _baseline(result: dict) -> str:
    """``name value`` of the headline's same-call baseline at the end (``-`` if none)."""
    name = BASELINE.get(result["headline"])
    final = result["points"][-1]["metrics"] if result["points"] else {}
    return f"{name} {final[name]:.3g}" if name in final else "-"


def _at(values: list[float], fraction: float) -> str:
    """The value at ``fraction`` of the run, formatted (``-`` if none)."""
    return f"{values[max(0, int(len(values) * fraction) - 1)]:.3g}" if values else "-"


def write_results(results: list[dict], out: Path, write_measured: bool = False) -> None:
    lines = ["# Quality of every demo and method preset in its advertised time", "",
             "Each row trains as a user's run: the preset's iterations, cut at the minutes the "
             "catalogue advertises on this 2-core CPU (`python -m benchmarks.quality`); the headline metric is sampled and scored "
             "like `ebm eval` at even intervals (scoring time not counted). `clock`: `wall` "
             "minutes, or `cpu` minutes of the training process (`--clock cpu`, far less "
             "sensitive to other load; with one thread a conservative stand-in for the idle 2-core minutes "
             "advertised). Samples: `quality/<row>.png`; curves: `quality_curves.png`.", "",
             "| row | method | minutes of advertised | clock | iterations of preset | metric "
             "| at ¼ | at ½ | at end | baseline at end (same call) "
             "| goal | goal met at |",
             "|---|---|---:|---|---:|---|---:|---:|---:|---|---:|---:|"]
    for r in results:
        vals = [p["metrics"].get(r["headline"], float("nan")) for p in r["points"]]
        goal = "-" if r["goal"] is None else f"{r['goal']:g}"
        when = "-" if r["goal_met_minutes"] is None else f"{r['goal_met_minutes']:.1f} min"
        its = r["points"][-1]["iteration"] if r["points"] else 0
        clock = f"{r.get('clock', 'wall')} ×{r.get('threads', 2)}"
        used = r["points"][-1]["minutes"] if r["points"] else 0.0
        ended = f" ({r['ended']})" if r.get("ended") else ""  # e.g. the run diverged there
        lines.append(f"| {r['label']} | {r['method']} | {used:.1f} of {r['budget_minutes']:.1f} "
                     f"| {clock} | {its} of {r.get('preset_iterations', '?')}{ended} | "
                     f"{r['headline']} ({r['better']}) | {_at(vals, 0.25)} | {_at(vals, 0.5)} | "
                     f"{_at(vals, 1.0)} | {_baseline(r)} | {goal} | {when} |")
    # Why rows miss their goal is written by hand (it needs looking, not a number).
    notes = out.with_name(out.stem + "_notes.md")
    if notes.is_file():
        lines += ["", notes.read_text(encoding="utf-8").rstrip()]
    atomic.write_text(out, "\n".join(lines) + "\n")
    atomic.write_text(out.with_suffix(".json"), json.dumps(results, indent=1) + "\n")
    if write_measured:
        update_measured(results)
    plot_curves(results, out.with_name(out.stem + "_curves.png"))


def settled_point(result: dict) -> dict:
    """The point where the goal was met, else where the headline metric came within
    10 % of its final value (of the way from its first value), else the last one."""
    points = result["points"]
    if result["goal_met_minutes"] is not None:
        return next((p for p in points if p["minutes"] >= result["goal_met_minutes"]),
                    points[-1])
    vals = [p["metrics"].get(result["headline"]) for p in points]
    if not vals or any(v is None for v in vals):
        return points[-1]
    tol = 0.1 * abs(vals[0] - vals[-1])
    return points[next(i for i, v in enumerate(vals) if abs(v - vals[-1]) <= tol)]


def settled_minutes(result: dict) -> float:
    """Minutes to :func:`settled_point` (the budget for a run without points)."""
    if not result["points"]:
        return float(result["budget_minutes"])
    return float(settled_point(result)["minutes"])


def update_measured(results: list[dict]) -> None:
    """Write the measured minutes and metric to ``resources/measured.json``
    (what the catalogue, the app and ``ebm demos`` show), by demo name for a
    demo's own preset and by preset name for a method's (``digits-coopnets``);
    other entries are kept.

    The minutes are the run's length when it finished its preset, else the
    time it took to settle (:func:`settled_point`); the metric is the one measured
    at those minutes (a figure from later in a cut-short run would promise more
    than the minutes shown give)."""
    from ebm_engine.data.measured import MEASURED_FILE
    from ebm_engine.resources import resources_dir

    path = resources_dir() / MEASURED_FILE
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        table = {}
    for r in results:
        # a demo with its own preset, or a method's preset for a demo
        if r["label"] not in (r["data"], r.get("preset")) or not r["points"]:
            continue
        # A run that finished its preset takes that long (what its ETA says); a run the
        # budget cut short was as good as it got once it settled.
        done = r["points"][-1]["iteration"] == r.get("preset_iterations")
        point = r["points"][-1] if done else settled_point(r)
        table[r["label"]] = {"minutes": round(point["minutes"], 2), "metric": r["headline"],
                             "value": point["metrics"][r["headline"]],
                             "goal_met": r["goal_met_minutes"] is not None}
    atomic.write_text(path, json.dumps(table, indent=1, sort_keys=True) + "\n")


def plot_curves(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = sorted({r["headline"] for r in results if r["points"]})
    fig, axes = plt.subplots(1, max(1, len(kinds)), figsize=(4.5 * max(1, len(kinds)), 3.6),
                             squeeze=False)
    for ax, metric in zip(axes[0], kinds, strict=False):
        for r in results:
            if r["headline"] != metric:
                continue
            ax.plot([p["minutes"] for p in r["points"]],
                    [p["metrics"][metric] for p in r["points"]], marker="o", label=r["label"])
        ax.set_xlabel("training minutes")
        ax.set_title(metric)
        ax.legend(fontsize=7)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default="", help="comma-separated row labels (default: all)")
    p.add_argument("--scale", type=float, default=1.0, help="multiply each advertised time")
    p.add_argument("--evals", type=int, default=4, help="scorings per row")
    p.add_argument("--threads", type=int, default=2, help="torch threads per row")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="budget in wall seconds, or in the process's CPU seconds")
    p.add_argument("--jobs", type=int, default=1, help="rows measured side by side")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(RESULTS / "quality.md"))
    p.add_argument("--table", action="store_true",
                   help="measure nothing: rebuild the table (and measured.json) from the rows "
                        "kept in quality/")
    p.add_argument("--no-times", action="store_true",
                   help="do not write the measured minutes to resources/measured.json "
                        "(implied by --scale other than 1)")
    args = p.parse_args(argv)
    rows = all_rows()
    if args.only:
        wanted = args.only.split(",")
        unknown = [w for w in wanted if w not in {r.label for r in rows}]
        if unknown:
            p.error(f"unknown rows {unknown}; known: {', '.join(r.label for r in rows)}")
        rows = [r for r in rows if r.label in wanted]
    out = Path(args.out)
    out_dir = out.with_suffix("")
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.table:
        kept = rebuild_table(out)
        if not args.no_times:
            update_measured(kept)
        return 0
    jobs = [(row, args.scale, max(1, args.evals), args.seed, out_dir, args.clock, args.threads)
            for row in rows]
    write_measured = args.scale == 1.0 and not args.no_times
    if args.jobs <= 1:
        for job in jobs:
            _finish(_run_row(job), out, write_measured)
        return 0
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        for done in as_completed([pool.submit(_run_row, job) for job in jobs]):
            _finish(done.result(), out, write_measured)
    return 0


def _run_row(job: tuple) -> dict:
    """One row in this process (a worker of ``--jobs``, or the main one)."""
    row, scale, evals, seed, out_dir, clock, threads = job
    torch.set_num_threads(threads)
    return measure(row, scale, evals, seed, out_dir, clock)


def _finish(result: dict, out: Path, write_measured: bool) -> None:
    """Keep the row's result beside its figure, then rewrite the table from every
    row measured so far (this run's and earlier runs'), in the catalogue's order."""
    out_dir = out.with_suffix("")
    atomic.write_text(out_dir / f"{result['label']}.json", json.dumps(result, indent=1) + "\n")
    rebuild_table(out)
    if write_measured:
        update_measured([result])


def rebuild_table(out: Path) -> list[dict]:
    """Rewrite the table from every row kept in ``out``'s folder, in the catalogue's order."""
    out_dir = out.with_suffix("")
    order = {r.label: i for i, r in enumerate(all_rows())}
    kept = []
    for path in out_dir.glob("*.json"):
        try:
            kept.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    kept = [judged(r) for r in kept if isinstance(r, dict) and r.get("label") in order]
    kept.sort(key=lambda r: order[r["label"]])
    write_results(kept, out, write_measured=False)
    return kept


if __name__ == "__main__":
    raise SystemExit(main())
