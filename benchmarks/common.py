"""Helpers shared by the benchmarks: timing, machine facts.

Alternate measurement of several loops is
:func:`benchmarks.langevin_throughput.alternate_many`.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable

import torch


def timed(fn: Callable[[], object]) -> float:
    """Wall seconds of one call."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


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


def machine_line() -> str:
    """One line for a results table: the CPU (whether it has native bf16), its cores,
    torch and its threads, and the load when the table was written (iteration counts at
    a fixed wall-clock budget depend on all of them)."""
    m = machine()
    load = m["load_average_1min"]
    bf16 = "native bf16" if m["cpu_native_bf16"] else "no native bf16"
    return (f"Machine: {m['processor']} ({bf16}), {m['cpus']} CPUs, torch {m['torch']} with "
            f"{m['torch_threads']} threads; 1-min load average "
            f"{'–' if load is None else format(load, '.1f')} when this table was written.")
