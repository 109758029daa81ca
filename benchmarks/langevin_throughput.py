"""Langevin throughput: the engine's sampler against two hand-written PyTorch loops.

Every variant runs the same network object, batch, start and device.

References (both fp32):

- **smart**: the best loop an informed user writes — parameters frozen
  (``requires_grad=False``), channels-last input *and* weights on CPU for
  conv nets (``net.to(memory_format=torch.channels_last)``: with only the
  input channels-last, oneDNN re-lays the weights out in every forward and
  backward), the chain updated in place with a preallocated noise buffer in
  the standard layout (``normal_`` into a channels-last buffer takes a slow
  strided path: 8× the time of a contiguous one, 8 % of a convnet 32² step)::

      for p in net.parameters(): p.requires_grad_(False)
      net.to(memory_format=torch.channels_last)
      x = x0.clone(memory_format=torch.channels_last); noise = torch.empty(x.shape)
      for _ in range(steps):
          x.requires_grad_(True)
          g, = torch.autograd.grad(-net(x).sum(), x)
          x.requires_grad_(False)
          x.add_(g, alpha=-0.5 * delta**2).add_(noise.normal_(), alpha=delta)

- **naive**: what a user writes without thinking about speed (parameters
  left trainable, a fresh graph and fresh tensors per step)::

      for _ in range(steps):
          x.requires_grad_()
          g, = torch.autograd.grad(-net(x).sum(), x)
          x = (x - 0.5 * delta**2 * g + delta * torch.randn_like(x)).detach()

Ours is :func:`ebm_engine.sampling.run_langevin` inside
:func:`ebm_engine.sampling.frozen`, exactly as the learning methods call it,
once in fp32 and once inside ``precision.autocast("bf16", device)`` (what
``train.precision = bf16`` runs; the chain state stays fp32).

The four variants are timed round-robin in one run (the order rotates every
repeat so none always runs first after another). Each ratio is
``reference time / our time`` of the same repeat (> 1: ours is faster);
reported are its median and min–max over the repeats.

    python -m benchmarks.langevin_throughput [--quick] [--repeats N] [--case NAME] [--threads N] [--json]

``--threads`` sets torch's CPU threads for every variant alike (default:
torch's, one per core). On a machine shared with other jobs, one thread per
core oversubscribes it: a thread that loses its core stalls every parallel
region of the others, which moved tiny cases by 10–100× here; ``--threads 1``
keeps the comparison about the loops.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass

import torch

from benchmarks.common import timed
from ebm_engine import precision
from ebm_engine.config import ModelConfig, SamplerConfig
from ebm_engine.models import build_model
from ebm_engine.sampling import energy_of, frozen, run_langevin


@dataclass(frozen=True)
class Case:
    """One network/batch configuration."""

    name: str
    model: str
    item_shape: tuple[int, ...]
    width: int
    depth: int
    batch: int
    steps: int


CASES = (
    Case("convnet 16²", "convnet", (1, 16, 16), 32, 3, 64, 8),
    Case("convnet 32²", "convnet", (3, 32, 32), 32, 3, 16, 8),
    Case("convnet 64²", "convnet", (3, 64, 64), 32, 3, 8, 8),
    Case("voxelnet 32³", "voxelnet", (1, 32, 32, 32), 16, 3, 4, 5),
    Case("pointnet 2048", "pointnet", (2048, 3), 64, 3, 8, 8),
)

QUICK_CASES = (
    Case("convnet 16² (quick)", "convnet", (1, 16, 16), 8, 1, 4, 3),
    Case("pointnet 64 (quick)", "pointnet", (64, 3), 8, 2, 4, 3),
)

#: Variants in the order of the first repeat; ``ours_*`` are the engine.
VARIANTS = ("ours_fp32", "ours_bf16", "smart_fp32", "naive_fp32")
#: (reference, ours) pairs reported as ratios ``reference time / our time``.
RATIOS = (("smart_fp32", "ours_fp32"), ("smart_fp32", "ours_bf16"),
          ("naive_fp32", "ours_fp32"), ("naive_fp32", "ours_bf16"))

DELTA = 0.01


def ratio_key(reference: str, ours: str) -> str:
    """Row key of one ratio, e.g. ``bf16_vs_smart`` (``ours_bf16`` against ``smart_fp32``)."""
    return f"{ours.removeprefix('ours_')}_vs_{reference.split('_')[0]}"


def _fast_layout(x: torch.Tensor) -> torch.memory_format:
    """Channels-last for image/volume batches on CPU (what oneDNN convolutions prefer)."""
    if x.device.type == "cpu" and x.dim() == 4:
        return torch.channels_last
    if x.device.type == "cpu" and x.dim() == 5:
        return torch.channels_last_3d
    return torch.contiguous_format


#: Channels-last layouts of conv weights by their number of dimensions (2D, 3D convs).
_WEIGHT_LAYOUT = {4: torch.channels_last, 5: torch.channels_last_3d}


def naive_langevin(net: torch.nn.Module, x0: torch.Tensor, steps: int, delta: float) -> torch.Tensor:
    """The naive hand-written loop (see the module docstring)."""
    x = x0.clone()
    for _ in range(steps):
        x.requires_grad_()
        energy = -net(x).sum()
        (g,) = torch.autograd.grad(energy, x)
        x = (x - 0.5 * delta**2 * g + delta * torch.randn_like(x)).detach()
    return x


#: The name the first version of this benchmark (and older notes) used.
plain_langevin = naive_langevin


def smart_langevin(net: torch.nn.Module, x0: torch.Tensor, steps: int, delta: float) -> torch.Tensor:
    """The informed user's fp32 loop (see the module docstring).

    Parameters are frozen, and on CPU conv weights held channels-last, for
    the duration; both are restored afterwards, so the same network object
    can be timed by every variant (and the engine's ``frozen`` is not
    credited with a layout the reference could have used too).
    """
    params = [p for p in net.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    relaid = []
    for p in net.parameters():
        layout = _WEIGHT_LAYOUT.get(p.dim()) if p.device.type == "cpu" else None
        if layout is not None and not p.is_contiguous(memory_format=layout):
            relaid.append((p, p.data))
            p.data = p.data.contiguous(memory_format=layout)
    try:
        x = x0.clone(memory_format=_fast_layout(x0))
        # contiguous: normal_ fills it on its fast path (not a channels-last one)
        noise = torch.empty(x.shape, dtype=x.dtype, device=x.device)
        drift = 0.5 * delta**2
        for _ in range(steps):
            x.requires_grad_(True)
            (g,) = torch.autograd.grad(-net(x).sum(), x)
            # x is a leaf again once it stops requiring grad: updating it in
            # place needs no detach and allocates nothing.
            x.requires_grad_(False)
            x.add_(g, alpha=-drift).add_(noise.normal_(), alpha=delta)
    finally:
        for p, original in relaid:
            p.data = original
        for p in params:
            p.requires_grad_(True)
    return x


def engine_langevin(
    net: torch.nn.Module, x0: torch.Tensor, steps: int, delta: float, chosen: str = "fp32"
) -> torch.Tensor:
    """The engine's sampler as the learning methods use it, in precision ``chosen``."""
    cfg = SamplerConfig(n_steps=steps, step_size=delta)
    with frozen(net), precision.autocast(chosen, x0.device):
        x, _ = run_langevin(energy_of(net), x0, cfg)
    return x


