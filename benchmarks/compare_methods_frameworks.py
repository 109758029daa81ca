"""EBM + generator frameworks (CoopNets, latent-space EBM prior, divergence
triangle, flow contrastive estimation, JEM) vs plain maximum likelihood on the
digits demo, each trained for the same wall-clock budget on this CPU; plus the
anomaly-detection AUROC of held-out digits.

Usage::

    python -m benchmarks.compare_methods_frameworks [--budget 180] [--threads 1]
        [--methods ml,coopnets,latent_ebm,divergence_triangle,fce,jem]
        [--auroc-methods latent_ebm,coopnets] [--holdout 9]
        [--out benchmarks/results/compare_methods_frameworks.md]

Sample quality: each method trains from its digits preset
(``resources/presets/digits*.json``) until the budget is spent (drawing the
evaluation samples is not counted), then draws 500 samples with its own
sampling procedure. Metric: the project's digits Fréchet distance
(:func:`ebm_engine.metrics.digits.digits_fd`, lower is better) when the
metrics package is present, else only the pixel statistics below (the table
says so); always also a pixel-space Gaussian-kernel MMD² and a per-pixel
mean/std moment distance to 500 training digits. Metrics a method logs itself
(e.g. JEM's ``accuracy``) are reported from its last iteration.

Anomaly detection: each method in ``--auroc-methods`` trains for the same
budget on the digits *train* split with class ``--holdout`` removed
(``data.options = {"exclude_labels": [9], "split": "train"}``), then scores
the *test* split (every 5th digit, all classes; never trained on) with
:func:`ebm_engine.learning.scoring.score`; the AUROC separates the held-out
class (positives) from held-in test digits.

The table is rewritten after each run, so a cut-short benchmark still leaves
its rows.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import machine_line
from ebm_engine import atomic
from ebm_engine.learning.events import TrainStep
from ebm_engine.learning.trainer import Trainer
from ebm_engine.methods.base import available_methods
from ebm_engine.presets import available_presets, config_for

RESULTS = Path(__file__).resolve().parent / "results"

N_EVAL = 500
PRESET_NAMES = {"ml": "digits"}


def preset_for(method: str) -> str | None:
    """The method's digits preset (``digits-<method>`` with ``-`` for ``_``)."""
    name = PRESET_NAMES.get(method, "digits-" + method.replace("_", "-"))
    return name if name in available_presets() else None


def fd_metric():
    try:
        from ebm_engine.metrics.digits import digits_fd

        return digits_fd
    except Exception:  # metrics package missing in a partial checkout
        return None


def pixel_metrics(samples: torch.Tensor, data: torch.Tensor) -> tuple[float, float]:
    """(pixel MMD², moment distance); local fallbacks if the shared helpers are missing."""
    try:
        from ebm_engine.learning._quality import moment_distance, pixel_mmd

        return pixel_mmd(samples, data), moment_distance(samples, data)
    except ImportError:
        a, b = samples.flatten(1).double(), data.flatten(1).double()
        d_ab, d_aa, d_bb = torch.cdist(a, b) ** 2, torch.cdist(a, a) ** 2, torch.cdist(b, b) ** 2
        h = d_ab.median().clamp_min(1e-8)
        mmd = float(torch.exp(-d_aa / h).mean() + torch.exp(-d_bb / h).mean()
                    - 2 * torch.exp(-d_ab / h).mean())
        mom = float((a.mean(0) - b.mean(0)).pow(2).mean().sqrt() + (a.std(0) - b.std(0)).pow(2).mean().sqrt())
        return mmd, mom


def train_for(cfg, budget: float) -> tuple[Trainer, float, dict]:
    trainer = Trainer(cfg, None)
    start = time.perf_counter()
    last: dict = {}
    for event in trainer.events():
        if isinstance(event, TrainStep):
            last = event.metrics
            if time.perf_counter() - start >= budget:
                trainer.stop()
    return trainer, time.perf_counter() - start, last


def quality_row(method: str, budget: float, seed: int) -> dict:
    preset = preset_for(method)
    cfg = config_for("digits", preset, [("train.method", method), ("train.iterations", 10**7),
                                        ("train.device", "cpu"), ("train.seed", seed)])
    trainer, train_s, last = train_for(cfg, budget)
    for net in trainer.method.networks().values():
        net.eval()
    t0 = time.perf_counter()
    samples = torch.from_numpy(list(trainer.method.sample(N_EVAL))[-1].x).clamp(-1, 1)
    sample_s = time.perf_counter() - t0
    gen = torch.Generator().manual_seed(0)
    data = trainer.items[torch.randperm(len(trainer.items), generator=gen)[:N_EVAL]].cpu()
    mmd, mom = pixel_metrics(samples, data)
    fd = fd_metric()
    extra = {k: v for k, v in last.items() if "acc" in k}
    return {"method": method, "preset": preset, "iterations": trainer.iteration,
            "train_s": train_s, "sample_s": sample_s, "mmd": mmd, "moments": mom,
            "fd": fd(samples.numpy()) if fd else float("nan"), "extra": extra}


def reference_row(seed: int) -> dict:
    """Two disjoint halves of the real digits: the floor of each metric."""
    from ebm_engine.data import load_dataset

    items = load_dataset(config_for("digits").data).items
    perm = torch.randperm(len(items), generator=torch.Generator().manual_seed(seed))
    a, b = items[perm[:N_EVAL]], items[perm[N_EVAL:2 * N_EVAL]]
    mmd, mom = pixel_metrics(a, b)
    fd = fd_metric()
    return {"method": "real digits (reference)", "preset": "-", "iterations": 0, "train_s": 0.0,
            "sample_s": 0.0, "mmd": mmd, "moments": mom,
            "fd": fd(a.numpy()) if fd else float("nan"), "extra": {}}


