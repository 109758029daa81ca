"""Semi-supervised digits: the ``semi_supervised`` section of ``benchmarks.applications_images``.

``python -m benchmarks.applications_images --only semi_supervised [--seconds S]``

The symbol-vector latent EBM (preset ``digits-semi-supervised``: 100 labels,
1337 unlabelled digits) next to the same model trained on the 100 labels only
(``unlabelled_weight 0``), side by side, one thread each, the preset's
iterations each (or ``seconds`` of wall clock, whichever comes first); then
``ebm eval``'s metrics of both runs, which include the supervised-only
classifier of the same size and logistic regression on the same labels
(:mod:`ebm_engine.metrics.semisup`). Figures: samples by class (one row per
class) and the held-out accuracy along training.
"""

from __future__ import annotations

import multiprocessing as mp
import shutil
import tempfile
import time
from pathlib import Path

SOURCE = "digits-semi-supervised"
RUNS = Path(tempfile.gettempdir()) / "ebm-applications-images"
VARIANTS = {  # name → (title, overrides)
    "semi": ("symbol-vector EBM, labelled + unlabelled", []),
    "labels_only": ("same model, labelled only (unlabelled_weight 0)",
                    [("train.options.unlabelled_weight", 0.0)]),
}


def _train(name: str, seconds: float, run: str, out: dict) -> None:
    import torch

    from ebm_engine.learning.events import TrainStep
    from ebm_engine.learning.trainer import Trainer
    from ebm_engine.presets import config_for

    torch.set_num_threads(1)
    shutil.rmtree(run, ignore_errors=True)
    cfg = config_for(SOURCE, overrides=[("train.device", "cpu"), ("train.checkpoint_every", 0),
                                        *VARIANTS[name][1]])
    trainer = Trainer(cfg, run)
    start, cpu = time.perf_counter(), time.process_time()
    iterations = 0
    for event in trainer.events():
        if isinstance(event, TrainStep):
            iterations = event.iteration
            if time.perf_counter() - start > seconds:
                trainer.stop()
    out[name] = {"iterations": iterations, "seconds": time.perf_counter() - start,
                 "cpu_s": time.process_time() - cpu}


def _accuracy_png(runs: dict[str, str], path: Path) -> None:
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    for name, run in runs.items():
        with open(Path(run) / "metrics.csv", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        ax.plot([int(r["iteration"]) for r in rows], [float(r["accuracy"]) for r in rows],
                label=VARIANTS[name][0])
    ax.set_xlabel("iteration")
    ax.set_ylabel("held-out accuracy")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def semi_supervised_section(seconds: float, folder: Path) -> str:
    import torch

    from ebm_engine.data import load_dataset
    from ebm_engine.export.by_class import save_by_class_png
    from ebm_engine.learning.loading import load_model
    from ebm_engine.metrics.semisup import n_parameters

    runs = {name: str(RUNS / f"semisup-{name}") for name in VARIANTS}
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        shared = manager.dict()
        procs = [ctx.Process(target=_train, args=(name, seconds, run, shared))
                 for name, run in runs.items()]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        stats = dict(shared)
    torch.set_num_threads(1)
    results, params = {}, 0
    for name, run in runs.items():
        loaded = load_model(run, "cpu")
        data = load_dataset(loaded.cfg.data)
        loaded.method.rng.manual_seed(0)
        torch.manual_seed(0)
        results[name] = loaded.method.evaluate(data, 200, 0)
        params = n_parameters(*loaded.method.networks().values())
        frames = list(loaded.method.sample(100))
        images = (frames[-1].x + 1) / 2
        save_by_class_png(images.clip(0, 1), frames[-1].extras["sample_class"],
                          folder / f"semisup_{name}_by_class.png", upscale=3)
    _accuracy_png(runs, folder / "semisup_accuracy.png")
    semi = results["semi"]
    lines = [
        "## Semi-supervised digits (symbol-vector latent EBM, 10 labels per class)", "",
        f"Preset `{SOURCE}`: 100 labelled and 1337 unlabelled training digits; 360 held-out "
        "digits (every 5th) never trained on. Both runs side by side, one thread each, the "
        f"preset's iterations or {seconds:g} s of wall clock each. `accuracy`: held-out "
        "accuracy of `argmax p(y|x)` (4 posterior chains per digit). Baselines trained on the "
        f"same 100 labels in the same `ebm eval` call: a classifier of the same size "
        f"({params} parameters: an MLP mirroring the generator, then a prior-shaped head; "
        "Adam 400 steps, mean of 3 seeds) and logistic regression on the pixels. "
        "`class_sample_accuracy`: the shipped digits classifier's accuracy on 200 "
        "class-conditional samples.", "",
        "| run | iterations | cpu_s | accuracy | class_sample_accuracy |",
        "|---|---|---|---|---|"]
    for name, (title, _) in VARIANTS.items():
        s, r = stats.get(name, {}), results[name]
        lines.append(f"| {title} | {s.get('iterations', 0)} | {s.get('cpu_s', 0.0):.0f} | "
                     f"{r['accuracy']:.3f} | {r.get('class_sample_accuracy', float('nan')):.3f} |")
    lines += [f"| supervised classifier of the same size (100 labels) | – | – | "
              f"{semi['accuracy_supervised']:.3f} | – |",
              f"| logistic regression on pixels (100 labels) | – | – | "
              f"{semi['accuracy_logistic']:.3f} | – |", "",
              "Held-out accuracy along training:", "",
              "![accuracy](applications_images/semisup_accuracy.png)", "",
              "Class-conditional samples `g(z)`, `z ~ p(z | y)`, one row per class (0 at the "
              "top), semi-supervised run:", "",
              "![by class](applications_images/semisup_semi_by_class.png)", "",
              "Same, labelled-only run:", "",
              "![by class, labels only](applications_images/semisup_labels_only_by_class.png)",
              ""]
    return "\n".join(lines)
