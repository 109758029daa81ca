"""Langevin sampling: the energy with its reference term, the chain, the buffer."""

from __future__ import annotations

from ebm_engine.sampling.buffer import PersistentBuffer, noise_like
from ebm_engine.sampling.energy import EnergyFn, energy_of, frozen
from ebm_engine.sampling.langevin import ChainFrame, langevin, run_langevin

__all__ = [
    "ChainFrame",
    "EnergyFn",
    "PersistentBuffer",
    "energy_of",
    "frozen",
    "langevin",
    "noise_like",
    "run_langevin",
]
