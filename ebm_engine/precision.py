"""Mixed precision: ``train.precision`` = ``fp32`` | ``bf16`` | ``auto``.

bf16 covers the energy network's forward and backward passes — the Langevin
steps and the training loss — through :func:`torch.autocast`. The chain
state, the weights and the optimiser state stay fp32 (the energy is cast back
to fp32 before it is summed or differenced), so checkpoints and the stored
format do not change with the precision.

``auto`` picks bf16 where the hardware runs it natively and fast: a CPU with
AVX-512 BF16 or AMX (conv and matmul kernels of oneDNN use them), or a CUDA
device that supports bf16; fp32 elsewhere (on other CPUs bf16 is emulated
and slower). The choice is made once per run and reported.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path

import torch

PRECISIONS = ("fp32", "bf16", "auto")
# Methods whose samples were as good or better in bf16 at equal wall-clock time
# (benchmarks/precision_quality: digits FD and voxel MMD); auto keeps fp32 for others.
BF16_VERIFIED = frozenset({"ml"})


@functools.cache
def cpu_has_fast_bf16() -> bool:
    """The CPU advertises AVX-512 BF16 or AMX-BF16 (Linux ``/proc/cpuinfo`` flags)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return bool(flags & {"avx512_bf16", "amx_bf16"})
    return False


def resolve(precision: str, device: torch.device, method: str = "ml") -> tuple[str, str]:
    """``(fp32 | bf16, why)`` for ``precision`` on ``device`` and learning ``method``.

    ``auto`` keeps fp32 for methods whose bf16 quality at equal time has not
    been measured yet (:data:`BF16_VERIFIED`).
    """
    if precision != "auto":
        return precision, "as configured"
    if method not in BF16_VERIFIED:
        return "fp32", f"auto: bf16 not yet verified for {method}"
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return "bf16", "auto: the CUDA device supports bf16"
        return "fp32", "auto: the CUDA device has no bf16"
    if device.type == "cpu":
        if cpu_has_fast_bf16():
            return "bf16", "auto: this CPU has AVX-512 BF16/AMX"
        return "fp32", "auto: this CPU has no native bf16"
    return "fp32", f"auto: bf16 not used on {device.type}"


@contextlib.contextmanager
def autocast(precision: str, device: torch.device) -> Iterator[None]:
    """Run the enclosed network passes in ``precision`` (a resolved ``fp32``/``bf16``)."""
    if precision != "bf16":
        yield
        return
    with torch.autocast(device.type, dtype=torch.bfloat16):
        yield
