"""Trajectories and sequences: each application against its baselines, one section each.

``python -m benchmarks.applications_sequences`` runs every section;
``--only navigation`` (or ``crowd``, ``translation``) runs one. Each section
replaces its own part of ``benchmarks/results/applications_sequences.md``
(between ``<!-- name -->`` and ``<!-- /name -->``), so the sections can be
run at different times; the crowd and translation sections come from
:mod:`benchmarks.applications_crowd` and :mod:`benchmarks.applications_translation`.

Navigation (``navigation-ioc``, energy-based inverse optimal control): the
demo's preset trains for its iterations (or ``--seconds``), one thread;
then ``ebm eval``'s metrics on the 64 held-out scenes
(:mod:`ebm_engine.metrics.navigation`): success, median hidden-cost ratio to
the expert, ADE, for the EBM planning from the straight line, the same EBM
planning from noise, the straight line, and a behaviour-cloning regressor
with as many parameters trained on the same paths in the same run. A figure
of plans vs experts goes to ``benchmarks/results/navigation_plans.png``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results" / "applications_sequences.md"
NAV_FIGURE = Path(__file__).parent / "results" / "navigation_plans.png"
HEADER = "# Trajectories and sequences\n\n"


def write_section(name: str, text: str, path: Path = RESULTS) -> None:
    """Put ``text`` in place of section ``name`` of ``path`` (or append it)."""
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    old = path.read_text(encoding="utf-8") if path.exists() else HEADER
    body = f"{start}\n{text.rstrip()}\n{end}\n"
    if start in old and end in old:
        head, rest = old.split(start, 1)
        new = head + body + rest.split(end, 1)[1].lstrip("\n")
    else:
        new = old.rstrip("\n") + "\n\n" + body
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new, encoding="utf-8")


# --- navigation -----------------------------------------------------------------------
def train_navigation(seconds: float | None, iterations: int | None):
    """The navigation-ioc preset trained on one thread; ``(trainer, stats)``."""
    import torch

    from ebm_engine.learning.events import TrainStep
    from ebm_engine.learning.trainer import Trainer
    from ebm_engine.presets import config_for

    torch.set_num_threads(1)
    overrides = [("train.device", "cpu"), ("train.checkpoint_every", 0)]
    if iterations:
        overrides.append(("train.iterations", iterations))
    if seconds:
        overrides.append(("train.iterations", 10**6))
    cfg = config_for("navigation-ioc", overrides=overrides)
    t0 = time.perf_counter()
    trainer = Trainer(cfg, None)
    data_s = time.perf_counter() - t0
    start, cpu0 = time.perf_counter(), time.process_time()
    done = 0
    for event in trainer.events():
        if isinstance(event, TrainStep):
            done = event.iteration
            if seconds and time.perf_counter() - start > seconds:
                trainer.stop()
    return trainer, {"iterations": done, "wall_s": time.perf_counter() - start,
                     "cpu_s": time.process_time() - cpu0, "data_s": data_s}


def navigation_section(seconds: float | None = None, iterations: int | None = None,
                       n: int = 64) -> str:
    """Train, evaluate against the baselines, draw the figure; the section's markdown."""
    from ebm_engine.metrics.navigation import evaluate_navigation

    load0 = os.getloadavg()[0]
    trainer, stats = train_navigation(seconds, iterations)
    method, data = trainer.method, trainer.dataset
    t0 = time.perf_counter()
    values = evaluate_navigation(method, data, n, seed=0)
    eval_s = time.perf_counter() - t0
    # the same model planning from noise (a wide Brownian bridge around the scene centre)
    line_opts = method.opts
    method.opts = dataclasses.replace(line_opts, init="noise")
    sampler = method.cfg.sampler
    method.cfg = dataclasses.replace(method.cfg, sampler=dataclasses.replace(
        sampler, init_scale=1.0, n_steps=2 * sampler.n_steps))
    from_noise = evaluate_navigation(method, data, n, seed=0, bc_iterations=1)
    method.opts, method.cfg = line_opts, dataclasses.replace(method.cfg, sampler=sampler)
    draw_navigation_figure(method, data)
    rows = [("EBM, Langevin from the straight line", ""),
            (f"EBM, Langevin from noise ({2 * sampler.n_steps} steps)", "noise"),
            ("straight line", "_line"),
            (f"behaviour cloning ({int(values['bc_params'])} parameters)", "_bc"),
            ("expert (hidden-cost optimiser)", "_expert")]
    lines = [
        "## Navigation: energy-based inverse optimal control (`navigation-ioc`)", "",
        f"`python -m benchmarks.applications_sequences --only navigation` on "
        f"{platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d %H:%M')}: "
        f"the preset trained {stats['iterations']} iterations in {stats['wall_s']:.0f} s wall, "
        f"{stats['cpu_s']:.0f} s CPU (one thread; planning the 576 expert paths took "
        f"{stats['data_s']:.0f} s; load average {load0:.1f} → {os.getloadavg()[0]:.1f} on the "
        f"shared 2-core machine), evaluation {eval_s:.0f} s. Metrics on {min(n, len(data.meta['test_scenes']))} "
        "held-out scenes (`ebm eval`, ebm_engine/metrics/navigation.py): `success` = ends at "
        "the goal and no segment enters an obstacle; `cost_ratio` = median over scenes of the "
        "hidden cost (never shown to the learner) over the expert's; `ade` = mean distance to "
        "the expert's position at the same step. The energy network has "
        f"{int(values['ebm_params'])} parameters; the behaviour-cloning MLP (scene → offsets "
        "from the straight line, trained by MSE on the same 512 paths in this run) as many.", "",
        "| planner | success ↑ | cost_ratio ↓ | ade ↓ |", "|---|---|---|---|",
    ]
    for label, key in rows:
        src, suffix = (from_noise, "") if key == "noise" else (values, key)
        lines.append(f"| {label} | {src['success' + suffix]:.3f} | "
                     f"{src['cost_ratio' + suffix]:.3f} | {src['ade' + suffix]:.3f} |")
    lines += ["", f"Figure: `{NAV_FIGURE.name}` (held-out scenes; columns: EBM plan, behaviour "
              "cloning, straight line; blue the plan, dashed black the expert, grey obstacles, "
              "green start, red goal)."]
    return "\n".join(lines)


