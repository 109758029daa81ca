"""Unpaired translation (CycleCoopNets): with the cycle term vs the same nets without it.

``python -m benchmarks.applications_translation`` trains, for each demo
(``digits-handwritten-typeset``, ``sequence-translation``), the
``cycle_coop`` method twice from its preset: as preset (``cycle_weight``
> 0) and with ``cycle_weight = 0`` (the ablation: the same nets, losses and
sampler, minus the cycle term). The two runs of a demo train side by side
in two processes, one thread each, for the same wall-clock budget (so they
share the machine's load equally); each is then scored by
:func:`ebm_engine.metrics.translation.evaluate_translation` (what
``ebm eval`` writes), and the table goes to
``benchmarks/results/applications_translation.md`` with one figure per run
(``source | translated | reconstructed``) in ``benchmarks/results/translation/``.

Options: ``--seconds`` (training budget per run), ``--n`` (sources scored
per direction), ``--only NAME`` (one demo).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "applications_translation.md"
FIGURES = Path(__file__).parent / "results" / "translation"
DEMOS = ("digits-handwritten-typeset", "sequence-translation")
COLUMNS = ("iterations", "cpu_s", "content_ab", "content_ba", "fd_ab", "fd_ba",
           "cycle_l1_ab", "cycle_l1_ba", "content_ab_proposal", "content_ba_proposal")
BASELINE_COLUMNS = ("content_ab_source", "content_ba_source", "fd_ab_source", "fd_ba_source",
                    "judge_accuracy_a", "judge_accuracy_b")


def train_and_score(demo: str, cycle_weight: float | None, seconds: float, n: int,
                    out: dict, figures: Path = FIGURES,
                    settings: tuple[tuple[str, object], ...] = (), clock: str = "wall") -> None:
    """Train ``demo`` (``cycle_weight`` ``None``: the preset's) for ``seconds``; score it.

    ``settings`` are config overrides on top of the preset (both runs get them).
    """
    import torch

    from ebm_engine.export.pairs import export_pairs
    from ebm_engine.learning.events import TrainStep
    from ebm_engine.learning.trainer import Trainer
    from ebm_engine.metrics.translation import evaluate_translation
    from ebm_engine.presets import config_for

    torch.set_num_threads(1)
    overrides = [("train.iterations", 10**6), ("train.device", "cpu"),
                 ("train.checkpoint_every", 0), *settings]
    if cycle_weight is not None:
        overrides.append(("train.options.cycle_weight", cycle_weight))
    cfg = config_for(demo, overrides=overrides)
    trainer = Trainer(cfg, None)
    start, cpu_start = time.perf_counter(), time.process_time()
    iterations = 0
    for event in trainer.events():
        if isinstance(event, TrainStep):
            iterations = event.iteration
            used = (time.process_time() - cpu_start if clock == "cpu"
                    else time.perf_counter() - start)
            if used > seconds:
                trainer.stop()
    cpu = time.process_time() - cpu_start
    method = trainer.method
    method.rng.manual_seed(0)
    metrics = evaluate_translation(method, trainer.dataset, n, seed=0)
    method.rng.manual_seed(1)
    frames = list(method.sample(16))
    label = "cycle" if cycle_weight is None else f"cycle_weight-{cycle_weight:g}"
    figures.mkdir(parents=True, exist_ok=True)
    figure = figures / f"{demo}-{label}.png"
    export_pairs(method.sample_panels, trainer.spec.kind, trainer.spec.value_range, figure,
                 extent=trainer.spec.extent)
    del frames
    out[(demo, label)] = {"iterations": iterations, "cpu_s": round(cpu),
                          "cycle_weight": method.opts.cycle_weight, **metrics,
                          "figure": str(figure.relative_to(RESULTS.parent))}


def _cell(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return str(value)
    return f"{value:.3f}"


def write_table(results: dict, path: Path = RESULTS) -> str:
    lines = [
        "# Unpaired translation: CycleCoopNets with vs without the cycle term",
        "",
        "`python -m benchmarks.applications_translation [--only NAME]` on "
        f"{platform.processor() or platform.machine()}; each demo's command, time and load "
        "are under the tables. Each demo's two runs train side by side (one thread each) for the same wall-clock "
        "time from the demo's preset; the ablation is the same run with `cycle_weight = 0`. "
        "Metrics (ebm_engine/metrics/translation.py, what `ebm eval` writes), per direction "
        "(`ab`: domain A → B, `ba`: B → A), on translations revised by Langevin: "
        "`content` = share of translations a judge of the target domain reads as the "
        "source's class (handwritten digits: the shipped digits classifier; typeset digits "
        "and strokes: a small classifier trained on that domain, `judge_accuracy_*` its "
        "held-out accuracy); `fd` = Fréchet distance to the target domain (digits "
        "classifier features for images, the judge's features for strokes); `cycle_l1` = "
        "mean |G_BA(G_AB(a)) − a| per value; `*_proposal` = the translator alone, without "
        "Langevin. `cpu_s`: training CPU seconds (the machine is shared).",
        "",
        "| demo | run | " + " | ".join(COLUMNS) + " |",
        "|---|---|" + "---|" * len(COLUMNS),
    ]
    for (demo, label), r in results.items():
        lines.append(f"| {demo} | {label} | " + " | ".join(_cell(r.get(c)) for c in COLUMNS)
                     + " |")
    lines += ["", "No translation (the source as it is, scored as a translation) and the judges:",
              "", "| demo | " + " | ".join(BASELINE_COLUMNS) + " |",
              "|---|" + "---|" * len(BASELINE_COLUMNS)]
    for demo in dict.fromkeys(d for d, _ in results):
        r = next(v for (d, _), v in results.items() if d == demo)
        lines.append(f"| {demo} | " + " | ".join(_cell(r.get(c)) for c in BASELINE_COLUMNS) + " |")
    lines += ["", "Runs:", ""]
    for demo in dict.fromkeys(d for d, _ in results):
        r = next(v for (d, _), v in results.items() if d == demo)
        lines.append(f"- {demo}: `{r.get('command', '?')}`, {r.get('when', '?')}, load average "
                     f"(1 min) at start → end {r.get('load', '?')}")
    lines += ["", "Figures (rows: source | translated | reconstructed; left half A → B, right "
              "half B → A):", ""]
    for (demo, label), r in results.items():
        lines.append(f"- {demo}, {label}: [{r['figure']}]({r['figure']})")
    text = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return text


def section_markdown(demo: str, path: Path = RESULTS) -> str:
    """``demo``'s rows of the last table, as a section of ``applications_images`` or
    ``applications_sequences`` (figures stay in ``results/translation/``)."""
    rows = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    runs = {r["run"]: r["values"] for r in rows if r["demo"] == demo}
    if not runs:
        return f"## {demo} (CycleCoopNets)\n\nNo result yet: run `--only {demo}`.\n"
    first = next(iter(runs.values()))
    lines = [f"## {demo} (CycleCoopNets): with vs without the cycle term", "",
             f"`{first.get('command', '?')}` ({first.get('when', '?')}, load "
             f"{first.get('load', '?')}): the preset and the same run with `cycle_weight = 0`, "
             "side by side for the same time; metrics of `ebm eval` "
             "(ebm_engine/metrics/translation.py; details in "
             "[applications_translation.md](applications_translation.md)).", "",
             "| run | iterations | cpu_s | content_ab | content_ba | fd_ab | fd_ba |",
             "|---|---|---|---|---|---|---|"]
    for label, r in runs.items():
        lines.append(f"| {label} | " + " | ".join(_cell(r.get(c)) for c in (
            "iterations", "cpu_s", "content_ab", "content_ba", "fd_ab", "fd_ba")) + " |")
    lines.append(f"| no translation | – | – | {_cell(first.get('content_ab_source'))} | "
                 f"{_cell(first.get('content_ba_source'))} | {_cell(first.get('fd_ab_source'))} | "
                 f"{_cell(first.get('fd_ba_source'))} |")
    lines += [""] + [f"![{demo} {label}](translation/{Path(r['figure']).name}) {label}: source | "
                     "translated | reconstructed" for label, r in runs.items()]
    return "\n".join(lines) + "\n"


def section(demo: str):
    """``section(seconds, folder) -> markdown``: train and score ``demo`` (both runs)."""

    def run(seconds: float, folder: Path | None = None) -> str:
        main(["--only", demo, "--seconds", str(seconds)])
        return section_markdown(demo)

    run.__name__ = f"{demo.replace('-', '_')}_section"
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="training time per run")
    parser.add_argument("--n", type=int, default=500, help="sources scored per direction")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="--seconds of wall time, or of each run's CPU time (load-proof)")
    parser.add_argument("--only", choices=DEMOS, help="one demo")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for both runs (JSON value), e.g. sampler.n_steps=6")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    settings = tuple((k, json.loads(v)) for k, v in (s.split("=", 1) for s in args.set))
    demos = [args.only] if args.only else list(DEMOS)
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        shared = manager.dict()
        for demo in demos:
            before = os.getloadavg()[0]
            procs = [ctx.Process(target=train_and_score, args=(demo, w, args.seconds, args.n, shared,
                                                                 FIGURES, settings, args.clock))
                     for w in (None, 0.0)]
            for p in procs:
                p.start()
            for p in procs:
                p.join()
            command = (f"python -m benchmarks.applications_translation --only {demo} "
                       f"--seconds {args.seconds:g} --clock {args.clock} --n {args.n}"
                       + "".join(f" --set {s}" for s in args.set))
            for key in [k for k in shared.keys() if k[0] == demo]:
                shared[key] = {**shared[key], "command": command,
                               "when": time.strftime("%Y-%m-%d %H:%M"),
                               "load": f"{before:.1f} → {os.getloadavg()[0]:.1f}"}
            print(f"{demo}: done", flush=True)
        fresh = {k: shared[k] for k in sorted(shared.keys(), key=lambda k: (demos.index(k[0]),
                                                                           k[1] != "cycle"))}
    # --only reruns one demo: the other demos' rows come from the last full table
    sidecar = args.out.with_suffix(".json")
    kept = json.loads(sidecar.read_text()) if sidecar.is_file() else []
    results = {(r["demo"], r["run"]): r["values"] for r in kept if r["demo"] not in demos}
    results.update(fresh)
    results = {k: results[k] for k in sorted(results, key=lambda k: (DEMOS.index(k[0]),
                                                                     k[1] != "cycle"))}
    sidecar.parent.mkdir(parents=True, exist_ok=True)
    sidecar.write_text(json.dumps([{"demo": d, "run": r, "values": v}
                                   for (d, r), v in results.items()], indent=1) + "\n")
    print(write_table(results, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
