"""Semi-supervised digits: the ``semi_supervised`` section of ``benchmarks.applications_images``.

``python -m benchmarks.applications_images --only semi_supervised [--seconds S]``

The symbol-vector latent EBM (preset ``digits-semi-supervised``: 100 labels,
1337 unlabelled digits) next to the same model trained on the 100 labels only
(``unlabelled_weight 0``), :data:`SEEDS` seeds each, all side by side, one
thread each, the preset's iterations each (or ``seconds`` of wall clock,
whichever comes first); then ``ebm eval``'s metrics, which include the supervised-only
classifier of the same size and logistic regression on the same labels
(:mod:`ebm_engine.metrics.semisup`). Figures: samples by class (one row per
class) and the held-out accuracy along training.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import shutil
import tempfile
import time
from pathlib import Path

SOURCE = "digits-semi-supervised"
SEEDS = (0, 1)  # training seeds per variant (the labelled split stays the same)
RUNS = Path(tempfile.gettempdir()) / "ebm-applications-images"
STATS = RUNS / "semisup-stats.json"  # the last training: its time cap, iterations, CPU seconds
VARIANTS = {  # name → (title, overrides)
    "semi": ("symbol-vector EBM, labelled + unlabelled", []),
    "labels_only": ("same model, labelled only (unlabelled_weight 0)",
                    [("train.options.unlabelled_weight", 0.0)]),
}


def _train(name: str, seed: int, seconds: float, run: str, out: dict) -> None:
    import torch

    from ebm_engine.learning.events import TrainStep
    from ebm_engine.learning.trainer import Trainer
    from ebm_engine.presets import config_for

    torch.set_num_threads(1)
    shutil.rmtree(run, ignore_errors=True)
    cfg = config_for(SOURCE, overrides=[("train.device", "cpu"), ("train.checkpoint_every", 0),
                                        ("train.seed", seed), *VARIANTS[name][1]])
    trainer = Trainer(cfg, run)
    start, cpu = time.perf_counter(), time.process_time()
    iterations = 0
    for event in trainer.events():
        if isinstance(event, TrainStep):
            iterations = event.iteration
            if time.perf_counter() - start > seconds:
                trainer.stop()
    out[f"{name}-{seed}"] = {"iterations": iterations, "seconds": time.perf_counter() - start,
                 "cpu_s": time.process_time() - cpu}


def _accuracy_png(runs: dict[str, str], path: Path) -> None:
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    colours = {"semi": "#4e79a7", "labels_only": "#f28e2b"}
    for key, run in runs.items():
        name, seed = key.rsplit("-", 1)
        with open(Path(run) / "metrics.csv", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        ax.plot([int(r["iteration"]) for r in rows], [float(r["accuracy"]) for r in rows],
                color=colours[name], alpha=1.0 if seed == "0" else 0.5,
                label=f"{VARIANTS[name][0]}, seed {seed}")
    ax.set_xlabel("iteration")
    ax.set_ylabel("held-out accuracy")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _train_all(runs: dict[str, str], seconds: float) -> dict:
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        shared = manager.dict()
        procs = [ctx.Process(target=_train, args=(key.rsplit("-", 1)[0], int(key[-1]), seconds,
                                                  run, shared))
                 for key, run in runs.items()]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        return dict(shared)


def semi_supervised_section(seconds: float, folder: Path, reuse: bool = False) -> str:
    """The section's markdown (``reuse``: score the last training's runs again)."""
    import numpy as np
    import torch

    from ebm_engine.data import load_dataset
    from ebm_engine.export.by_class import save_by_class_png
    from ebm_engine.learning.loading import load_model
    from ebm_engine.methods._symbol_vector_parts import labelled_split
    from ebm_engine.metrics.semisup import class_sample_accuracy, n_parameters

    runs = {f"{name}-{seed}": str(RUNS / f"semisup-{name}-{seed}")
            for name in VARIANTS for seed in SEEDS}
    if reuse:  # evaluate the runs of the last training again
        saved = json.loads(STATS.read_text(encoding="utf-8"))
        seconds, stats = saved["seconds"], saved["runs"]
    else:
        stats = _train_all(runs, seconds)
        STATS.write_text(json.dumps({"seconds": seconds, "runs": stats}), encoding="utf-8")
    torch.set_num_threads(1)
    results, params, baselines = {}, 0, {}
    for key, run in runs.items():
        loaded = load_model(run, "cpu")
        loaded.method.rng.manual_seed(0)
        torch.manual_seed(0)
        if not baselines:  # the baselines see the labels only: the same for every run
            data = load_dataset(loaded.cfg.data)
            _, held = labelled_split(data, loaded.method.opts.n_classes)
            baselines = loaded.method.evaluate(data, 200, 0)
            results[key] = baselines
        else:
            results[key] = {"accuracy": loaded.method.accuracy(*held),
                            "class_sample_accuracy": class_sample_accuracy(loaded.method, 200)}
        params = n_parameters(*loaded.method.networks().values())
        if key.endswith("-0"):
            frames = list(loaded.method.sample(100))
            images = (frames[-1].x + 1) / 2
            save_by_class_png(images.clip(0, 1), frames[-1].extras["sample_class"],
                              folder / f"semisup_{key[:-2]}_by_class.png", upscale=3)
    _accuracy_png(runs, folder / "semisup_accuracy.png")
    semi = baselines
    lines = [
        "## Semi-supervised digits (symbol-vector latent EBM, 10 labels per class)", "",
        f"Preset `{SOURCE}`: 100 labelled and 1337 unlabelled training digits; 360 held-out "
        f"digits (every 5th) never trained on. Each variant with training seeds {SEEDS} (same "
        "labelled split), all runs side by side, one thread each, the "
        f"preset's iterations or {seconds:g} s of wall clock each. `accuracy`: held-out "
        "accuracy of `argmax p(y|x)` (4 posterior chains per digit). Baselines trained on the "
        f"same 100 labels in the same `ebm eval` call: a classifier of the same size "
        f"({params} parameters: an MLP mirroring the generator, then a prior-shaped head; "
        "Adam 400 steps, mean of 3 seeds) and logistic regression on the pixels. "
        "`class_sample_accuracy`: the shipped digits classifier's accuracy on 200 "
        "class-conditional samples.", "",
        "| run | iterations | cpu_s | accuracy | class_sample_accuracy |",
        "|---|---|---|---|---|"]
    means = {}
    for name, (title, _) in VARIANTS.items():
        accs = []
        for seed in SEEDS:
            key = f"{name}-{seed}"
            st, r = stats.get(key, {}), results[key]
            accs.append(r["accuracy"])
            lines.append(f"| {title}, seed {seed} | {st.get('iterations', 0)} | "
                         f"{st.get('cpu_s', 0.0):.0f} | {r['accuracy']:.3f} | "
                         f"{r.get('class_sample_accuracy', float('nan')):.3f} |")
        means[name] = float(np.mean(accs))
        lines.append(f"| **{title}, mean** | | | **{means[name]:.3f}** | |")
    lines += [f"| supervised classifier of the same size (100 labels) | – | – | "
              f"{semi['accuracy_supervised']:.3f} | – |",
              f"| logistic regression on pixels (100 labels) | – | – | "
              f"{semi['accuracy_logistic']:.3f} | – |", "",
              f"Unlabelled data's effect on accuracy: {means['semi'] - means['labels_only']:+.3f} "
              f"(mean of {len(SEEDS)} seeds each; one held-out digit is 0.003, and the binomial "
              f"standard error of one accuracy near {means['semi']:.2f} on 360 digits is "
              f"{np.sqrt(means['semi'] * (1 - means['semi']) / 360):.3f}).", "",
              "Held-out accuracy along training:", "",
              "![accuracy](applications_images/semisup_accuracy.png)", "",
              "Class-conditional samples `g(z)`, `z ~ p(z | y)`, one row per class (0 at the "
              "top), semi-supervised run:", "",
              "![by class](applications_images/semisup_semi_by_class.png)", "",
              "Same, labelled-only run:", "",
              "![by class, labels only](applications_images/semisup_labels_only_by_class.png)",
              ""]
    return "\n".join(lines)


if __name__ == "__main__":  # score the last training's runs again, then reassemble the table
    from benchmarks.applications_images import FOLDER, assemble

    (FOLDER / "semi_supervised.md").write_text(semi_supervised_section(0, FOLDER, reuse=True),
                                               encoding="utf-8")
    assemble()
