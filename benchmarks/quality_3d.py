"""The 3D and video demos trained for their advertised time: metrics, baselines, energies.

Usage::

    python -m benchmarks.quality_3d [--only shapes-voxels,shapes-points,dynamic-texture]
        [--scale 1.0] [--evals 4] [--no-times] [--out benchmarks/results/quality_3d.md]

Each demo trains with its own preset for its iterations or its advertised
minutes, whichever ends first (as a user's run), the minutes counted in
CPU seconds of this one-thread process (far less sensitive to load; conservative
for the idle 2-core minutes the catalogue advertises). It is scored
``--evals`` times like ``ebm eval`` (:func:`~ebm_engine.metrics.evaluate.score_method`;
scoring time is not training time) and, in the same run, a **baseline**
goes through the same metric code: held-out items of the same demo (another
``data.options.seed``) in place of the samples. Videos add a frozen-frame
baseline (each training clip's first frame held) and the mean frame-to-frame
change, to show whether samples move like the data.

Writes ``quality_3d.md`` / ``quality_3d.json`` and ``quality_3d/``: per demo
the energy curves (``<demo>_energy.png``: ``energy_data`` and
``energy_sample`` per iteration), the samples (``<demo>_samples.png``) and
the data (``<demo>_data.png``); unless ``--no-times`` (implied by a
``--scale`` other than 1), these demos' rows of ``resources/measured.json``.
Long (45 CPU minutes at scale 1), not part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch

from benchmarks.scored_training import train_and_score
from ebm_engine import atomic
from ebm_engine.config import DataConfig
from ebm_engine.data import load_dataset
from ebm_engine.data.catalogue import demos
from ebm_engine.learning.events import TrainStep
from ebm_engine.learning.trainer import Trainer
from ebm_engine.metrics.evaluate import eval_count, evaluate_samples
from ebm_engine.presets import config_for

RESULTS = Path(__file__).resolve().parent / "results"
DEMOS = ("shapes-voxels", "shapes-points", "dynamic-texture")
HEADLINE = {"voxel": "mmd_iou", "pointcloud": "mmd_cd", "video": "gram_motion"}


def held_out(data: DataConfig, seed: int = 1):
    """The same demo drawn with another seed: items the model never saw."""
    options = {**data.options, "seed": seed}
    return load_dataset(DataConfig(source=data.source, image_size=data.image_size,
                                   grayscale=data.grayscale, options=options)).items


def motion(x: np.ndarray | torch.Tensor) -> float:
    """Mean absolute frame-to-frame change of ``(N, C, T, H, W)`` clips."""
    return float(torch.as_tensor(np.asarray(x)).float().diff(dim=2).abs().mean())


def baselines(data: DataConfig, dataset, n: int) -> dict[str, dict[str, float]]:
    """Metrics of non-model stand-ins for the samples, through the same code."""
    kind = dataset.kind
    other = held_out(data)[:n]
    out = {"held-out items": evaluate_samples(other, dataset)}
    if kind == "video":
        out["held-out items"]["motion"] = motion(other)
        frozen = dataset.items[:, :, :1].expand_as(dataset.items).clone()
        out["frozen frames"] = {**evaluate_samples(frozen, dataset), "motion": motion(frozen)}
        out["training items"] = {"motion": motion(dataset.items)}
    return out


def measure(name: str, scale: float, evals: int, seed: int, out_dir: Path) -> dict:
    """Train demo ``name`` for its advertised CPU minutes × ``scale``; score and draw it."""
    cfg = config_for(name, None, [("train.device", "cpu"), ("train.seed", seed)])
    # As a user's run (and benchmarks.quality): the preset's iterations or the
    # advertised minutes, whichever ends first (both × scale).
    iterations = max(1, round(cfg.train.iterations * scale))
    cfg = cfg.replace_value("train.iterations", iterations)
    trainer = Trainer(cfg, None)
    budget = demos()[name].expected_minutes * 60.0 * scale
    curve = []

    def step(event: TrainStep) -> None:
        m = event.metrics
        curve.append((event.iteration, m.get("energy_data"), m.get("energy_sample"), m.get("loss")))

    scorings = train_and_score(
        trainer, lambda seconds, it, k: seconds >= budget * k / evals
        or it >= iterations * k / evals, evals, seed, "cpu",
        on_step=step, on_score=lambda s: print(name, s.iteration, s.values, flush=True))
    points = [{"cpu_minutes": s.seconds / 60.0, "iteration": s.iteration, "metrics": s.values}
              for s in scorings]
    better = scorings[-1].better if scorings else {}
    ds = trainer.dataset
    n = eval_count(trainer.method, ds)
    frames = list(trainer.method.sample(n, n_steps=cfg.sampler.n_steps))
    samples = frames[-1].x
    base = baselines(cfg.data, ds, n)
    if ds.kind == "video":
        points[-1]["metrics"]["motion"] = motion(samples)
    draw_energy(curve, name, out_dir / f"{name}_energy.png")
    draw_items(samples, ds.kind, out_dir / f"{name}_samples.png")
    draw_items(ds.items.numpy(), ds.kind, out_dir / f"{name}_data.png")
    tail = [c for c in curve[len(curve) // 2:] if c[1] is not None]
    gap = [abs(c[1] - c[2]) for c in tail]
    return {"label": name, "data": name, "kind": ds.kind, "preset": name,
            "iterations": trainer.iteration, "budget_cpu_minutes": budget / 60.0,
            "headline": HEADLINE[ds.kind], "better": better, "points": points,
            "baselines": base,
            "energy": {"data_first": curve[0][1], "data_last": curve[-1][1],
                       "second_half_data_range": [min(c[1] for c in tail), max(c[1] for c in tail)],
                       "second_half_gap_median": float(np.median(gap)) if gap else None,
                       "second_half_loss_abs_median": float(np.median([abs(c[3]) for c in tail]))
                       if tail else None}}


def draw_energy(curve: list, name: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    it = [c[0] for c in curve]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(it, [c[1] for c in curve], lw=0.8, label="energy_data")
    ax.plot(it, [c[2] for c in curve], lw=0.8, label="energy_sample", alpha=0.8)
    ax.set_xlabel("iteration")
    ax.set_title(f"{name}: energies per training batch")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def draw_items(items: np.ndarray, kind: str, path: Path, n: int = 16) -> None:
    """Voxels as cubes (z up), point clouds as scatters (z up), videos as frame strips."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = np.asarray(items, dtype=np.float32)
    if kind == "video":
        clips, frames = min(4, len(items)), items.shape[2]
        step = max(1, frames // 8)
        shown = list(range(0, frames, step))[:8]
        fig, axes = plt.subplots(clips, len(shown), figsize=(1.2 * len(shown), 1.25 * clips),
                                 squeeze=False)
        for r in range(clips):
            for c, t in enumerate(shown):
                img = np.clip((items[r, :, t].transpose(1, 2, 0) + 1) / 2, 0, 1).squeeze()
                axes[r, c].imshow(img, cmap="gray" if img.ndim == 2 else None)
                axes[r, c].axis("off")
                if r == 0:
                    axes[r, c].set_title(f"t={t}", fontsize=7)
        fig.subplots_adjust(0, 0, 1, 0.92, 0.03, 0.03)
        _save(fig, path)
        return
    items = items[:n]
    cols = 8
    rows = -(-len(items) // cols)
    fig = plt.figure(figsize=(1.6 * cols, 1.6 * rows), dpi=80)
    for i, item in enumerate(items):
        ax = fig.add_subplot(rows, cols, i + 1, projection="3d")
        ax.set_axis_off()
        if kind == "voxel":  # grid [x, y, z], occupied above 0 (the middle of [-1, 1])
            grid = item.reshape(item.shape[-3:]) > 0
            ax.voxels(grid, facecolors="#4a90d9", edgecolor="#20406080", linewidth=0.2)
            for setter, size in zip((ax.set_xlim, ax.set_ylim, ax.set_zlim), grid.shape,
                                    strict=True):
                setter(0, size)
        else:
            p = item.reshape(-1, 3)
            ax.scatter(p[:, 0], p[:, 1], p[:, 2], c=p[:, 2], s=1.5, cmap="viridis")
            for setter in (ax.set_xlim, ax.set_ylim, ax.set_zlim):
                setter(-1, 1)
    fig.subplots_adjust(0, 0, 1, 1, 0, 0)
    _save(fig, path)


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    tmp.replace(path)


def _fmt(values: dict[str, float], keys: list[str]) -> str:
    return " | ".join(f"{values[k]:.4g}" if k in values else "-" for k in keys)


def write_results(results: list[dict], out: Path) -> None:
    lines = ["# 3D and video demos in their advertised time", "",
             "`python -m benchmarks.quality_3d`: each demo's preset trained for its advertised "
             "minutes in CPU minutes of one thread (conservative for the idle 2-core minutes "
             "the catalogue shows), scored like `ebm eval` (samples vs a fixed subset of the "
             "training items). Baseline, same run and same code: held-out items of the same "
             "demo (another data seed) in place of the samples. Figures in `quality_3d/`.", "",
             "Why the voxel energies drifted (issue 11: energy_sample → −2.5e5, loss ±10 000): "
             "the old preset used the paper's reference N(0, 0.5²), but our empty voxels sit at "
             "−1, not at the reference mean 0 as in the paper's 0/1 grids. The reference pulled "
             "~90 % of every grid towards 'half full' with force 4 per voxel, 20 exact Langevin "
             "steps of δ²/2 = 0.005 could only reach ±1 on gradients of ~20 per voxel, and the "
             "binary data (on the corners of the clamp box) has no density, so sharpening never "
             "stopped paying: f grew on data and samples alike. The presets now drop the "
             "reference where the data's background sits at the edge of the range (the clamp "
             "box is the base measure), take larger gradient steps with small noise "
             "(noise_scale 0.1), and dequantise binary voxels (`train.options.data_noise`); "
             "`tests/test_stability_3d.py` fails if the old sampler comes back. The chains are "
             "persistent now (200 kept, 5 % restarted per draw): short runs from noise left "
             "rough blobs with floating voxels (mmd_iou 0.644, cov_iou 0.47, 1-NNA 0.53 at the "
             "end); persistent chains give solid shapes that score as held-out items (two seeds: "
             "0.553 / 0.51 / 0.50 and 0.567 / 0.51 / 0.485).", "",
             "Why the point clouds stayed blobs: a chain traced after 200 iterations of the old "
             "preset moved each point by ~0.001 per step (|∇| ≈ 0.2 per point at δ²/2 = 0.005; "
             "a larger δ only made the net shrink its gradient to match): the samples kept the "
             "Gaussian start's radial spread (coefficient of variation of the distance to the "
             "centroid 0.42; data 0.21) and only inflated it to the data's mean spread. A "
             "mean-pooled PointNet sees a cloud only through the average of per-point features, "
             "and pooled over many shapes at random offsets the points form a round blob, so "
             "matching that average was enough. The preset now standardises the net's deeper "
             "layers over each cloud's points (as the authors' LayerNorm over the point axis) "
             "and centres the points: after 200 iterations the chains form hollow shells "
             "(variation 0.20), energies stay flat (|energy_data − energy_sample| ~1, was ~43). "
             "The shells are still lumpy ellipsoids, not recognisable categories: with one model "
             "for six categories at random rotations, chains started from the same noise law "
             "see nearly the same pooled features and turn out alike (cov_cd 0.08 after 300 "
             "iterations; the old preset: mmd_cd 0.1005, cov_cd 0.11, 1-NNA 0.955 after 835 "
             "iterations in 3 CPU minutes). The chains are persistent now (200 kept, 5 % "
             "restarted per draw) and train 1500 iterations: the shells differ (balls, discs, "
             "rings, rods, elongated and two-lobed ones; cov_cd 0.28–0.33, 1-NNA 0.865–0.87, "
             "mmd_cd 0.077–0.078 over two runs), but no sample is yet a clean chair or table. "
             "Those 1500 iterations took 14.4 CPU minutes, then 10.6 once the net's "
             "standardisation over the points stopped calling aten::var. The preset now also "
             "splats each cloud onto a 16³ density grid that a small 3D ConvNet reads "
             "(model.options.splat): a Langevin step costs 2.3 times as much, and 600 "
             "iterations at lr 0.002 (about 13 CPU minutes) beat the 1500 without it; the "
             "samples are still fuzzy, with table-like tops on legs among the shells.", ""]
    for r in results:
        final = r["points"][-1]["metrics"] if r["points"] else {}
        keys = list(final)
        for b in r["baselines"].values():
            keys += [k for k in b if k not in keys]
        lines += [f"## {r['label']} ({r['kind']})", "",
                  f"{r['iterations']} iterations in "
                  f"{r['points'][-1]['cpu_minutes'] if r['points'] else 0.0:.1f} CPU minutes "
                  f"(budget {r['budget_cpu_minutes']:.1f}). "
                  "Better: " + ", ".join(f"{k} {r['better'].get(k, 'lower')}" for k in final), "",
                  "| | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
        for p in r["points"]:
            lines.append(f"| samples, {p['cpu_minutes']:.1f} CPU min (it {p['iteration']}) | "
                         + _fmt(p["metrics"], keys) + " |")
        for label, b in r["baselines"].items():
            lines.append(f"| baseline: {label} | " + _fmt(b, keys) + " |")
        e = r["energy"]
        lines += ["", f"Energies: energy_data {e['data_first']:.4g} at the start, "
                  f"{e['data_last']:.4g} at the end; second half of the run: energy_data in "
                  f"[{e['second_half_data_range'][0]:.4g}, {e['second_half_data_range'][1]:.4g}], "
                  f"median |energy_data − energy_sample| {e['second_half_gap_median']:.4g}, "
                  f"median |loss| {e['second_half_loss_abs_median']:.4g}.", "",
                  f"![energies](quality_3d/{r['label']}_energy.png)",
                  f"![samples](quality_3d/{r['label']}_samples.png)",
                  f"![data](quality_3d/{r['label']}_data.png)", ""]
    atomic.write_text(out, "\n".join(lines) + "\n")
    atomic.write_text(out.with_suffix(".json"), json.dumps(results, indent=1) + "\n")


def update_measured(results: list[dict]) -> None:
    """These demos' rows of ``resources/measured.json`` (others are kept)."""
    from benchmarks import quality

    rows = []
    for r in results:
        if not r["points"]:
            continue
        pts = [{"minutes": p["cpu_minutes"], "iteration": p["iteration"], "metrics": p["metrics"]}
               for p in r["points"]]
        # A run that finished its preset is advertised at its full length (what its ETA says).
        rows.append({"label": r["label"], "data": r["data"], "points": pts,
                     "headline": r["headline"], "goal_met_minutes": None,
                     "budget_minutes": r["budget_cpu_minutes"],
                     "preset_iterations": config_for(r["preset"]).train.iterations})
    quality.update_measured(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default=",".join(DEMOS), help="comma-separated demos")
    p.add_argument("--scale", type=float, default=1.0, help="multiply each advertised time")
    p.add_argument("--evals", type=int, default=4, help="scorings per demo")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-times", action="store_true",
                   help="do not write resources/measured.json (implied by --scale other than 1)")
    p.add_argument("--out", default=str(RESULTS / "quality_3d.md"))
    args = p.parse_args(argv)
    wanted = [w for w in args.only.split(",") if w]
    unknown = [w for w in wanted if w not in DEMOS]
    if unknown:
        p.error(f"unknown demos {unknown}; known: {', '.join(DEMOS)}")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    out = Path(args.out)
    out_dir = out.with_suffix("")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in wanted:
        result = measure(name, args.scale, max(1, args.evals), args.seed, out_dir)
        atomic.write_text(out_dir / f"{name}.json", json.dumps(result, indent=1) + "\n")
    kept = []
    for name in DEMOS:  # rows measured earlier stay in the table
        path = out_dir / f"{name}.json"
        if path.is_file():
            kept.append(json.loads(path.read_text(encoding="utf-8")))
    write_results(kept, out)
    if args.scale == 1.0 and not args.no_times:
        update_measured([r for r in kept if r["label"] in wanted])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
