"""Part III for images: each application next to its baseline, one section each.

``python -m benchmarks.applications_images [--only NAME ...] [--seconds S]`` runs
the chosen sections (all by default), each in its own process, side by side,
then writes ``benchmarks/results/applications_images.md`` from every section's
latest result (``benchmarks/results/applications_images/<name>.md``, with its
figures next to it), so a section can be rerun alone. A section is a function
``section(seconds, folder) -> markdown`` in :data:`SECTIONS`.

- ``frame``: FRAME (preset ``frame-texture``) vs the Generative ConvNet
  (method ``ml``, preset ``texture``) on the same gravel texture, trained
  side by side (one thread each) for the same wall-clock time; Gram distance
  (``ebm eval``'s texture metric) and FRAME's response-histogram distance.
- ``single-image``: the Patchwise Generative ConvNet (preset ``single-image``)
  on its photo (skimage's rocket at dusk): patch nearest-neighbour distance to the photo and Gram
  distance per scale, before training and after, next to the references
  (copy = 0, the photo flipped, the photo blurred); 2× wide samples; harmonisation.
- ``semi_supervised``: the symbol-vector latent EBM on 10 labels per class vs the
  same model on the labels only and supervised classifiers on the same labels
  (:mod:`benchmarks.applications_semisup`).
- ``inpainting``, ``class-conditional``, ``saliency``: conditional CoopNets, each
  task's metric vs the initializer alone and a task baseline
  (:mod:`benchmarks.applications_conditional`).
- ``translation``: CycleCoopNets on handwritten ↔ typeset digits vs the same nets
  without the cycle term (:mod:`benchmarks.applications_translation`).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.applications_conditional import section as conditional_section
from benchmarks.applications_semisup import semi_supervised_section
from benchmarks.applications_translation import section as translation_section

RESULTS = Path(__file__).parent / "results" / "applications_images.md"
FOLDER = RESULTS.with_suffix("")
SAMPLES = 16  # samples scored per texture model
# Run folders (checkpoints: sample or evaluate them again with the CLI), outside the
# repository; --runs moves them, --reuse scores the runs there without training again.
RUNS = Path(os.environ.get("EBM_BENCH_RUNS", Path(tempfile.gettempdir()) / "ebm-applications-images"))
REUSE = os.environ.get("EBM_BENCH_REUSE") == "1"


def _train(source: str, preset: str | None, method: str | None, seconds: float, run: str,
           out: dict, key: str) -> None:
    """Train ``source`` with ``preset`` for ``seconds`` into ``run`` (one thread)."""
    import torch

    from ebm_engine.learning.events import TrainStep
    from ebm_engine.learning.trainer import Trainer
    from ebm_engine.presets import config_for

    torch.set_num_threads(1)
    shutil.rmtree(run, ignore_errors=True)  # a fresh run each time
    # A preset that learns its levels in stages keeps its iterations (the
    # schedule is part of the method); the others run for ``seconds``.
    staged = bool(config_for(source, preset=preset, method=method).train.options.get(
        "stage_iterations"))
    cfg = config_for(source, preset=preset, method=method,
                     overrides=[("train.device", "cpu"), ("train.checkpoint_every", 0)]
                     + ([] if staged else [("train.iterations", 10**6)]))
    trainer = Trainer(cfg, run)
    before = {}
    if hasattr(trainer.method, "evaluate") and cfg.train.method == "patchwise":
        before = trainer.method.evaluate(trainer.dataset, 8)  # the untrained pyramid
    start, cpu = time.perf_counter(), time.process_time()
    iterations = 0
    for event in trainer.events():
        if isinstance(event, TrainStep):
            iterations = event.iteration
            if time.perf_counter() - start > seconds:
                trainer.stop()
    out[key] = {"iterations": iterations, "seconds": time.perf_counter() - start,
                "cpu_s": time.process_time() - cpu, "before": before}
    (Path(run) / "bench_stats.json").write_text(json.dumps(out[key]), encoding="utf-8")


def _parallel(jobs: list[tuple]) -> dict:
    if REUSE:  # score what is there: iterations and CPU time from the run's metrics
        return {job[-1]: _stats_of(job[4]) for job in jobs}
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        shared = manager.dict()
        procs = [ctx.Process(target=_train, args=(*job[:-1], shared, job[-1])) for job in jobs]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        return dict(shared)


def _stats_of(run: str) -> dict:
    import csv

    saved = Path(run) / "bench_stats.json"
    if saved.is_file():  # written by _train
        return json.loads(saved.read_text(encoding="utf-8"))
    with open(Path(run) / "metrics.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    last = rows[-1] if rows else {}
    return {"iterations": int(last.get("iteration", 0)), "seconds": float(last.get("wall_time", 0)),
            "cpu_s": float("nan"), "before": {}}


def _grid_png(rows: list, path: Path, scale: int = 3) -> None:
    """Rows of ``(n, C, H, W)`` model-space images (same H) as one PNG."""
    import numpy as np
    from PIL import Image

    strips = []
    for row in rows:
        disp = ((np.asarray(row, dtype=np.float32) + 1) * 127.5).clip(0, 255).astype(np.uint8)
        disp = disp.transpose(0, 2, 3, 1)  # (n, H, W, C)
        if disp.shape[-1] == 1:
            disp = np.repeat(disp, 3, -1)
        gap = np.full((disp.shape[1], 2, 3), 255, np.uint8)
        strips.append(np.concatenate([c for img in disp for c in (img, gap)][:-1], 1))
    width = max(s.shape[1] for s in strips)
    strips = [np.pad(s, ((0, 2), (0, width - s.shape[1]), (0, 0)), constant_values=255)
              for s in strips]
    img = Image.fromarray(np.concatenate(strips, 0))
    img.resize((img.width * scale, img.height * scale), Image.NEAREST).save(path)


# --- FRAME vs Generative ConvNet ---------------------------------------------------
def frame_section(seconds: float, folder: Path) -> str:
    import torch

    from ebm_engine.data import load_dataset
    from ebm_engine.learning.loading import load_model
    from ebm_engine.methods.frame import histogram_tv
    from ebm_engine.metrics.texture import gram_distance

    runs = {"frame": str(RUNS / "frame"), "convnet": str(RUNS / "convnet")}
    stats = _parallel([("frame-texture", None, None, seconds, runs["frame"], "frame"),
                       ("frame-texture", "texture", "ml", seconds, runs["convnet"], "convnet")])
    frame = load_model(runs["frame"], "cpu")
    data = load_dataset(frame.cfg.data).items
    net = frame.method.net
    rows, shown = [], {}
    gen = torch.Generator().manual_seed(0)
    ref = data[torch.randperm(len(data), generator=gen)[:SAMPLES]]
    noise = torch.rand(ref.shape, generator=gen) * 2 - 1
    for name in ("frame", "convnet"):
        loaded = frame if name == "frame" else load_model(runs[name], "cpu")
        loaded.method.rng.manual_seed(0)
        torch.manual_seed(0)
        x = torch.from_numpy(list(loaded.method.sample(SAMPLES))[-1].x)
        shown[name] = x[:6].numpy()
        s = stats.get(name, {})
        rows.append((f"{'FRAME' if name == 'frame' else 'Generative ConvNet (ml)'}",
                     s.get("iterations", 0), s.get("cpu_s", 0.0), gram_distance(x, data),
                     histogram_tv(net, x, data)))
    rows.append(("reference: 16 data crops", "–", "–", gram_distance(ref, data),
                 histogram_tv(net, ref, data)))
    rows.append(("reference: uniform noise", "–", "–", gram_distance(noise, data),
                 histogram_tv(net, noise, data)))
    _grid_png([ref[:6].numpy(), shown["frame"], shown["convnet"]], folder / "frame.png")
    _curves_png(frame, data, torch.from_numpy(shown["frame"]), folder / "frame_curves.png")
    lines = [
        "## FRAME vs Generative ConvNet (texture, gravel 64×64)", "",
        f"Both trained side by side from their presets (`frame-texture`; `texture` with method "
        f"`ml`), one thread each, {stats.get('frame', {}).get('seconds', seconds):.0f} s wall "
        f"clock each (equal CPU shares: see `cpu_s`); {SAMPLES} samples each (FRAME's from its "
        "4 persistent chains, the ConvNet's from its 64). "
        "`gram_distance`: `ebm eval`'s texture metric (random-feature Gram matrices; lower is "
        "better). `hist_tv`: mean total-variation distance between the 21 FRAME filters' "
        "response histograms of the samples and of the data (FRAME's own statistic).", "",
        "| model | iterations | cpu_s | gram_distance | hist_tv |", "|---|---|---|---|---|"]
    for name, its, cpu, gram, tv in rows:
        cpu_text = f"{cpu:.0f}" if isinstance(cpu, float) else cpu
        lines.append(f"| {name} | {its} | {cpu_text} | {gram:.3f} | {tv:.3f} |")
    lines += ["", "Rows: data crops, FRAME samples, ConvNet samples.", "",
              "![frame](applications_images/frame.png)", "",
              "Learned potentials φ (top, lower = favoured) and response histograms "
              "(bottom; data solid, FRAME samples dashed) for six of the filters.", "",
              "![frame curves](applications_images/frame_curves.png)", ""]
    return "\n".join(lines)


def _curves_png(loaded, data, samples, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    method = loaded.method
    curves = method.curves(data[:16], samples)
    names = method.filter_names()
    picks = [0, 1, 2, 3, 5, 11][: len(names)]
    fig, axes = plt.subplots(2, len(picks), figsize=(2.2 * len(picks), 3.6))
    for col, k in enumerate(picks):
        pot, hist = curves["potential curves"][k], curves["response histogram curves"][k]
        axes[0, col].plot(pot[0], pot[1], color="k")
        axes[0, col].set_title(names[k], fontsize=7)
        axes[1, col].plot(hist[0], hist[1], color="k")
        axes[1, col].plot(hist[0], hist[2], color="tab:orange", linestyle="--")
        for ax in axes[:, col]:
            ax.tick_params(labelsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- Patchwise Generative ConvNet -----------------------------------------------------
def single_image_section(seconds: float, folder: Path) -> str:
    import dataclasses

    import numpy as np

    from ebm_engine.data import load_dataset
    from ebm_engine.learning.loading import load_model
    from ebm_engine.methods.patchwise import resize

    run = str(RUNS / "single-image")
    stats = _parallel([("single-image", None, None, seconds, run, "patchwise")]).get("patchwise", {})
    loaded = load_model(run, "cpu")
    m = loaded.method
    dataset = load_dataset(loaded.cfg.data)
    after = m.evaluate(dataset, 8)
    before = stats.get("before") or _untrained(loaded, dataset)
    m.rng.manual_seed(1)
    samples = list(m.sample(4))[-1].x
    m.opts = dataclasses.replace(m.opts, aspect=2.0)
    wide = list(m.sample(2))[-1].x
    m.opts = dataclasses.replace(m.opts, aspect=1.0, task="harmonise", edit_scale=0)
    harmonised = list(m.sample(3))[-1].x
    edits = m.edit_inputs.numpy()
    src = m.source.numpy()
    _grid_png([np.concatenate([src, samples])], folder / "single_image.png")
    _grid_png([np.concatenate([resize(m.source, m.sizes[0]).numpy(), _coarsest(m, 8)])],
              folder / "single_image_coarsest.png", scale=5)
    _grid_png([wide], folder / "single_image_wide.png")
    _grid_png([edits, harmonised], folder / "single_image_harmonise.png")
    keys = ["patch_nn", "patch_nn_wide"] + [k for k in after if k.startswith("gram_")]
    lines = [
        f"## Single image: Patchwise Generative ConvNet ({dataset.meta.get('source_image', 'photo')}, "
        f"{m.sizes[-1][1]}×{m.sizes[-1][0]})", "",
        f"Preset `single-image` ({len(m.sizes)} scales {', '.join(f'{w}×{h}' for h, w in m.sizes)}), "
        f"learned one level after another ({m.opts.coarsest_iterations or m.opts.stage_iterations} "
        f"iterations at the coarsest at {m.opts.coarsest_lr:g}× the learning rate, "
        f"{m.opts.stage_iterations} at each finer level; recovery "
        f"weight {m.opts.recovery:g}; coarsest chains from grey noise drawn {m.opts.start_side} px "
        f"on the shorter side and upsampled): {stats.get('iterations', 0)} iterations in "
        f"{stats.get('cpu_s', 0.0):.0f} CPU s (one thread; {stats.get('seconds', seconds):.0f} s "
        "wall clock on the shared CPU); 8 samples (4 for 2× wide) scored "
        "before and after training. `patch_nn`: mean RMS distance of each 7×7 sample patch to "
        "its nearest photo patch (model space [-1, 1]); it should sit between copying (0) "
        "and the references below. `gram_scaleK`: Gram distance of the samples to the photo "
        "at scale K (0 = coarsest); `gram_wide` for 2× wide samples.", "",
        "| metric | untrained | trained |", "|---|---|---|"]
    for k in keys:
        b = before.get(k)
        lines.append(f"| {k} | {b:.3f} | {after[k]:.3f} |" if b is not None
                     else f"| {k} | – | {after[k]:.3f} |")
    lines += ["", "| reference | patch_nn |", "|---|---|",
              f"| the photo itself (copying) | {after['patch_nn_copy']:.3f} |",
              f"| the photo flipped upside down | {after['patch_nn_flipped']:.3f} |",
              f"| the photo blurred (coarsest scale, upsampled) | {after['patch_nn_blurred']:.3f} |",
              "", "The photo, then 4 samples:", "",
              "![samples](applications_images/single_image.png)", "",
              f"The coarsest level alone ({m.sizes[0][1]}×{m.sizes[0][0]}): the photo, then 8 "
              "samples (the layout the finer levels refine):", "",
              "![coarsest](applications_images/single_image_coarsest.png)", "",
              "Two samples at 2× the width (the same pyramid, wider noise at the coarsest scale):", "",
              "![wide](applications_images/single_image_wide.png)", "",
              "Harmonisation: a block of the photo pasted elsewhere (top), re-synthesised from "
              "the coarsest scale up (bottom):", "",
              "![harmonise](applications_images/single_image_harmonise.png)", ""]
    return "\n".join(lines)


def _coarsest(m, n: int):
    """``n`` samples of the pyramid's coarsest level alone (its own chain length)."""
    from torch.nn.utils import parametrize

    from ebm_engine.sampling import frozen
    from ebm_engine.sampling.langevin import run_langevin

    m.rng.manual_seed(1)
    x = m.coarse_start(n, m.sizes[0])
    with frozen(m.nets["scale0"]), parametrize.cached():
        x, _ = run_langevin(m.scale_energy("scale0"), x, m.cfg.sampler, n_steps=m.steps_at(0),
                            value_range=m.spec.value_range, generator=m.rng)
    return x.numpy()