def draw_navigation_figure(method, data, n: int = 6, path: Path = NAV_FIGURE) -> None:
    """Rows of held-out scenes; columns: EBM plan, behaviour cloning, straight line."""
    import torch
    from PIL import Image

    from ebm_engine.data.navigation import straight_paths
    from ebm_engine.export.trajectory import render_scene
    from ebm_engine.metrics.navigation import train_bc

    scenes = np.asarray(data.meta["test_scenes"])[:n]
    experts = np.asarray(data.meta["test_experts"])[:n]
    method.rng.manual_seed(1)
    plans = list(method.plan(torch.from_numpy(scenes)))[-1].x
    n_params = sum(p.numel() for p in method.net.parameters())
    bc = train_bc(np.asarray(data.meta["scenes"]), data.items.numpy(), n_params, seed=0)
    with torch.no_grad():
        cloned = bc(torch.from_numpy(scenes)).numpy()
    extent = data.meta.get("extent", (-1.2, 1.2, -1.2, 1.2))
    size = 200
    grid = np.full((n * (size + 4), 3 * (size + 4), 3), 90, np.uint8)
    for r in range(n):
        for c, paths in enumerate((plans, cloned, straight_paths(scenes))):
            grid[r * (size + 4) + 2:r * (size + 4) + 2 + size, c * (size + 4) + 2:
                 c * (size + 4) + 2 + size] = render_scene(paths[r], scenes[r], experts[r],
                                                           extent, size)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(path)


# --- the command ----------------------------------------------------------------------
def _other(module: str, argv: list[str]) -> int:
    import importlib

    try:
        mod = importlib.import_module(f"benchmarks.{module}")
    except ImportError as exc:
        print(f"{module}: not available ({exc})", file=sys.stderr)
        return 1
    return int(mod.main(argv) or 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("navigation", "crowd", "translation"),
                        help="run one section (default: all)")
    parser.add_argument("--seconds", type=float, help="navigation: training time "
                        "(default: the preset's iterations)")
    parser.add_argument("--iterations", type=int, help="navigation: iterations instead of the preset's")
    parser.add_argument("--n", type=int, default=64, help="navigation: held-out scenes scored")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    status = 0
    if args.only in (None, "navigation"):
        write_section("navigation", navigation_section(args.seconds, args.iterations, args.n),
                      args.out)
        print(f"navigation: wrote {args.out}", flush=True)
    if args.only in (None, "crowd"):
        status |= _other("applications_crowd", [])
    if args.only in (None, "translation"):
        status |= _other("applications_translation", [])
    return status


if __name__ == "__main__":
    sys.exit(main())