def alternate_many(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Seconds of every call of each function, timed round-robin.

    The order rotates by one every repeat: with four variants each one runs
    first, second, third and fourth equally often over four repeats, so a
    warm cache or a clock change after one variant does not favour another.
    """
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            seconds[name].append(timed(fns[name]))
    return seconds


def summarise(case: Case, seconds: dict[str, list[float]]) -> dict[str, object]:
    """Steps/s (median) of each variant and the per-repeat ratios' median and min–max."""
    row: dict[str, object] = {}
    for name, ts in seconds.items():
        row[f"{name}_s"] = statistics.median(ts)
        row[f"{name}_steps_per_s"] = case.steps / statistics.median(ts)
    for reference, ours in RATIOS:
        ratios = [ref / our for ref, our in zip(seconds[reference], seconds[ours], strict=True)]
        key = ratio_key(reference, ours)
        row[key] = statistics.median(ratios)
        row[f"{key}_min"] = min(ratios)
        row[f"{key}_max"] = max(ratios)
    return row


def run_case(case: Case, repeats: int = 7, device: str = "cpu") -> dict[str, object]:
    """Throughput of every variant on one case (a ``skipped`` row if the model is missing)."""
    from ebm_engine.models.registry import available_models

    if case.model not in available_models():
        return {"case": case.name, "skipped": f"model {case.model!r} is not registered"}
    torch.manual_seed(0)
    net = build_model(ModelConfig(name=case.model, width=case.width, depth=case.depth), case.item_shape)
    net = net.to(device)
    x0 = torch.randn(case.batch, *case.item_shape, device=device)
    fns: dict[str, Callable[[], object]] = {
        "ours_fp32": lambda: engine_langevin(net, x0, case.steps, DELTA, "fp32"),
        "ours_bf16": lambda: engine_langevin(net, x0, case.steps, DELTA, "bf16"),
        "smart_fp32": lambda: smart_langevin(net, x0, case.steps, DELTA),
        "naive_fp32": lambda: naive_langevin(net, x0, case.steps, DELTA),
    }
    seconds = alternate_many(fns, repeats)
    return {
        "case": case.name,
        "model": case.model,
        "item_shape": list(case.item_shape),
        "batch": case.batch,
        "steps": case.steps,
        "repeats": repeats,
        "device": str(device),
        # bf16 off a CPU with AVX-512 BF16/AMX is emulated: its row is then no goal.
        "bf16_native": precision.resolve("auto", torch.device(device))[0] == "bf16",
        "torch_threads": torch.get_num_threads(),
        **summarise(case, seconds),
    }


def run(quick: bool = False, repeats: int | None = None) -> list[dict[str, object]]:
    """One row per case (:data:`QUICK_CASES` with ``quick``)."""
    cases = QUICK_CASES if quick else CASES
    return [run_case(c, repeats or (2 if quick else 7)) for c in cases]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeats", type=int)
    p.add_argument("--case", action="append", help="only cases whose name starts with this (repeatable)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--json", action="store_true", help="print each row as a JSON line")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cases = QUICK_CASES if args.quick else CASES
    if args.case:
        cases = tuple(c for c in cases if any(c.name.startswith(s) for s in args.case))
    for case in cases:
        row = run_case(case, args.repeats or (2 if args.quick else 7))
        if args.json or "skipped" in row:
            print(json.dumps(row), flush=True)
            continue
        ratios = "  ".join(f"{ratio_key(r, o)} {row[ratio_key(r, o)]:.2f}×"
                           f" ({row[ratio_key(r, o) + '_min']:.2f}–{row[ratio_key(r, o) + '_max']:.2f})"
                           for r, o in RATIOS)
        print(f"{case.name:>22}: {ratios}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
