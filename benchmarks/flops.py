"""FLOP utilisation of Langevin sampling on the conv nets.

FLOPs of one Langevin step (forward and the input-gradient backward, what
the sampler runs) are counted with :class:`torch.utils.flop_counter.FlopCounterMode`;
the machine's peak is measured in the same run as the best float32 matmul
rate (``n × n`` by ``n × n``, ``2n³`` FLOPs). Utilisation = FLOPs/step ×
steps/s ÷ matmul FLOP/s.
"""

from __future__ import annotations

import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.langevin_throughput import Case
from ebm_engine.config import ModelConfig
from ebm_engine.models import build_model
from ebm_engine.sampling import energy_of, frozen


def matmul_flops(n: int = 1024, repeats: int = 10) -> float:
    """Best observed float32 matmul FLOP/s on this machine (current thread count)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best


def step_flops(case: Case) -> float:
    """FLOPs of one Langevin step (forward + ∇ₓ backward) for the case's batch."""
    torch.manual_seed(0)
    net = build_model(ModelConfig(name=case.model, width=case.width, depth=case.depth), case.item_shape)
    x = torch.randn(case.batch, *case.item_shape, requires_grad=True)
    counter = FlopCounterMode(display=False)
    with frozen(net), counter:
        energy = energy_of(net)(x)
        energy.sum().backward()  # only x needs a gradient: the params are frozen
    return float(counter.get_total_flops())


def utilisation(langevin_rows: list[dict], peak: float | None = None) -> dict[str, object]:
    """Utilisation of each conv-net row of the Langevin benchmark."""
    from benchmarks.langevin_throughput import CASES, QUICK_CASES

    by_name = {c.name: c for c in CASES + QUICK_CASES}
    peak = peak or matmul_flops()
    rows = []
    for row in langevin_rows:
        case = by_name.get(str(row.get("case")))
        if case is None or "skipped" in row or case.model not in ("convnet", "voxelnet", "stgconvnet"):
            continue
        flops = step_flops(case)
        achieved = flops * float(row["ours_steps_per_s"])
        rows.append({"case": case.name, "gflop_per_step": flops / 1e9,
                     "ours_gflop_per_s": achieved / 1e9,
                     "plain_gflop_per_s": flops * float(row["plain_steps_per_s"]) / 1e9,
                     "utilisation": achieved / peak})
    return {"matmul_gflop_per_s": peak / 1e9, "rows": rows}
