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
    p.add_argument("--seed", type=_seed, default=0,
                   help="seed of the chains' start (default 0: the same draws every call; "
                        "change it for others)")


def _seed(text: str) -> int:
    """A seed torch takes (0 … 2**63 − 1): a huge one was a traceback."""
    from ebm_engine.config import MAX_SEED

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be 0 … {MAX_SEED}, got {text}")
    return value
