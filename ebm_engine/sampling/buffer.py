"""Chain starts: noise, and the persistent replay buffer (Du & Mordatch 2019)."""

from __future__ import annotations

import torch

from ebm_engine.config import SamplerConfig

#: Visits since its last restart before sampling a trained model takes a chain. A chain
#: restarted a visit or two ago is still noise (~15 % of the digits-multistage grid), but the
#: longest-run chains are no better: under a model that is a short-run sampler they drift
#: furthest from the data (digits ML, one buffer: FD 12.2 for settled chains taken at
#: random, 22.7 for the oldest half, 55 for the youngest half).
SETTLED_AGE = 5


def noise_like(
    shape: tuple[int, ...],
    cfg: SamplerConfig,
    device: torch.device | str,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Noise starts for short-run chains: ``N(0, s²)`` or ``U(-s, s)``, ``s = init_scale``."""
    if cfg.init_noise == "uniform":
        x = torch.rand(shape, device=device, generator=generator)
        return (x * 2.0 - 1.0) * cfg.init_scale
    return torch.randn(shape, device=device, generator=generator) * cfg.init_scale


class PersistentBuffer:
    """Replay buffer of chain states; each training draw restarts a chain from
    noise with probability ``reinit_prob`` (keeps the buffer from collapsing),
    and each chain's age (visits since its last restart) is kept for sampling.

    Parameters
    ----------
    capacity : int
        Number of stored chains.
    item_shape : tuple of int
        Shape of one item.
    cfg : SamplerConfig
        Noise distribution and re-initialisation probability.
    device : torch.device or str
        Where the buffer lives.
    generator : torch.Generator, optional
        Source of randomness (shared with the trainer for exact resume).
    """

    def __init__(
        self,
        capacity: int,
        item_shape: tuple[int, ...],
        cfg: SamplerConfig,
        device: torch.device | str,
        generator: torch.Generator | None = None,
    ):
        self.cfg = cfg
        self.device = torch.device(device)
        self.generator = generator
        self.states = noise_like((capacity, *item_shape), cfg, self.device, generator)
        # Visits since each chain last started from noise: sampling a trained model
        # takes settled chains (SETTLED_AGE), not ones restarted a few visits ago.
        self.ages = torch.zeros(capacity, dtype=torch.long, device=self.device)
        self._staged: tuple[torch.Tensor, torch.Tensor] | None = None

    def __len__(self) -> int:
        return self.states.shape[0]

    def draw(self, n: int, reinit: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(indices, starts)`` for ``n`` chains.

        ``reinit=True`` (training): random chains, each restarted from noise
        with probability ``reinit_prob``. ``reinit=False`` (sampling a trained
        model): none restarted; settled chains (at least :data:`SETTLED_AGE`
        visits since their restart) in random order, then if too few, the
        rest oldest first. A chain fresh from noise, or restarted a few visits
        ago, would show up as a noise image among the samples.
        """
        if not reinit:
            return self._settled(n)
        idx = torch.randint(len(self), (n,), device=self.device, generator=self.generator)
        starts = self.states[idx].clone()
        fresh = torch.rand(n, device=self.device, generator=self.generator) < self.cfg.reinit_prob
        if fresh.any():
            noise = noise_like(tuple(starts.shape), self.cfg, self.device, self.generator)
            starts[fresh] = noise[fresh]
            self.ages[idx[fresh]] = 0
        return idx, starts

    def _settled(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        # Settled chains rank above all others, at random among themselves; the others
        # by age, at random among equals (a buffer from before ages: all 0, all random).
        jitter = torch.rand(len(self), device=self.device, generator=self.generator).double()
        ages = self.ages.double()
        rank = torch.where(ages >= SETTLED_AGE, SETTLED_AGE + 1 + jitter, ages + jitter)
        order = torch.argsort(rank, descending=True)
        idx = order[torch.arange(n, device=self.device) % len(self)]
        return idx, self.states[idx].clone()

    def store(self, idx: torch.Tensor, x: torch.Tensor) -> None:
        """Write the chains' end states back now."""
        self.states[idx] = x.detach().to(self.states.dtype)
        self.ages[idx] = self.ages[idx] + 1

    def stage(self, idx: torch.Tensor, x: torch.Tensor) -> None:
        """Hold the chains' end states until :meth:`commit` (a training step
        whose update is refused, diverged or interrupted, must not reach the
        buffer: :meth:`discard` drops them)."""
        self._staged = (idx, x.detach())

    def commit(self) -> None:
        """Write what :meth:`stage` holds."""
        if self._staged is not None:
            self.store(*self._staged)
            self._staged = None

    def discard(self) -> None:
        """Forget what :meth:`stage` holds."""
        self._staged = None

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {"states": self.states, "ages": self.ages}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        # the buffer keeps its own dtype (a shipped zoo entry may store chains as float16)
        self.states = tensors["states"].to(self.device, self.states.dtype).clone()
        ages = tensors.get("ages")  # checkpoints from before ages: all chains alike
        self.ages = (ages.to(self.device).long().clone() if ages is not None
                     else torch.zeros(len(self), dtype=torch.long, device=self.device))
