"""Arguments that ``ebm sample``, ``ebm eval`` and ``ebm score`` share, said one way
(a leading underscore: not a sub-command of its own)."""

from __future__ import annotations

import argparse

DEVICE_HELP = "auto, cpu, cuda or mps (default: auto)"


def add_chain_arguments(p: argparse.ArgumentParser) -> None:
    """``--steps`` (Langevin steps, not iterations) and ``--seed`` of a model's chains."""
    p.add_argument("--steps", type=int,
                   help="Langevin steps per chain, not training iterations (default: the "
                        "run's sampler.n_steps, or its per-grid / per-level steps)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the chains' start (default 0: the same draws every call; "
                        "change it for others)")
