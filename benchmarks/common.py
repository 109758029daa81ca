"""Timing helpers shared by the benchmarks: alternate measurement, medians, machine facts."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable

import torch


def timed(fn: Callable[[], object]) -> float:
    """Wall seconds of one call."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def alternate(ours: Callable[[], object], plain: Callable[[], object], repeats: int,
              warmup: int = 1) -> dict[str, float]:
    """Time ``ours`` and ``plain`` alternately, the order swapped every repeat
    (ours, plain, plain, ours, ours, plain …).

    Alternating spreads machine noise (other processes, clock changes) over
    both sides; swapping the order keeps either from always running second,
    on caches the other warmed. Returns the median seconds of each and the
    median of the per-pair ratios ``plain / ours`` (> 1: ours is faster).
    """
    for _ in range(warmup):
        ours()
        plain()
    t_ours, t_plain, ratios = [], [], []
    for r in range(repeats):
        if r % 2 == 0:
            a = timed(ours)
            b = timed(plain)
        else:
            b = timed(plain)
            a = timed(ours)
        t_ours.append(a)
        t_plain.append(b)
        ratios.append(b / a)
    return {
        "ours_s": statistics.median(t_ours),
        "plain_s": statistics.median(t_plain),
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "repeats": repeats,
    }


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def cpu_model() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``), else what :mod:`platform` knows.

    ``platform.processor()`` says only ``x86_64`` on Linux: two results files
    measured on different CPUs (one with native bf16, one without) looked alike.
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, object]:
    """What the numbers were measured on."""
    from ebm_engine import precision

    return {
        "platform": platform.platform(),
        "processor": cpu_model(),
        "cpu_native_bf16": precision.cpu_has_fast_bf16(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_average_1min": load_average(),
    }
