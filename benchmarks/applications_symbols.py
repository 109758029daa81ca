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
``--demos``, ``--parallel``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "applications_symbols.md"
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
    cfg = config_for(demo, overrides=[*overrides, ("train.iterations", 10**6),
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
                          **metrics, "samples": lines}


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
    lines = [
        "# Symbols: latent-space EBM prior vs N(0, I) prior at equal time",
        "",
        f"`python -m benchmarks.applications_symbols {command}` on "
        f"{platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d %H:%M')}. "
        "Each demo's runs train side by side (one thread each) for the same wall-clock "
        "time (or up to the same number of iterations) from the demo's preset; the baseline is the same decoder and posterior "
        "sampler with `prior=gaussian`, and, where the preset's posterior is colder than "
        "exact Langevin, also `prior=gaussian` with `post_noise=1` (its own exact "
        "posterior). Samples are decoded at the preset's temperature, the same for every "
        "run of a demo. Metrics: `ebm eval`'s (ebm_engine/metrics/symbols.py): "
        "`valid` by the grammar's exact parser or RDKit; `nll_heldout` in nats per token "
        "(bound −log mean_k p(x|z_k), 32 prior draws); `attr_accuracy` of samples drawn "
        "given an attribute, judged by the grammar's parser (invalid = miss), next to "
        "`attr_chance` for a random target; `*_w1` the Wasserstein-1 distance of the "
        "samples' logP/QED/MW to the data's. `cpu_s`: the training process's CPU seconds "
        "(the machine is shared: wall time buys fewer iterations under load)."
        + (f" Load average (1 min) at the start and end of each group of runs: {load}." if load else ""),
        "",
        "| demo | prior | " + " | ".join(COLUMNS) + " |",
        "|---|---|" + "---|" * len(COLUMNS),
    ]
    for (demo, prior), r in results.items():
        lines.append(f"| {demo} | {prior} | " + " | ".join(_cell(r.get(c)) for c in COLUMNS) + " |")
    lines += ["", "## Samples (seed 1, first 8)", ""]
    for (demo, prior), r in results.items():
        lines += [f"**{demo}, {prior} prior**", "", "```"] + r["samples"] + ["```", ""]
    text = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="training time per run")
    parser.add_argument("--n", type=int, default=300, help="samples scored per run")
    parser.add_argument("--demos", nargs="+", default=list(DEMOS), choices=DEMOS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--parallel", action="store_true",
                        help="train every demo's runs at once (same budget each)")
    parser.add_argument("--iterations", type=int, default=0,
                        help="stop a run at this many iterations if its time is not up first "
                             "(equal work per run on a loaded machine)")
    args = parser.parse_args(argv)
    ctx = mp.get_context("spawn")
    runs = {demo: arms(demo) for demo in args.demos}
    groups = [args.demos] if args.parallel else [[demo] for demo in args.demos]
    with ctx.Manager() as manager:
        shared = manager.dict()
        loads = []
        for group in groups:
            before = os.getloadavg()[0]
            procs = [ctx.Process(target=train_and_score,
                                 args=(demo, label, overrides, args.seconds, args.n, shared,
                                       args.iterations))
                     for demo in group for label, overrides in runs[demo].items()]
            for p in procs:
                p.start()
            for p in procs:
                p.join()
            loads.append(f"{', '.join(group)} {before:.1f} → {os.getloadavg()[0]:.1f}")
            print(f"{', '.join(group)}: done", flush=True)
        results = {(demo, label): shared[(demo, label)] for demo in args.demos
                   for label in runs[demo] if (demo, label) in shared}
    command = f"--seconds {args.seconds:g} --n {args.n}" + (
        f" --iterations {args.iterations}" if args.iterations else "") + (
        " --parallel" if args.parallel else "")
    print(write_table(results, command, args.out, "; ".join(loads)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
