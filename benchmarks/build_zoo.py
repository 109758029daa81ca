"""Rebuild entries of the pretrained model zoo (``resources/zoo/NAME``).

    python -m benchmarks.build_zoo digits-ml        # one entry
    python -m benchmarks.build_zoo --all            # every entry (hours on a 2-core CPU)
    python -m benchmarks.build_zoo --list           # the recipes, and which are built

Each entry is a plain ``ebm train`` with a preset (anyone can reproduce it),
then ``ebm eval`` (the honest metric, in ``eval.json``) and ``ebm sample``
(a grid in ``samples.png``). The essentials (config, the last checkpoint,
eval.json, the grid, ``zoo.json`` saying how it was made) are copied into a
hidden folder next to the entry and renamed into place, so a reader never
sees half an entry. Run it under ``nice -n 10`` on a shared machine.

The shipped checkpoint carries no optimiser state (:func:`strip_optimizer`:
Adam's moments are twice the weights, and sampling, eval and
``ebm train --resume zoo:NAME --out NEW`` do not need them: the continued run
starts fresh optimisers and says so in its ``resumed`` event; its rate
schedules go on from the entry's iteration, ``LearningMethod.schedule_offset``).
``--strip`` applies this to entries built before it. Weights past
:data:`HALF_ABOVE_MB` ship as float16 (evaluated as shipped); ``--halve``
converts entries built before that rule and evaluates them again;
``--rescore NAMES`` evaluates and draws entries again after a change to how
a trained model samples.

Recipes: one entry per demo (its own preset), one per learning method on
digits (its ``digits-<method>`` preset) and one per method with a 2D preset
on 8gaussians (``toy2d-<method>``); shorter than the full preset where
``STEPS`` says so (no entry at present; their metric is recorded as measured).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ebm_engine import atomic
from ebm_engine.runs import zoo
from ebm_engine.runs.checkpoint import OPTIMIZER_DROPPED, RANK_STATES, shared_tensors
from ebm_engine.runs.rundir import RunDir

#: Iterations of entries trained shorter than their preset (CPU time on a shared machine).
STEPS: dict[str, int] = {}
MAX_ENTRY_MB = 6.0  # a small model per entry (the zoo as a whole must stay under 50 MB)
#: Weights (model + state files) past this many MB ship as float16: with one entry per
#: demo and per digits method, float32 throughout would pass the zoo's 50 MB (at 2 MB it
#: did once shapes-points kept 200 persistent chains; entries built before stay float32).
HALF_ABOVE_MB = 1.0
#: Fixed tensors that stay float32 in a halved entry: the 'pca' flow's whitening (in
#: float16 its basis was orthogonal to 3.6e-4 only and log q off by 0.3 nats).
EXACT = ("flow.basis", "flow.mean", "flow.scale")
GRID_N = 64
POINTS_N = 1000


@dataclass(frozen=True)
class Recipe:
    """How one entry is trained: ``ebm train --data DATA --preset PRESET [--steps N]``."""

    name: str
    data: str
    preset: str
    method: str
    steps: int | None = None

    def train_args(self, out: Path) -> list[str]:
        args = ["train", "--data", self.data, "--preset", self.preset, "--out", str(out), "--quiet"]
        return args + (["--steps", str(self.steps)] if self.steps else [])


def recipes() -> dict[str, Recipe]:
    """Every entry the zoo can hold: one per demo, one per method with a digits preset,
    one per method with a 2D preset (on 8gaussians)."""
    from ebm_engine.data import demos
    from ebm_engine.methods import available_methods
    from ebm_engine.presets import available_presets, load_preset

    out: dict[str, Recipe] = {}

    def add(data: str, preset: str) -> None:
        if preset not in presets:  # a demo being added without its preset yet
            print(f"build_zoo: {data}: no preset {preset!r}, skipped", file=sys.stderr)
            return
        method = str(load_preset(preset).get("train", {}).get("method", "ml"))
        name = f"{data}-{method.replace('_', '-')}"
        out.setdefault(name, Recipe(name, data, preset, method, STEPS.get(name)))

    presets = set(available_presets())
    for info in demos().values():
        add(info.name, info.preset)
    # The 2D presets of methods other than ML go on the 2D demo the app opens with: a
    # method chosen there loads its own model (the app loads no other method's).
    for data, prefix in (("digits", "digits"), ("8gaussians", "toy2d")):
        for method in available_methods():
            preset = f"{prefix}-{method.replace('_', '-')}"
            if preset in presets:
                add(data, preset)
    return out


THREADS = 1  # torch threads per command (--threads)


def _ebm(args: list[str], log) -> None:
    cmd = [sys.executable, "-m", "ebm_engine", *args]
    log.write(f"$ {shlex.join(cmd[1:])}\n")
    log.flush()
    done = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise SystemExit(f"build_zoo: `ebm {args[0]}` failed (exit {done.returncode}); "
                         f"see {log.name}")


def _figure(run: Path, kind: str, out: Path, log) -> None:
    """``samples.png``: the exported grid, or a drawing of 3D samples (drawn beside the
    run folder, then moved in: ``ebm sample`` never writes into the run it reads)."""
    beside = run.parent / f".{run.name}-{out.name}"
    if kind not in ("voxel", "pointcloud"):
        n = POINTS_N if kind == "points" else GRID_N  # 2D: enough points to see the density
        sampler = json.loads((run / "config.json").read_text(encoding="utf-8")).get("sampler", {})
        if sampler.get("init") == "persistent":  # FRAME's 4 chains: each once, not 16 times
            n = min(n, int(sampler.get("buffer_size", n)))
        _ebm(["sample", "--run", str(run), "--n", str(n), "--out", str(beside)], log)
        os.replace(beside, out)
        return
    import numpy as np

    from benchmarks.zoo_figures import draw_3d

    npz = run.parent / f".{run.name}-zoo-samples.npz"
    _ebm(["sample", "--run", str(run), "--n", "16", "--out", str(npz)], log)
    with np.load(npz, allow_pickle=False) as z:
        draw_3d(z["samples"], kind, out)
    npz.unlink()


def _preset_iterations(preset: str) -> int | None:
    """The iterations a full run of ``preset`` takes (what a shorter entry is short of)."""
    from ebm_engine.config import RunConfig
    from ebm_engine.presets import load_preset

    try:
        return int(RunConfig.from_dict(load_preset(preset)).train.iterations)
    except Exception:  # noqa: BLE001 - a preset being edited: the entry is still installed
        return None


def strip_optimizer(checkpoint: Path) -> int:
    """Drop the optimiser state of the checkpoint folder ``checkpoint`` (in place).

    ``optimizer.safetensors`` becomes empty and ``state.json`` keeps each
    optimiser's ``param_groups`` (learning rates, betas) without its
    per-parameter state, and records ``optimizer_state: "dropped"``: a resumed
    run then starts fresh optimisers at the saved learning rates. The chains and
    random streams of a torchrun run's ranks > 0 go too (``rankR.*`` in
    ``state.safetensors``): they serve only an exact resume with as many
    processes, which fresh optimisers rule out; rank 0's stay. Each file is
    replaced atomically. Returns the bytes saved.
    """
    from safetensors.torch import load_file, save_file

    files = [checkpoint / "optimizer.safetensors", checkpoint / "state.safetensors"]
    before = sum(f.stat().st_size for f in files)
    meta = json.loads((checkpoint / "state.json").read_text(encoding="utf-8"))
    for layout in meta.get("optimizers", {}).values():
        layout["scalars"] = {}  # Adam's "step" goes with its moments
    meta["optimizer_state"] = OPTIMIZER_DROPPED
    meta.pop(RANK_STATES, None)
    atomic.write_with(files[0], lambda tmp: save_file({}, str(tmp)))
    state = load_file(str(files[1]))
    if len(kept := shared_tensors(state)) < len(state):
        atomic.write_with(files[1], lambda tmp: save_file(kept, str(tmp)))
    atomic.write_text(checkpoint / "state.json", json.dumps(meta, indent=2))
    return before - sum(f.stat().st_size for f in files)


def halve_weights(checkpoint: Path) -> int:
    """Store the float32 weights and persistent chains of ``checkpoint`` as float16, in place.

    For an entry whose weights pass :data:`HALF_ABOVE_MB`. Loading casts
    them back (``load_state_dict`` copies into the float32 parameters); the
    entry's eval and sample grid are made from the halved weights, so its
    metric is that of what ships. A tensor float16 cannot hold (|w| > 6e4)
    and the fixed tensors named in :data:`EXACT` stay float32. Returns the bytes saved.
    """
    import torch
    from safetensors.torch import load_file, save_file

    def size() -> int:
        return sum(f.stat().st_size for f in (path, state_path) if f.is_file())

    path, state_path = checkpoint / "model.safetensors", checkpoint / "state.safetensors"
    before = size()
    model = load_file(str(path))
    half = {k: v.half() if v.dtype == torch.float32 and v.abs().max() < 6e4
            and not k.endswith(EXACT) else v for k, v in model.items()}
    atomic.write_with(path, lambda tmp: save_file(half, str(tmp)))
    if state_path.is_file():  # persistent chains (in the data's range); a buffer casts them back
        state = load_file(str(state_path))  # a torchrun rank's too ("rank1.buffer.states")
        state = {k: v.half() if k.endswith("states") and v.dtype == torch.float32 else v
                 for k, v in state.items()}
        atomic.write_with(state_path, lambda tmp: save_file(state, str(tmp)))
    meta = json.loads((checkpoint / "state.json").read_text(encoding="utf-8"))
    meta["weights_dtype"] = "float16"
    atomic.write_text(checkpoint / "state.json", json.dumps(meta, indent=2))
    return before - size()


def _weights_mb(checkpoint: Path) -> float:
    return sum((checkpoint / f).stat().st_size
               for f in ("model.safetensors", "state.safetensors")) / 1e6


def _install(run: Path, recipe: Recipe, seconds: float, extra: dict) -> Path:
    """Copy the essentials of ``run`` into ``resources/zoo/NAME``, atomically."""
    checkpoint = RunDir(run).latest_checkpoint()
    assert checkpoint is not None, "a finished run has a checkpoint"
    root = zoo.zoo_dir()
    root.mkdir(parents=True, exist_ok=True)
    tmp = atomic.temp_dir(root, prefix=f".{recipe.name}.", suffix=".tmp")
    try:
        shutil.copyfile(run / "config.json", tmp / "config.json")
        shutil.copyfile(run / "eval.json", tmp / "eval.json")
        shutil.copyfile(run / zoo.SAMPLES_FILE, tmp / zoo.SAMPLES_FILE)
        (tmp / "checkpoints").mkdir()
        shutil.copytree(checkpoint, tmp / "checkpoints" / checkpoint.name)
        strip_optimizer(tmp / "checkpoints" / checkpoint.name)
        (tmp / "checkpoints" / "latest").write_text(checkpoint.name + "\n", encoding="utf-8")
        train = ["ebm", *recipe.train_args(Path("RUN"))]
        info = {"name": recipe.name, "threads": int(os.environ.get("OMP_NUM_THREADS", 0)),
                "data": recipe.data, "preset": recipe.preset,
                "method": recipe.method, "iterations": recipe.steps,
                "preset_iterations": _preset_iterations(recipe.preset),
                "optimizer_state": "dropped (resuming starts fresh optimisers)",
                "command": shlex.join(train), "train_seconds": round(seconds, 1),
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"), **extra}
        (tmp / zoo.RECIPE_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        final = root / recipe.name
        old = root / f".{recipe.name}.old-{os.getpid()}"
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def build(recipe: Recipe, work: Path, log, reuse: bool = False) -> Path:
    """Train, evaluate and draw one entry in ``work``, then install it.

    ``reuse``: a finished run of the recipe already in ``work`` is evaluated
    and installed without training again.
    """
    run = work / recipe.name
    extra: dict = {}
    finished = RunDir(run).latest_checkpoint() is not None and (run / "metrics.csv").is_file()
    if reuse and finished:
        rows = RunDir(run).read_metrics()
        seconds = rows[-1]["wall_time"] if rows else 0.0
    else:
        if run.exists():
            shutil.rmtree(run)
        t0, cpu0 = time.perf_counter(), _children_cpu()
        _ebm(recipe.train_args(run), log)
        seconds, extra["train_cpu_seconds"] = time.perf_counter() - t0, _children_cpu() - cpu0
    checkpoint = RunDir(run).latest_checkpoint()
    assert checkpoint is not None, "a finished run has a checkpoint"
    if _weights_mb(checkpoint) > HALF_ABOVE_MB:  # before eval: the metric is of what ships
        strip_optimizer(checkpoint)
        halve_weights(checkpoint)
        extra["weights_dtype"] = "float16"
    _ebm(["eval", "--run", str(run)], log)
    kind = json.loads((run / "eval.json").read_text(encoding="utf-8")).get("kind", "")
    _figure(run, kind, run / zoo.SAMPLES_FILE, log)
    final = _install(run, recipe, seconds, {"load_average": _load(), **extra})
    size = zoo.entries()[recipe.name].size / 1e6
    if size > MAX_ENTRY_MB:
        print(f"build_zoo: warning: {recipe.name} takes {size:.1f} MB (> {MAX_ENTRY_MB} MB)")
    return final


def _rescore_installed(names: list[str], work: Path, halve: bool = True) -> int:
    """``--halve``: store installed entries' weights as float16 (default: every float32
    entry past :data:`HALF_ABOVE_MB`), then evaluate and draw them again, so their
    metric and grid are of what ships; the rest of ``zoo.json`` is kept.
    ``halve=False`` (``--rescore``): only evaluate and draw the named entries again
    (after a change to how a trained model samples); their weights are kept as they are."""
    built = zoo.entries()
    for name in names:
        if name not in built:
            print(f"build_zoo: no installed entry {name!r}", file=sys.stderr)
            return 2
    if not halve and not names:
        print("build_zoo: --rescore needs the entries to score again", file=sys.stderr)
        return 2
    known = recipes()
    for name in names or list(built):
        entry = built[name]
        info = json.loads((entry.path / zoo.RECIPE_FILE).read_text(encoding="utf-8"))
        checkpoint = RunDir(entry.path).latest_checkpoint()
        if halve and (info.get("weights_dtype") == "float16" or (
                not names and _weights_mb(checkpoint) <= HALF_ABOVE_MB)):
            continue
        run = work / name
        shutil.rmtree(run, ignore_errors=True)
        shutil.copytree(entry.path, run)
        before = entry.size / 1e6
        if halve:
            halve_weights(RunDir(run).latest_checkpoint())
        with open(work / f"{name}.log", "a", encoding="utf-8") as log:
            _ebm(["eval", "--run", str(run)], log)
            kind = json.loads((run / "eval.json").read_text(encoding="utf-8")).get("kind", "")
            _figure(run, kind, run / zoo.SAMPLES_FILE, log)
        recipe = known.get(name) or Recipe(name, info["data"], info["preset"], info["method"])
        final = _install(run, recipe, info.get("train_seconds", 0.0), {})
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        if halve:
            info.update(weights_dtype="float16", halved_at=stamp)
        else:
            info.update(rescored_at=stamp)
        atomic.write_text(final / zoo.RECIPE_FILE, json.dumps(info, indent=2) + "\n")
        entry = zoo.entries()[name]
        print(f"{name}: {before:.2f} → {entry.size / 1e6:.2f} MB, {entry.metric_text()}")
    return 0


def _children_cpu() -> float:
    """User + system CPU seconds of the finished subprocesses (the training's cost)."""
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return round(use.ru_utime + use.ru_stime, 1)


def _load() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _strip_installed(names: list[str]) -> int:
    """``--strip``: drop the optimiser state of installed entries (all by default)."""
    built = zoo.entries()
    for name in names or list(built):
        if name not in built:
            print(f"build_zoo: no installed entry {name!r}", file=sys.stderr)
            return 2
        recipe_file = built[name].path / zoo.RECIPE_FILE
        info = json.loads(recipe_file.read_text(encoding="utf-8"))
        saved = strip_optimizer(RunDir(built[name].path).latest_checkpoint())
        info["optimizer_state"] = "dropped (resuming starts fresh optimisers)"
        info.setdefault("preset_iterations", _preset_iterations(info.get("preset", "")))
        atomic.write_text(recipe_file, json.dumps(info, indent=2) + "\n")
        print(f"{name}: {saved / 1e6:.2f} MB of optimiser state dropped, "
              f"{zoo.entries()[name].size / 1e6:.2f} MB now")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.build_zoo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", help="entries to (re)build")
    p.add_argument("--all", action="store_true", help="rebuild every entry")
    p.add_argument("--missing", action="store_true", help="build the entries not built yet")
    p.add_argument("--list", action="store_true", help="list the recipes")
    p.add_argument("--work", help="folder for the full runs (default: a temporary folder)")
    p.add_argument("--reuse", action="store_true",
                   help="evaluate and install a finished run already in --work (no training)")
    p.add_argument("--steps", type=int,
                   help="train the named entries for N iterations (recorded in zoo.json; "
                        "`ebm zoo` shows it against the preset's)")
    p.add_argument("--strip", action="store_true",
                   help="drop the optimiser state of the installed entries (no training)")
    p.add_argument("--halve", action="store_true",
                   help="store the installed entries' weights as float16 and evaluate them "
                        "again (default: every entry past HALF_ABOVE_MB; no training)")
    p.add_argument("--rescore", action="store_true",
                   help="evaluate and draw the named installed entries again with the current "
                        "code (after a change to how a trained model samples; no training)")
    p.add_argument("--threads", type=int, default=THREADS,
                   help="torch threads per command (default 1: best on a shared machine)")
    args = p.parse_args(argv)
    # One thread by default: on a loaded machine torch's threads spin against each
    # other (toy2d measured 0.06 it/s with 2 threads under load 10, 6.8 it/s with 1).
    # The ebm commands run as subprocesses and inherit it.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(max(1, args.threads))
    if args.strip:
        return _strip_installed(args.names)
    if args.halve or args.rescore:
        work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="ebm-zoo-"))
        work.mkdir(parents=True, exist_ok=True)
        return _rescore_installed(args.names, work, halve=args.halve)
    known = recipes()
    built = zoo.entries()
    if args.list or not (args.names or args.all or args.missing):
        for r in known.values():
            state = built[r.name].metric_text() if r.name in built else "not built"
            print(f"{r.name:32s} ebm {shlex.join(r.train_args(Path('RUN')))}   [{state}]")
        return 0
    from ebm_engine.suggest import did_you_mean

    for name in args.names:
        if name not in known:
            print(f"build_zoo: no recipe {name!r}{did_you_mean(name, known)}", file=sys.stderr)
            return 2
    chosen = list(known) if args.all else [n for n in known if n not in built] if args.missing \
        else args.names
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="ebm-zoo-"))
    work.mkdir(parents=True, exist_ok=True)
    failed = []
    for name in chosen:
        recipe = known[name]
        if args.steps is not None:
            recipe = dataclasses.replace(recipe, steps=args.steps)
        with open(work / f"{name}.log", "a" if args.reuse else "w", encoding="utf-8") as log:
            t0 = time.perf_counter()
            try:
                final = build(recipe, work, log, args.reuse)
            except SystemExit as exc:  # one entry failing does not stop the others
                print(exc, flush=True)
                failed.append(name)
                continue
        entry = zoo.entries()[name]
        print(f"{name}: {entry.metric_text()}, {entry.size / 1e6:.2f} MB, "
              f"{time.perf_counter() - t0:.0f} s → {final}", flush=True)
    if failed:
        print(f"build_zoo: failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
