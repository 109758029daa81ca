"""Crowd prediction: latent-belief EBM prior vs a N(0, I) prior vs constant velocity.

``python -m benchmarks.applications_crowd`` trains the ``crowd-prediction``
demo's preset twice, side by side in two processes (one thread each, the
same wall-clock budget): method ``lbebm`` with the EBM prior and with
``prior=gaussian`` (the same encoder, decoder and posterior sampler; the
baseline). Each is scored on the held-out agents (another simulation) by
the method's ``evaluate`` — what ``ebm eval`` reports: best-of-20 ADE/FDE
in metres, one draw's ADE, and constant velocity on the same windows.

The table goes into ``benchmarks/results/applications_sequences.md`` as its
``crowd`` section (:func:`benchmarks.applications_sequences.write_section`;
``python -m benchmarks.applications_sequences --only crowd`` runs this), and
a figure of predictions vs ground truth to
``benchmarks/results/crowd_predictions.png``.

Options: ``--iterations`` (default: the preset's, the same for both runs),
or ``--seconds`` (the same wall-clock budget instead: on a loaded machine the
two runs then get unequal CPU), ``--n`` (held-out windows).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "applications_sequences.md"
FIGURE = Path(__file__).parent / "results" / "crowd_predictions.png"
COLUMNS = ("iterations", "wall_s", "cpu_s", "ade", "fde", "ade_1", "fde_1", "ade_cv", "fde_cv", "ade_gain_cv")
#: Held-out windows drawn in the figure.
SHOWN = 6


def train_and_score(prior: str, seconds: float, n: int, out: dict, iterations: int = 0,
                    settings: tuple = ()) -> None:
    """Train ``crowd-prediction`` with ``prior`` for ``seconds`` (or exactly
    ``iterations`` when given); put its scores in ``out``."""
    import numpy as np
    import torch

    from ebm_engine.learning.events import TrainStep
    from ebm_engine.learning.trainer import Trainer
    from ebm_engine.presets import config_for

    torch.set_num_threads(1)
    cfg = config_for("crowd-prediction", overrides=[
        ("train.options.prior", prior), ("train.iterations", iterations or 10**6),
        ("train.device", "cpu"),
        ("train.checkpoint_every", 0), *settings])
    trainer = Trainer(cfg, None)
    start, cpu_start = time.perf_counter(), time.process_time()
    done = 0
    for event in trainer.events():
        if isinstance(event, TrainStep):
            done = event.iteration
            if not iterations and time.perf_counter() - start > seconds:
                trainer.stop()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    method, meta = trainer.method, trainer.dataset.meta
    metrics = method.evaluate(trainer.dataset, n, seed=0)
    # The figure's windows: spread over the held-out set, 20 predictions each.
    pick = np.linspace(0, min(n, len(meta["heldout"])) - 1, SHOWN).astype(int)
    method.rng.manual_seed(0)
    preds = method.predict(torch.from_numpy(meta["heldout_observed"][pick]).float(),
                           method.opts.best_of).cpu().numpy()
    out[prior] = {"iterations": done, "wall_s": round(wall), "cpu_s": round(cpu), **metrics,
                  "figure": {"observed": meta["heldout_observed"][pick],
                             "truth": meta["heldout"][pick], "predicted": preds}}


def _cell(value) -> str:
    if value is None:
        return "–"
    return str(value) if isinstance(value, int) else f"{value:.3f}"


def section(results: dict, seconds: float, n: int, load: str = "", iterations: int = 0,
            settings: list[str] | None = None) -> str:
    """The ``crowd`` section of the results file (Markdown)."""
    budget = f"--iterations {iterations}" if iterations else f"--seconds {seconds:g}"
    budget += "".join(f" --set {kv}" for kv in settings or ())
    same = "the same number of iterations" if iterations else "the same wall-clock time"
    lines = [
        "## crowd: `crowd-prediction`, latent-belief EBM (method `lbebm`)",
        "",
        f"`python -m benchmarks.applications_crowd {budget} --n {n}` on "
        f"{platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d %H:%M')}. "
        f"Both runs train side by side (one thread each) for {same} from "
        "the demo's preset; the baseline is the same encoder, decoder and posterior sampler "
        "with `prior=gaussian`. Scored on held-out agents (another simulation), observe 8 "
        "positions (3.2 s), predict 12 (4.8 s); metres. `ade`/`fde`: best of 20 draws "
        "(the ETH/UCY protocol); `ade_1`/`fde_1`: one draw; `ade_cv`/`fde_cv`: constant "
        "velocity on the same windows (the same call); `ade_gain_cv` = 1 − ade/ade_cv."
        + (f" Load average (1 min) at start and end: {load}." if load else ""),
        "",
        "| prior | " + " | ".join(COLUMNS) + " |",
        "|---|" + "---|" * len(COLUMNS),
    ]
    for prior, r in results.items():
        lines.append(f"| {prior} | " + " | ".join(_cell(r.get(c)) for c in COLUMNS) + " |")
    lines += ["", f"Figure: `{FIGURE.name}` (held-out agents: observed black, truth green dashed, "
              "20 EBM-prior predictions blue, constant velocity red)."]
    return "\n".join(lines) + "\n"


def draw_figure(fig_data: dict, path: Path = FIGURE) -> None:
    """Observed, true and predicted futures of a few held-out agents, in the plaza."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from ebm_engine.data import crowd_sim
    from ebm_engine.metrics.prediction import constant_velocity

    obs, truth, preds = fig_data["observed"], fig_data["truth"], fig_data["predicted"]
    cv = constant_velocity(obs, truth.shape[1])
    fig, axes = plt.subplots(2, 3, figsize=(12, 7))
    for i, ax in enumerate(axes.flat[: len(obs)]):
        for x, y, r in crowd_sim.OBSTACLES:
            ax.add_patch(plt.Circle((x, y), r, color="0.6"))
        for p in preds[i]:
            ax.plot(*np.r_[obs[i][-1:], p].T, color="tab:blue", alpha=0.35, lw=1)
        ax.plot(*obs[i].T, "k.-", lw=2)
        ax.plot(*np.r_[obs[i][-1:], truth[i]].T, "--", color="tab:green", lw=2)
        ax.plot(*np.r_[obs[i][-1:], cv[i]].T, color="tab:red", lw=1.5)
        centre = obs[i][-1]
        ax.set_xlim(centre[0] - 7, centre[0] + 7)
        ax.set_ylim(centre[1] - 5, centre[1] + 5)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=0,
                        help="iterations of each run (default: the preset's)")
    parser.add_argument("--seconds", type=float, default=0.0,
                        help="train each run for this wall-clock time instead")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for both runs (JSON value), e.g. train.lr=3e-5")
    parser.add_argument("--n", type=int, default=1000, help="held-out windows scored")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not args.seconds and not args.iterations:
        from ebm_engine.presets import load_preset

        args.iterations = int(load_preset("crowd-prediction")["train"]["iterations"])
    settings = tuple((k, json.loads(v)) for k, v in (kv.split("=", 1) for kv in args.set))
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        shared = manager.dict()
        before = os.getloadavg()[0]
        procs = [ctx.Process(target=train_and_score, args=(prior, args.seconds, args.n, shared, args.iterations,
                                                  settings))
                 for prior in ("ebm", "gaussian")]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        load = f"{before:.1f} → {os.getloadavg()[0]:.1f}"
        results = {k: dict(shared[k]) for k in ("ebm", "gaussian") if k in shared}
    if "ebm" in results:
        draw_figure(results["ebm"]["figure"], args.out.parent / FIGURE.name)
    from benchmarks.applications_sequences import write_section

    text = section(results, args.seconds, args.n, load, args.iterations, args.set)
    write_section("crowd", text, args.out)
    print(text)
    return 0 if len(results) == 2 else 1


if __name__ == "__main__":
    raise SystemExit(main())
