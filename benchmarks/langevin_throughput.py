"""Langevin throughput: the engine's sampler vs a plain hand-written PyTorch loop.

Both run the same network object, batch, start and device. The plain loop is
what a user writes by hand (parameters left trainable, a fresh graph per
step)::

    for _ in range(steps):
        x.requires_grad_()
        E = -net(x).sum()
        g, = torch.autograd.grad(E, x)
        x = (x - 0.5 * delta**2 * g + delta * torch.randn_like(x)).detach()

Ours is :func:`ebm_engine.sampling.run_langevin` inside
:func:`ebm_engine.sampling.frozen`, exactly as the learning methods call it.
They are timed alternately; the ratio is ``plain time / our time`` (> 1:
ours is faster), median over repeats.

    python -m benchmarks.langevin_throughput [--quick]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass

import torch

from benchmarks.common import alternate
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
    Case("convnet 32²", "convnet", (3, 32, 32), 32, 3, 16, 8),
    Case("convnet 64²", "convnet", (3, 64, 64), 32, 3, 8, 8),
    Case("voxelnet 32³", "voxelnet", (1, 32, 32, 32), 16, 3, 4, 5),
    Case("pointnet 2048", "pointnet", (2048, 3), 64, 3, 8, 8),
)

QUICK_CASES = (
    Case("convnet 16² (quick)", "convnet", (1, 16, 16), 8, 1, 4, 3),
    Case("pointnet 64 (quick)", "pointnet", (64, 3), 8, 2, 4, 3),
)

DELTA = 0.01


def plain_langevin(net: torch.nn.Module, x0: torch.Tensor, steps: int, delta: float) -> torch.Tensor:
    """The fair, idiomatic hand-written loop (see the module docstring)."""
    x = x0.clone()
    for _ in range(steps):
        x.requires_grad_()
        energy = -net(x).sum()
        (g,) = torch.autograd.grad(energy, x)
        x = (x - 0.5 * delta**2 * g + delta * torch.randn_like(x)).detach()
    return x


def engine_langevin(net: torch.nn.Module, x0: torch.Tensor, steps: int, delta: float) -> torch.Tensor:
    """The engine's sampler as the learning methods use it."""
    cfg = SamplerConfig(n_steps=steps, step_size=delta)
    with frozen(net):
        x, _ = run_langevin(energy_of(net), x0, cfg)
    return x


def run_case(case: Case, repeats: int = 5, device: str = "cpu") -> dict[str, object]:
    """Throughput of both loops on one case."""
    from ebm_engine.models.registry import available_models

    if case.model not in available_models():
        return {"case": case.name, "skipped": f"model {case.model!r} is not registered"}
    torch.manual_seed(0)
    net = build_model(ModelConfig(name=case.model, width=case.width, depth=case.depth), case.item_shape)
    net = net.to(device)
    x0 = torch.randn(case.batch, *case.item_shape, device=device)

    def ours() -> None:
        engine_langevin(net, x0, case.steps, DELTA)

    def plain() -> None:
        plain_langevin(net, x0, case.steps, DELTA)

    t = alternate(ours, plain, repeats)
    return {
        "case": case.name,
        "model": case.model,
        "item_shape": list(case.item_shape),
        "batch": case.batch,
        "steps": case.steps,
        "ours_steps_per_s": case.steps / t["ours_s"],
        "plain_steps_per_s": case.steps / t["plain_s"],
        **t,
    }


def run(quick: bool = False, repeats: int | None = None) -> list[dict[str, object]]:
    cases = QUICK_CASES if quick else CASES
    return [run_case(c, repeats or (2 if quick else 5)) for c in cases]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeats", type=int)
    args = p.parse_args(argv)
    for row in run(args.quick, args.repeats):
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
