"""Supervised conditional learning (method ``conditional_coop``): each task's metric vs its baselines.

``python -m benchmarks.applications_conditional`` trains, for each section,
the demo's preset for at most ``--seconds`` of wall time (or its preset's
iterations, whichever comes first), then scores the last weights with the
metrics ``ebm eval`` writes (:mod:`ebm_engine.metrics.conditional`), every
baseline measured in the same call:

- ``inpainting`` (``digits-inpainting``): PSNR of held-out digits after the
  Langevin solver vs the initializer alone vs the mean-image fill;
- ``class`` (``digits-class-conditional``): accuracy of the outputs under the
  shipped digits classifier (solver, initializer, chance) and their digits FD;
- ``saliency`` (``saliency-popout``): CC / KLD / AUC of the mean sampled map
  (solver, initializer, centre bias), how often the map's peak lands on the odd
  item (per odd feature, vs a random item), and the sampled maps' diversity on
  ambiguous vs unambiguous scenes; a second figure shows several sampled maps
  for each of a few ambiguous and unambiguous held-out scenes.

Each section writes ``benchmarks/results/applications_conditional/<section>.json``
and a figure (condition | initializer | after Langevin) next to it, then the
table ``benchmarks/results/applications_conditional.md`` is rebuilt from every
section's JSON, so sections can run as separate processes (``--only NAME``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
PARTS = RESULTS / "applications_conditional"
TABLE = RESULTS / "applications_conditional.md"
SECTIONS = {"inpainting": "digits-inpainting", "class": "digits-class-conditional",
            "saliency": "saliency-popout"}
# (metric, its baselines) per section, in table order.
ROWS = {
    "inpainting": [("psnr_langevin", ["psnr_initializer", "psnr_mean_fill"]),
                   ("energy_langevin", ["energy_initializer"])],
    "class": [("accuracy_langevin", ["accuracy_initializer", "chance"]),
              ("digits_fd_langevin", ["digits_fd_initializer"])],
    "saliency": [("cc_langevin", ["cc_initializer", "cc_centre_bias"]),
                 ("kld_langevin", ["kld_initializer", "kld_centre_bias"]),
                 ("auc_langevin", ["auc_initializer", "auc_centre_bias"]),
                 ("hit_rate_langevin", ["hit_rate_initializer", "hit_rate_chance"]),
                 ("hit_colour", []), ("hit_orientation", []), ("hit_size", []),
                 ("diversity_ambiguous", ["diversity_unambiguous"]),
                 ("diversity_ambiguous_initializer", ["diversity_unambiguous_initializer"]),
                 ("both_found_ambiguous", [])],
}


def run_section(name: str, seconds: float, n: int, threads: int) -> dict:
    """Train the section's demo for ``seconds``, score it, save a figure; return the record."""
    import numpy as np
    import torch
    from PIL import Image

    from ebm_engine.data.dataset import to_display
    from ebm_engine.export.images import make_grid
    from ebm_engine.learning.events import TrainStep
    from ebm_engine.learning.trainer import Trainer
    from ebm_engine.presets import config_for

    torch.set_num_threads(threads)
    demo = SECTIONS[name]
    cfg = config_for(demo, overrides=[("train.device", "cpu"), ("train.checkpoint_every", 0)])
    trainer = Trainer(cfg, None)
    load_before = os.getloadavg()[0]
    start, cpu_start = time.perf_counter(), time.process_time()
    iterations = 0
    for event in trainer.events():
        if isinstance(event, TrainStep):
            iterations = event.iteration
            if time.perf_counter() - start > seconds:
                trainer.stop()
    trained, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    method = trainer.method
    method.rng.manual_seed(0)
    torch.manual_seed(0)
    metrics = method.evaluate(trainer.dataset, n, 0)
    method.rng.manual_seed(1)
    shown = list(method.sample(20))[-1].x
    grid = make_grid(to_display(shown, "image", (-1.0, 1.0)), nrow=4, pad=2, pad_value=60)
    scale = max(1, 96 // shown.shape[-2])
    PARTS.mkdir(parents=True, exist_ok=True)
    figure = PARTS / f"{name}.png"
    Image.fromarray(np.asarray(grid)).resize((grid.shape[1] * scale, grid.shape[0] * scale),
                                             Image.NEAREST).save(figure)
    if name == "saliency":
        method.rng.manual_seed(2)
        draws_figure(method, PARTS / "saliency_draws.png")
    record = {"section": name, "demo": demo, "iterations": iterations,
              "preset_iterations": cfg.train.iterations, "seconds": round(trained),
              "cpu_s": round(cpu), "load_1min": [round(load_before, 1), round(os.getloadavg()[0], 1)],
              "threads": threads, "n": n, "metrics": metrics, "figure": figure.name,
              "when": time.strftime("%Y-%m-%d %H:%M")}
    (PARTS / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def draws_figure(method, path: Path, per_kind: int = 4, draws: int = 5) -> None:
    """Rows of ``scene | draw 1 … draw k`` (sampled maps after Langevin, heat overlays) for
    ``per_kind`` ambiguous then ``per_kind`` unambiguous held-out scenes."""
    import numpy as np
    import torch
    from PIL import Image

    from ebm_engine.data.dataset import to_display
    from ebm_engine.export.images import make_grid
    from ebm_engine.methods.conditional_coop import overlay

    data = method.heldout()
    amb = np.asarray(data.meta["ambiguous"], dtype=bool)
    idx = np.concatenate([np.flatnonzero(amb)[:per_kind], np.flatnonzero(~amb)[:per_kind]])
    c, _, shown = method.prepare(data.take(torch.as_tensor(idx)).to(method.device))
    c_rep = c.repeat_interleave(draws, 0)
    with torch.no_grad():
        init = method.initialize(c_rep)
    maps = overlay(shown.repeat_interleave(draws, 0), method.solve(c_rep, init))
    tiles = torch.cat([shown[:, None], maps.view(len(idx), draws, *maps.shape[1:])], 1)
    tiles = tiles.flatten(0, 1).detach().cpu().numpy()
    grid = make_grid(to_display(tiles, "image", (-1.0, 1.0)), nrow=draws + 1, pad=2, pad_value=60)
    Image.fromarray(np.asarray(grid)).resize((grid.shape[1] * 3, grid.shape[0] * 3),
                                             Image.NEAREST).save(path)


def _fmt(v) -> str:
    return "–" if v is None else f"{v:.4g}"


def write_table() -> str:
    """Rebuild the Markdown table from every section's JSON."""
    lines = [
        "# Conditional learning (cooperative initializer + Langevin solver): metrics vs baselines",
        "",
        f"`python -m benchmarks.applications_conditional [--only SECTION]` on "
        f"{platform.processor() or platform.machine()}. Each section trains its demo's preset "
        "(CPU, `threads` torch threads) for a wall-clock budget on a shared machine (load at "
        "start and end given), then scores it with `ebm eval`'s metrics "
        "(ebm_engine/metrics/conditional.py); the baselines are measured in the same call: "
        "the same initializer without the Langevin solver, and a task baseline (mean-image "
        "fill, chance, centre-bias map). Inpainting and saliency are scored on held-out data.",
        "",
        "| section | iterations (preset) | train s / cpu s | load | metric | value | baselines |",
        "|---|---|---|---|---|---|---|",
    ]
    figures = []
    for name in SECTIONS:
        path = PARTS / f"{name}.json"
        if not path.is_file():
            continue
        r = json.loads(path.read_text(encoding="utf-8"))
        m = r["metrics"]
        for metric, baselines in ROWS[name]:
            if metric not in m:
                continue
            base = ", ".join(f"{b} {_fmt(m.get(b))}" for b in baselines)
            lines.append(f"| {name} | {r['iterations']} ({r['preset_iterations']}) | "
                         f"{r['seconds']} / {r['cpu_s']} | {r['load_1min'][0]}→{r['load_1min'][1]} | "
                         f"{metric} | {_fmt(m[metric])} | {base} |")
        figures.append(f"![{name}](applications_conditional/{r['figure']}) "
                       f"`{r['demo']}` ({r['when']}): condition | initializer | after Langevin")
    lines += ["", "## Figures", ""] + [f + "\n" for f in figures]
    text = "\n".join(lines) + "\n"
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    TABLE.write_text(text, encoding="utf-8")
    return text


def section_markdown(name: str) -> str:
    """One section's table rows and figure, from its JSON (for ``applications_images``)."""
    r = json.loads((PARTS / f"{name}.json").read_text(encoding="utf-8"))
    m = r["metrics"]
    lines = [f"## {r['demo']} (conditional CoopNets)", "",
             f"{r['iterations']} of the preset's {r['preset_iterations']} iterations in "
             f"{r['seconds']} s ({r['cpu_s']} CPU s, load {r['load_1min'][0]}→{r['load_1min'][1]}); "
             "baselines measured in the same call (`ebm eval`'s metrics).", "",
             "| metric | value | baselines |", "|---|---|---|"]
    for metric, baselines in ROWS[name]:
        if metric in m:
            base = ", ".join(f"{b} {_fmt(m.get(b))}" for b in baselines)
            lines.append(f"| {metric} | {_fmt(m[metric])} | {base} |")
    lines += ["", f"![{name}](applications_conditional/{r['figure']}) "
              "condition | initializer | after Langevin", ""]
    if name == "saliency":
        lines += ["Several sampled maps (after Langevin) per held-out scene: four ambiguous "
                  "scenes (two odd items) on top, four with one odd item below; each row is "
                  "scene | draw 1 … draw 5.", "",
                  "![saliency draws](applications_conditional/saliency_draws.png)", ""]
    return "\n".join(lines)


def section(name: str):
    """``section(seconds, folder) -> markdown`` of ``name`` for ``benchmarks.applications_images``
    (the figure stays in ``results/applications_conditional/``; ``folder`` is unused)."""

    def run(seconds: float, folder: Path) -> str:
        run_section(name, seconds, 300 if name != "saliency" else 100, 1)
        write_table()
        return section_markdown(name)

    run.__name__ = f"{name}_section"
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(SECTIONS), action="append",
                        help="run this section only (repeatable)")
    parser.add_argument("--seconds", type=float, default=600.0, help="training time per section")
    parser.add_argument("--n", type=int, default=300, help="conditions scored per section")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--table-only", action="store_true", help="rebuild the table from the JSON")
    args = parser.parse_args(argv)
    if not args.table_only:
        for name in args.only or list(SECTIONS):
            r = run_section(name, args.seconds, args.n, args.threads)
            print(f"{name}: {r['iterations']} iterations, {json.dumps(r['metrics'])}", flush=True)
    print(write_table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
