"""Pre-flight check of a draw: refuse ``--n`` or ``--scale`` that cannot fit.

``ebm sample --n 100000000`` would allocate 100 GB of chains and end in an
allocator traceback; ``--scale 100000`` would sample first and then ask for a
39 TB picture. :func:`check_sampling` estimates both before anything is drawn
(the same rough, generous way :mod:`ebm_engine.preflight` does for training)
and refuses with one line naming the flag.
"""

from __future__ import annotations

import math

import torch

from ebm_engine.config import RunConfig
from ebm_engine.errors import ConfigError
from ebm_engine.preflight import (
    FLOAT_BYTES,
    SAFETY_FRACTION,
    available_memory,
    format_bytes,
    meta_count,
)

# A chain's state, its gradient and its noise, besides the activations kept for the
# gradient (one forward: measured within 1.5× of the real peak on digits and textures).
CHAIN_COPIES = 3
# An RGB grid in 8-bit values, and the float copy it is made from.
GRID_BYTES_PER_PIXEL = 3 + 3 * FLOAT_BYTES


def chain_bytes(cfg: RunConfig, item_shape: tuple[int, ...], n: int, frames: int = 1) -> int:
    """Memory of ``n`` Langevin chains, in bytes.

    Parameters
    ----------
    cfg : RunConfig
        The model's configuration (its energy network is counted on ``meta``).
    item_shape : tuple of int
        Shape of one sample.
    n : int
        Chains.
    frames : int
        Recorded states of each chain.

    Returns
    -------
    int
        The activations one gradient step keeps, the state, its gradient and
        noise, and the recorded frames, times ``n``.
    """
    item_values = math.prod(int(s) for s in item_shape)
    counted = meta_count(cfg.replace_value("train.batch_size", 1), tuple(item_shape))
    per_item = counted[2] if counted is not None and counted[2] is not None else \
        item_values + cfg.model.width * cfg.model.depth
    per_chain = per_item + (CHAIN_COPIES + max(frames, 1)) * item_values
    return n * per_chain * FLOAT_BYTES


def grid_bytes(n: int, cell: tuple[int, int]) -> int:
    """Memory of a PNG grid, in bytes.

    Parameters
    ----------
    n : int
        Cells.
    cell : tuple of int
        ``(height, width)`` of one cell, pixels.

    Returns
    -------
    int
        The 8-bit grid and the float copy it is made from.
    """
    return n * cell[0] * cell[1] * GRID_BYTES_PER_PIXEL


def check_sampling(cfg: RunConfig, item_shape: tuple[int, ...], n: int,
                   device: torch.device | str, *, frames: int = 1,
                   cell: tuple[int, int] | None = None, scale: int | None = None,
                   also: str = "") -> None:
    """Refuse a draw whose chains, recorded frames or PNG grid cannot fit.

    Parameters
    ----------
    cfg : RunConfig
        The model's configuration.
    item_shape : tuple of int
        Shape of one sample.
    n : int
        Samples asked for (``--n``).
    device : torch.device or str
        Where the chains run (the grid is always made in RAM).
    frames : int
        States of each chain kept for an animation (1: the last only).
    cell : tuple of int, optional
        Pixel size of one grid cell when the draw becomes a PNG grid.
    scale : int, optional
        The ``--scale`` the cell came from (named when the grid is to blame).
    also : str
        More advice after "ask for fewer samples" (``ebm sample``: several calls).

    Raises
    ------
    ConfigError
        One line naming ``--n`` or ``--scale``, the estimate and the free memory.
    """
    grid = grid_bytes(n, cell) if cell is not None else 0
    device = torch.device(device)
    chains = chain_bytes(cfg, item_shape, n, frames)
    ram = available_memory("cpu")
    free = available_memory(device) if device.type == "cuda" else ram
    where = "this machine has" if device.type != "cuda" else f"{device} has"
    if free > 0 and chains > SAFETY_FRACTION * free:
        what = f"{n} chains" + (f" with {frames} recorded frames each" if frames > 1 else "")
        raise ConfigError(f"--n {n} needs ≈ {format_bytes(chains)} for {what}; {where} "
                          f"{format_bytes(free)} free: ask for fewer samples"
                          + (f", {also}" if also else ""))
    if ram > 0 and grid > SAFETY_FRACTION * ram:
        flag = f"--scale {scale}" if scale is not None else f"--n {n}"
        raise ConfigError(f"{flag} makes a grid of {n} cells of {cell[1]} × {cell[0]} px, "
                          f"≈ {format_bytes(grid)}; this machine has {format_bytes(ram)} free: "
                          f"use a smaller --scale or fewer samples")