def _untrained(loaded, dataset) -> dict:
    """The patchwise metrics of the run's pyramid before any training (same seed)."""
    from ebm_engine.learning.trainer import build_method
    from ebm_engine.methods.base import DataSpec

    method, _ = build_method(loaded.cfg, DataSpec.of(dataset), dataset, loaded.method.device)
    return method.evaluate(dataset, 8)


SECTIONS: dict[str, Callable[[float, Path], str]] = {
    "frame": frame_section,
    "single-image": single_image_section,
    "semi_supervised": semi_supervised_section,  # benchmarks/applications_semisup.py
    # benchmarks/applications_conditional.py: conditional CoopNets, metric vs baselines
    "inpainting": conditional_section("inpainting"),
    "class-conditional": conditional_section("class"),
    "saliency": conditional_section("saliency"),
    # benchmarks/applications_translation.py: CycleCoopNets with vs without the cycle term
    "translation": translation_section("digits-handwritten-typeset"),
}


def _run_section(name: str, seconds: float, folder: str) -> None:
    text = SECTIONS[name](seconds, Path(folder))
    (Path(folder) / f"{name}.md").write_text(text, encoding="utf-8")


def assemble(path: Path = RESULTS, folder: Path = FOLDER) -> str:
    """The results file from every section's latest markdown, in :data:`SECTIONS` order."""
    parts = ["# Applications for images: each method next to its baseline", "",
             "`python -m benchmarks.applications_images [--only NAME] [--seconds S]`; "
             "sections rerun alone keep the others' latest results. "
             "The machine is a shared 2-core CPU: wall time buys fewer iterations under load "
             "(`cpu_s` says how much CPU each run got).", ""]
    for name in SECTIONS:
        part = folder / f"{name}.md"
        if part.is_file():
            parts.append(part.read_text(encoding="utf-8"))
    text = "\n".join(parts)
    path.write_text(text, encoding="utf-8")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=list(SECTIONS),
                        help="run this section (repeatable; default all)")
    parser.add_argument("--seconds", type=float, default=600.0, help="training time per run")
    parser.add_argument("--runs", type=Path, default=RUNS, help="folder of the training runs")
    parser.add_argument("--reuse", action="store_true",
                        help="score the runs already in --runs (no training)")
    args = parser.parse_args(argv)
    os.environ["EBM_BENCH_RUNS"] = str(args.runs)  # the sections' processes read these
    os.environ["EBM_BENCH_REUSE"] = "1" if args.reuse else "0"
    FOLDER.mkdir(parents=True, exist_ok=True)
    ctx = mp.get_context("spawn")
    start_load = os.getloadavg()[0]
    procs = [ctx.Process(target=_run_section, args=(name, args.seconds, str(FOLDER)))
             for name in args.only or list(SECTIONS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    print(f"load average {start_load:.1f} → {os.getloadavg()[0]:.1f}")
    print(assemble())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
