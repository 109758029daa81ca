"""The energy ``E_θ(x) = -f_θ(x) + |x|²/(2σ²)`` (lower = more probable)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator

import torch
from torch import nn

EnergyFn = Callable[[torch.Tensor], torch.Tensor]


def energy_of(net: nn.Module, reference_sigma: float = math.inf) -> EnergyFn:
    """Return ``x ↦ E(x)`` of shape ``(B,)`` for the network ``f_θ = net``.

    Parameters
    ----------
    net : nn.Module
        Maps ``(B, …)`` to ``f_θ(x)`` of shape ``(B,)``.
    reference_sigma : float
        σ of the Gaussian reference ``q = N(0, σ²I)``; ``inf`` drops the term.
    """
    # .float(): under bf16 autocast the net's output is bf16; energies are
    # summed, differenced and logged in fp32 (see ebm_engine.precision).
    if math.isinf(reference_sigma):
        return lambda x: -net(x).float()
    scale = 1.0 / (2.0 * reference_sigma**2)
    return lambda x: -net(x).float() + scale * x.flatten(1).pow(2).sum(1)


@contextlib.contextmanager
def frozen(*nets: nn.Module) -> Iterator[None]:
    """Switch off parameter gradients while sampling: Langevin needs ∇ₓE only,
    and skipping ∇θ saves the weight-gradient kernels.

    On CPU, conv weights are also held channels-last for the duration (the
    chains are channels-last too): oneDNN otherwise re-lays them out in every
    forward and backward of every Langevin step (3–9 % of a step, measured by
    ``benchmarks/langevin_throughput``). The original tensors are put back, so
    checkpoints and training see the usual layout.
    """
    params = [p for net in nets for p in net.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    relaid = []
    for net in nets:
        for p in net.parameters():
            layout = _CHANNELS_LAST.get(p.dim()) if p.device.type == "cpu" else None
            if layout is not None and not p.is_contiguous(memory_format=layout):
                relaid.append((p, p.data))
                p.data = p.data.contiguous(memory_format=layout)
    try:
        yield
    finally:
        for p, original in relaid:
            p.data = original
        for p in params:
            p.requires_grad_(True)


_CHANNELS_LAST = {4: torch.channels_last, 5: torch.channels_last_3d}
