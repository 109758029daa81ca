"""Text, controlled text and molecules: latent-space EBM prior vs a N(0, I) prior at equal time.

``python -m benchmarks.applications_symbols`` trains, for each demo
(``grammar-text``, ``grammar-text-controlled``, ``molecules``), the
``latent_seq`` method from its preset: with the EBM prior and with
``prior=gaussian`` (the same decoder and posterior sampler; the baseline).
Where the preset's posterior sampler is colder than exact Langevin
(``post_noise`` < 1), which suits a learned prior, a third run gives the
Gaussian baseline its own best sampler: ``prior=gaussian`` with
``post_noise=1`` (an exact posterior for a N(0, I) prior, as in a VAE).
A demo's runs train side by side in separate processes, one thread each,
for the same wall-clock budget, so they share the machine's load equally
(``--parallel``: every demo's runs at once); each is then scored by
:func:`ebm_engine.metrics.symbols.evaluate_symbols` (the metrics ``ebm
eval`` writes) and the table goes to
``benchmarks/results/applications_symbols.md`` with a few samples of each.

Options: ``--seconds`` (training budget per run), ``--n`` (samples scored),
``--demos``, ``--parallel``, ``--serial`` (one run at a time: on a shared
machine each run then gets the same single core, and ``--iterations`` makes
"equal time" equal work), ``--iterations`` (also the runs' ``train.iterations``,
so learning-rate schedules end where the run does).

Each run's figures are also kept in ``applications_symbols.json``; the table
is written from all of them, so ``--demos molecules`` updates the molecule
rows and keeps the others (each row group says which command measured it).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "applications_symbols.md"
STORE = RESULTS.with_suffix(".json")
DEMOS = ("grammar-text", "grammar-text-controlled", "molecules")
COLUMNS = ("iterations", "cpu_s", "valid", "unique", "novel", "distinct_1", "distinct_2",
           "nll_heldout", "attr_accuracy", "attr_chance", "logp_w1", "qed_w1", "mw_w1")


def arms(demo: str) -> dict[str, list[tuple[str, object]]]:
    """The runs of ``demo``: label → config overrides."""
    from ebm_engine.presets import config_for

    runs: dict[str, list[tuple[str, object]]] = {
        "ebm": [("train.options.prior", "ebm")],
        "gaussian": [("train.options.prior", "gaussian")],
    }
    if config_for(demo).train.options.get("post_noise", 1.0) < 1.0:
        runs["gaussian, post_noise 1"] = [("train.options.prior", "gaussian"),
                                          ("train.options.post_noise", 1.0)]
    return runs


def train_and_score(demo: str, prior: str, overrides: list, seconds: float, n: int,
                    out: dict, iterations_cap: int = 0) -> None:
    """Train ``demo`` with ``overrides`` for ``seconds`` (or ``iterations_cap`` iterations,
    whichever comes first); put its metrics and samples in ``out[(demo, prior)]``."""
    import torch

    from ebm_engine.learning.events import TrainStep
    from ebm_engine.learning.trainer import Trainer
    from ebm_engine.metrics.symbols import evaluate_symbols
    from ebm_engine.presets import config_for

    torch.set_num_threads(1)
    # The iteration cap is also the run's horizon (learning-rate schedules).
    cfg = config_for(demo, overrides=[*overrides, ("train.iterations", iterations_cap or 10**6),
                                      ("train.device", "cpu"), ("train.checkpoint_every", 0)])
    trainer = Trainer(cfg, None)
    start, cpu_start = time.perf_counter(), time.process_time()
    iterations = 0
    for event in trainer.events():
        if isinstance(event, TrainStep):
            iterations = event.iteration
            if time.perf_counter() - start > seconds or 0 < iterations_cap <= iterations:
                trainer.stop()
    trained, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    metrics = evaluate_symbols(trainer.method, trainer.dataset, n, seed=0)
    spec = trainer.spec.symbols
    trainer.method.rng.manual_seed(1)
    with torch.no_grad():
        shown = list(trainer.method.sample(8))[-1].x
    lines = spec.decode_all(shown)
    if spec.checker == "smiles":  # the first 8 samples as RDKit drawings, to look at
        from ebm_engine.export.symbols import export_symbols

        slug = "".join(c if c.isalnum() else "_" for c in prior).strip("_")
        export_symbols(shown, "molecule", spec, grid_path(demo, slug), ".png")
    if spec.attribute:
        lines = [f"[{spec.attribute_values[int(a)]}] {s}"
                 for a, s in zip(spec.attribute_of(shown), lines, strict=True)]
    out[(demo, prior)] = {"iterations": iterations, "seconds": trained, "cpu_s": round(cpu),
                          **metrics, "samples": lines,
                          "load": round(os.getloadavg()[0], 1)}


def grid_path(demo: str, slug: str) -> Path:
    """Where the molecule grid of a run goes (next to the table)."""
    return RESULTS.parent / f"applications_symbols_{demo}_{slug}.png"


def _cell(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return str(value)
    return f"{value:.3f}"


def write_table(results: dict, command: str, path: Path = RESULTS, load: str = "") -> str:
    """Write the table of ``results`` (``(demo, prior) → figures``) to ``path``, with the rows
    of other demos kept from the JSON store next to it; return the text."""
    stamp = f"{platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d %H:%M')}"
    store_path = path.with_suffix(".json")
    stored = json.loads(store_path.read_text(encoding="utf-8")) if store_path.is_file() else []
    fresh = {demo for demo, _ in results}
    rows = [r for r in stored if r["demo"] not in fresh]
    rows += [{"demo": demo, "prior": prior, "command": command, "machine": stamp,
              "group_load": load, **r} for (demo, prior), r in results.items()]
    rows.sort(key=lambda r: DEMOS.index(r["demo"]) if r["demo"] in DEMOS else len(DEMOS))
    from ebm_engine.atomic import write_text as write_text_atomic

    store_path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(store_path, json.dumps(rows, indent=1, default=float) + "\n")
    lines = [
        "# Symbols: latent-space EBM prior vs N(0, I) prior at equal time",
        "",
        "Each demo's runs train from the demo's preset for the same time: side by side "
        "(one thread each) for the same wall-clock time, or up to the same number of "
        "iterations, or (`--serial`) one after the other for the same number of iterations "
        "(then also the runs' `train.iterations`, which learning-rate schedules follow). The "
        "baseline is the same decoder and posterior "
        "sampler with `prior=gaussian`, and, where the preset's posterior is colder than "
        "exact Langevin, also `prior=gaussian` with `post_noise=1` (its own exact "
        "posterior). Samples are decoded at the preset's temperature, the same for every "
        "run of a demo. Metrics: `ebm eval`'s (ebm_engine/metrics/symbols.py): "
        "`valid` by the grammar's exact parser or RDKit; `nll_heldout` in nats per token "
        "(bound −log mean_k p(x|z_k), 32 prior draws); `attr_accuracy` of samples drawn "
        "given an attribute, judged by the grammar's parser (invalid = miss), next to "
        "`attr_chance` for a random target; `*_w1` the Wasserstein-1 distance of the "
        "samples' logP/QED/MW to the data's. `cpu_s`: the training process's CPU seconds "
        "(the machine is shared: wall time buys fewer iterations under load).",
        "",
        "Measured by (each demo's rows come from one command):",
        "",
    ]
    seen: set[str] = set()
    for r in rows:
        if r["demo"] in seen:
            continue
        seen.add(r["demo"])
        extra = f"; load average (1 min) {r['group_load']}" if r.get("group_load") else ""
        lines.append(f"- {r['demo']}: `python -m benchmarks.applications_symbols "
                     f"{r['command']}` on {r['machine']}{extra}")
    lines += ["", "| demo | prior | " + " | ".join(COLUMNS) + " |",
              "|---|---|" + "---|" * len(COLUMNS)]
    for r in rows:
        lines.append(f"| {r['demo']} | {r['prior']} | "
                     + " | ".join(_cell(r.get(c)) for c in COLUMNS) + " |")
    lines += ["", "## Samples (seed 1, first 8)", ""]
    for r in rows:
        lines += [f"**{r['demo']}, {r['prior']} prior**", "", "```"] + r["samples"] + ["```", ""]
    text = "\n".join(lines) + "\n"
    write_text_atomic(path, text)
    return text


def _iterations(value: str) -> int | str:
    return value if value == "preset" else int(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="training time per run")
    parser.add_argument("--n", type=int, default=300, help="samples scored per run")
    parser.add_argument("--demos", nargs="+", default=list(DEMOS), choices=DEMOS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--parallel", action="store_true",
                      help="train every demo's runs at once (same budget each)")
    mode.add_argument("--serial", action="store_true",
                      help="one run at a time (a shared machine: each run gets one core)")
    parser.add_argument("--iterations", type=_iterations, default=0,
                        help="stop a run at this many iterations if its time is not up first "
                             "(equal work per run on a loaded machine; also the runs' "
                             "train.iterations); 'preset': each demo's preset iterations")
    args = parser.parse_args(argv)
    from ebm_engine.presets import config_for

    ctx = mp.get_context("spawn")
    runs = {demo: arms(demo) for demo in args.demos}
    caps = {demo: config_for(demo).train.iterations if args.iterations == "preset"
            else args.iterations for demo in args.demos}
    if args.parallel:
        groups = [[(demo, label) for demo in args.demos for label in runs[demo]]]
    elif args.serial:
        groups = [[(demo, label)] for demo in args.demos for label in runs[demo]]
    else:
        groups = [[(demo, label) for label in runs[demo]] for demo in args.demos]
    with ctx.Manager() as manager:
        shared = manager.dict()
        loads: dict[str, list[str]] = {}
        for group in groups:
            before = os.getloadavg()[0]
            procs = [ctx.Process(target=train_and_score,
                                 args=(demo, label, runs[demo][label], args.seconds, args.n,
                                       shared, caps[demo]))
                     for demo, label in group]
            for p in procs:
                p.start()
            for p in procs:
                p.join()
            for demo in dict.fromkeys(d for d, _ in group):
                loads.setdefault(demo, []).append(f"{before:.1f} → {os.getloadavg()[0]:.1f}")
            print(f"{group}: done", flush=True)
        results = {(demo, label): shared[(demo, label)] for demo in args.demos
                   for label in runs[demo] if (demo, label) in shared}
    for demo in args.demos:  # the load of each group of this demo's runs
        for key in [k for k in results if k[0] == demo]:
            results[key]["group_load"] = ", ".join(loads.get(demo, []))
    command = f"--seconds {args.seconds:g} --n {args.n}" + (
        f" --iterations {args.iterations}" if args.iterations else "") + (
        " --parallel" if args.parallel else "") + (" --serial" if args.serial else "")
    print(write_table(results, command, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