def auroc_row(method: str, budget: float, seed: int, holdout: int) -> dict:
    from ebm_engine.data import load_dataset
    from ebm_engine.learning.scoring import auroc, score

    preset = preset_for(method)
    cfg = config_for("digits", preset, [
        ("train.method", method), ("train.iterations", 10**7), ("train.device", "cpu"),
        ("train.seed", seed), ("data.options", {"exclude_labels": [holdout], "split": "train"}),
    ])
    trainer, train_s, _ = train_for(cfg, budget)
    test_cfg = cfg.with_value("data.options", {"split": "test"}).data
    test = load_dataset(test_cfg)
    t0 = time.perf_counter()
    scores = score(trainer.method, test.items)
    score_s = time.perf_counter() - t0
    bad = np.asarray(test.meta["labels"]) == holdout
    return {"method": method, "iterations": trainer.iteration, "train_s": train_s,
            "score_s": score_s, "n_normal": int((~bad).sum()), "n_anomalous": int(bad.sum()),
            "auroc": auroc(scores[~bad], scores[bad]), "holdout": holdout}


def write_table(rows: list[dict], aurocs: list[dict], out: Path, budget: float, threads: int,
                has_fd: bool) -> None:
    fd_note = ("**digits FD** = the project's digits Fréchet distance "
               "(`ebm_engine.metrics.digits.digits_fd`, lower is better)" if has_fd else
               "**digits FD unavailable** (ebm_engine.metrics missing): only pixel statistics")
    lines = [
        "# Issue 7: EBM + generator frameworks vs plain ML, digits demo",
        "",
        machine_line(),
        "",
        f"Same wall-clock training budget per method: {budget:.0f} s on this CPU "
        f"(torch threads = {threads}; the machine was shared with other jobs, so iteration "
        f"counts are noisy). Metrics on {N_EVAL} samples from each method's own sampling "
        f"procedure (lower is better): {fd_note}; **pixel MMD²** = Gaussian-kernel MMD² on "
        "pixels vs 500 training digits; **moments** = RMS gap of per-pixel mean + RMS gap of "
        "per-pixel std. `other` lists metrics the method logs itself at its last iteration "
        "(JEM's classification accuracy).",
        "",
        "| method | preset | iterations | train s | sample s | digits FD | pixel MMD² | moments | other |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        other = ", ".join(f"{k} {v:.3f}" for k, v in r.get("extra", {}).items()) or "-"
        lines.append(f"| {r['method']} | {r['preset']} | {r['iterations']} | {r['train_s']:.0f} | "
                     f"{r['sample_s']:.1f} | {r['fd']:.1f} | {r['mmd']:.4f} | {r['moments']:.3f} "
                     f"| {other} |")
    if aurocs:
        lines += [
            "",
            "## Anomaly detection (`ebm score`), digits",
            "",
            f"Trained {budget:.0f} s on the digits train split without the held-out class; "
            "scored the test split (every 5th digit, never trained on); AUROC of held-out "
            "class vs held-in test digits (0.5 = chance). latent_ebm scores −log p(x, z*) at "
            "the inferred latent; other methods score their energy E(x).",
            "",
            "| method | held-out class | iterations | train s | score s | held-in / held-out | AUROC |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for a in aurocs:
            lines.append(f"| {a['method']} | {a['holdout']} | {a['iterations']} | {a['train_s']:.0f} "
                         f"| {a['score_s']:.1f} | {a['n_normal']} / {a['n_anomalous']} "
                         f"| {a['auroc']:.3f} |")
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out, "\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=180.0, help="training seconds per run")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--methods", default="ml,coopnets,latent_ebm,divergence_triangle,fce,jem")
    p.add_argument("--auroc-methods", default="latent_ebm,coopnets")
    p.add_argument("--holdout", type=int, default=9)
    p.add_argument("--out", default=str(RESULTS / "compare_methods_frameworks.md"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    known = available_methods()
    wanted = [m for m in args.methods.split(",") if m]
    methods = [m for m in wanted if m in known and preset_for(m)]
    skipped = sorted(set(wanted) - set(methods))
    if skipped:
        print(f"skipping (no such method or no digits preset): {', '.join(skipped)}", flush=True)
    out = Path(args.out)
    log = out.with_suffix(".jsonl")
    has_fd = fd_metric() is not None
    rows, aurocs = [reference_row(args.seed)], []
    log.write_text(json.dumps(rows[0]) + "\n", encoding="utf-8")
    write_table(rows, aurocs, out, args.budget, args.threads, has_fd)
    # AUROC first: it is the headline number for these methods.
    for method in [m for m in args.auroc_methods.split(",") if m in known and preset_for(m)]:
        aurocs.append(auroc_row(method, args.budget, args.seed, args.holdout))
        print(aurocs[-1], flush=True)
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"auroc": aurocs[-1]}) + "\n")
        write_table(rows, aurocs, out, args.budget, args.threads, has_fd)
    for method in methods:
        rows.append(quality_row(method, args.budget, args.seed))
        print(rows[-1], flush=True)
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(rows[-1]) + "\n")
        write_table(rows, aurocs, out, args.budget, args.threads, has_fd)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
