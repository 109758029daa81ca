"""Trajectories and sequences: each application against its baselines, one section each.

``python -m benchmarks.applications_sequences`` runs every section;
``--only navigation`` (or ``crowd``, ``translation``) runs one. Each section
replaces its own part of ``benchmarks/results/applications_sequences.md``
(between ``<!-- name -->`` and ``<!-- /name -->``), so the sections can be
run at different times; the crowd and translation sections come from
:mod:`benchmarks.applications_crowd` and :mod:`benchmarks.applications_translation`.

Navigation (``navigation-ioc``, energy-based inverse optimal control): the
demo's preset and its preconditioned variant train side by side for the
preset's iterations (or ``--seconds``), one process and thread each; then
``ebm eval``'s metrics on the 64 held-out scenes
(:mod:`ebm_engine.metrics.navigation`): success, median hidden-cost ratio to
the expert, ADE, for each EBM planning from the straight line and from
noise, the straight line, and a behaviour-cloning regressor with as many
parameters trained on the same paths in the same run. A figure
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
#: The runs compared: the preset, and the same with the Langevin preconditioned
#: by the path-smoothness metric (its own step sizes, see the preset's description).
NAV_VARIANTS = {
    "preset": [],
    "preconditioned": [("train.options.precondition", True), ("sampler.step_size", 0.5),
                       ("sampler.noise_scale", 0.1), ("sampler.init_scale", 0.1),
                       ("sampler.n_steps", 30)],
}


def train_and_score_navigation(variant: str, seconds: float | None, iterations: int | None,
                               n: int, out: dict) -> None:
    """Train one variant on one thread, score it and its baselines; results into ``out``."""
    import torch

    from ebm_engine.learning.events import TrainStep
    from ebm_engine.learning.trainer import Trainer
    from ebm_engine.metrics.navigation import evaluate_navigation
    from ebm_engine.presets import config_for

    torch.set_num_threads(1)
    overrides = [("train.device", "cpu"), ("train.checkpoint_every", 0), *NAV_VARIANTS[variant]]
    if iterations or seconds:
        overrides.append(("train.iterations", iterations or 10**6))
    cfg = config_for("navigation-ioc", overrides=overrides)
    t0 = time.perf_counter()
    trainer = Trainer(cfg, None)
    data_s = time.perf_counter() - t0
    # the untrained cost with the same sampler: what luck alone plans
    untrained = evaluate_navigation(trainer.method, trainer.dataset, n, seed=0, bc_iterations=1)
    start, cpu0 = time.perf_counter(), time.process_time()
    done = 0
    for event in trainer.events():
        if isinstance(event, TrainStep):
            done = event.iteration
            if seconds and time.perf_counter() - start > seconds:
                trainer.stop()
    stats = {"iterations": done, "wall_s": time.perf_counter() - start,
             "cpu_s": time.process_time() - cpu0, "data_s": data_s}
    method, data = trainer.method, trainer.dataset
    values = evaluate_navigation(method, data, n, seed=0)
    # the same model planning from noise (a wide Brownian bridge around the scene centre)
    line_opts, line_cfg = method.opts, method.cfg
    method.opts = dataclasses.replace(line_opts, init="noise")
    method.cfg = dataclasses.replace(line_cfg, sampler=dataclasses.replace(
        line_cfg.sampler, init_scale=1.0 if line_opts.precondition else 0.3,
        n_steps=2 * line_cfg.sampler.n_steps))
    from_noise = evaluate_navigation(method, data, n, seed=0, bc_iterations=1)
    method.opts, method.cfg = line_opts, line_cfg
    if variant == "preset":
        draw_navigation_figure(method, data)
    out[variant] = {"stats": stats, "values": values, "from_noise": from_noise,
                    "untrained": untrained,
                    "n": min(n, len(data.meta["test_scenes"])), "steps": line_cfg.sampler.n_steps}


def navigation_section(seconds: float | None = None, iterations: int | None = None,
                       n: int = 64) -> str:
    """Train both variants side by side, score them against the baselines; the markdown."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    load0 = os.getloadavg()[0]
    with ctx.Manager() as manager:
        shared = manager.dict()
        procs = [ctx.Process(target=train_and_score_navigation,
                             args=(v, seconds, iterations, n, shared)) for v in NAV_VARIANTS]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        results = {v: shared[v] for v in NAV_VARIANTS if v in shared}
    if not results:
        raise RuntimeError("navigation: no run finished")
    first = next(iter(results.values()))
    values = first["values"]
    runs = "; ".join(f"{v}: {r['stats']['iterations']} iterations, {r['stats']['wall_s']:.0f} s wall, "
                     f"{r['stats']['cpu_s']:.0f} s CPU" for v, r in results.items())
    lines = [
        "## Navigation: energy-based inverse optimal control (`navigation-ioc`)", "",
        f"`python -m benchmarks.applications_sequences --only navigation` on "
        f"{platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d %H:%M')}. "
        f"The preset and its preconditioned variant train side by side, one thread each ({runs}; "
        f"planning the 576 expert paths took {first['stats']['data_s']:.0f} s; load average "
        f"{load0:.1f} → {os.getloadavg()[0]:.1f} on the shared 2-core machine). Metrics on "
        f"{first['n']} held-out scenes (`ebm eval`, ebm_engine/metrics/navigation.py): `success` = "
        "ends at the goal and no segment enters an obstacle; `cost_ratio` = median over scenes "
        "of the hidden cost (never shown to the learner) over the expert's; `ade` = mean "
        "distance to the expert's position at the same step. Baselines in the same runs: the "
        "straight line, and a behaviour-cloning MLP with as many parameters as the energy "
        f"network ({int(values['ebm_params'])}; scene → offsets from the straight line, trained "
        "by MSE on the same 512 paths).", "",
        "| planner | success ↑ | cost_ratio ↓ | ade ↓ |", "|---|---|---|---|",
    ]

    def row(label: str, src: dict, suffix: str = "") -> str:
        return (f"| {label} | {src['success' + suffix]:.3f} | {src['cost_ratio' + suffix]:.3f} | "
                f"{src['ade' + suffix]:.3f} |")

    for v, r in results.items():
        lines.append(row(f"EBM ({v}), Langevin from the straight line", r["values"]))
        lines.append(row(f"EBM ({v}), Langevin from noise ({2 * r['steps']} steps)",
                         r["from_noise"]))
        lines.append(row(f"untrained cost, same sampler as ({v})", r["untrained"]))
    lines += [row("straight line", values, "_line"),
              row(f"behaviour cloning ({int(values['bc_params'])} parameters)", values, "_bc"),
              row("expert (hidden-cost optimiser)", values, "_expert"),
              "", f"Figure: `{NAV_FIGURE.name}` (held-out scenes; columns: EBM plan (preset), "
              "behaviour cloning, straight line; blue the plan, dashed black the expert, grey "
              "obstacles, green start, red goal)."]
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
        from benchmarks.applications_translation import section_markdown

        demo = "sequence-translation"
        status |= _other("applications_translation", ["--only", demo])
        write_section("translation", section_markdown(demo), args.out)
    return status


if __name__ == "__main__":
    sys.exit(main())
