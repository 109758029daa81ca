"""Text, controlled text and molecules: latent-space EBM prior vs a N(0, I) prior at equal time.

``python -m benchmarks.applications_symbols`` trains, for each demo
(``grammar-text``, ``grammar-text-controlled``, ``molecules``), the
``latent_seq`` method twice from its preset: with the EBM prior and with
``prior=gaussian`` (the same decoder and posterior sampler; the baseline).
The two runs of a demo train side by side in two processes, one thread
each, for the same wall-clock budget, so they share the machine's load
equally; each is then scored by :func:`ebm_engine.metrics.symbols.evaluate_symbols`
(the metrics ``ebm eval`` writes) and the table goes to
``benchmarks/results/applications_symbols.md`` with a few samples of each.

Options: ``--seconds`` (training budget per run), ``--n`` (samples scored),
``--demos``.
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
COLUMNS = ("iterations", "cpu_s", "valid", "unique", "novel", "distinct_1", "distinct_2", "nll_heldout",
           "attr_accuracy", "attr_chance", "logp_w1", "qed_w1", "mw_w1")


def train_and_score(demo: str, prior: str, seconds: float, n: int, out: dict) -> None:
    """Train ``demo`` with ``prior`` for ``seconds``; put its metrics and samples in ``out``."""
    import torch

    from ebm_engine.learning.events import TrainStep
    from ebm_engine.learning.trainer import Trainer
    from ebm_engine.metrics.symbols import evaluate_symbols
    from ebm_engine.presets import config_for

    torch.set_num_threads(1)
    cfg = config_for(demo, overrides=[("train.options.prior", prior),
                                      ("train.iterations", 10**6), ("train.device", "cpu"),
                                      ("train.checkpoint_every", 0)])
    trainer = Trainer(cfg, None)
    start, cpu_start = time.perf_counter(), time.process_time()
    iterations = 0
    for event in trainer.events():
        if isinstance(event, TrainStep):
            iterations = event.iteration
            if time.perf_counter() - start > seconds:
                trainer.stop()
    trained, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    metrics = evaluate_symbols(trainer.method, trainer.dataset, n, seed=0)
    spec = trainer.spec.symbols
    trainer.method.rng.manual_seed(1)
    with torch.no_grad():
        shown = list(trainer.method.sample(8))[-1].x
    lines = spec.decode_all(shown)
    if spec.attribute:
        lines = [f"[{spec.attribute_values[int(a)]}] {s}"
                 for a, s in zip(spec.attribute_of(shown), lines, strict=True)]
    out[(demo, prior)] = {"iterations": iterations, "seconds": trained, "cpu_s": round(cpu), **metrics,
                          "samples": lines}


def _cell(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return str(value)
    return f"{value:.3f}"


def write_table(results: dict, seconds: float, n: int, path: Path = RESULTS,
                load: str = "") -> str:
    lines = [
        "# Symbols: latent-space EBM prior vs N(0, I) prior at equal time",
        "",
        f"`python -m benchmarks.applications_symbols --seconds {seconds:g} --n {n}` on "
        f"{platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d %H:%M')}. "
        "Each demo's two runs train side by side (one thread each) for the same wall-clock "
        "time from the demo's preset; the baseline is the same decoder and posterior "
        "sampler with `prior=gaussian`. Metrics: `ebm eval`'s (ebm_engine/metrics/symbols.py): "
        "`valid` by the grammar's exact parser or RDKit; `nll_heldout` in nats per token "
        "(bound −log mean_k p(x|z_k), 32 prior draws); `attr_accuracy` of samples drawn "
        "given an attribute, judged by the grammar's parser (invalid = miss), next to "
        "`attr_chance` for a random target; `*_w1` the Wasserstein-1 distance of the "
        "samples' logP/QED/MW to the data's. `cpu_s`: the training process's CPU seconds "
        "(the machine is shared: wall time buys fewer iterations under load)."
        + (f" Load average (1 min) at each demo's start and end: {load}." if load else ""),
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
    args = parser.parse_args(argv)
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        shared = manager.dict()
        loads = []
        for demo in args.demos:
            before = os.getloadavg()[0]
            procs = [ctx.Process(target=train_and_score,
                                 args=(demo, prior, args.seconds, args.n, shared))
                     for prior in ("ebm", "gaussian")]
            for p in procs:
                p.start()
            for p in procs:
                p.join()
            loads.append(f"{demo} {before:.1f} → {os.getloadavg()[0]:.1f}")
            print(f"{demo}: done", flush=True)
        results = {k: shared[k] for demo in args.demos for k in ((demo, "ebm"), (demo, "gaussian"))
                   if k in shared}
    print(write_table(results, args.seconds, args.n, args.out, "; ".join(loads)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
