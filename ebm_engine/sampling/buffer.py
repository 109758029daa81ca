"""Chain starts: noise, and the persistent replay buffer (Du & Mordatch 2019)."""

from __future__ import annotations

import torch

from ebm_engine.config import SamplerConfig


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
    """Replay buffer of chain states; each draw restarts a chain from noise
    with probability ``reinit_prob`` (keeps the buffer from collapsing).

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
        self._staged: tuple[torch.Tensor, torch.Tensor] | None = None

    def __len__(self) -> int:
        return self.states.shape[0]

    def draw(self, n: int, reinit: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(indices, starts)`` for ``n`` chains; ``reinit=False`` never
        restarts one from noise (sampling a trained model: a fresh chain given
        only ``n_steps`` shows up as a noise image among the samples)."""
        idx = torch.randint(len(self), (n,), device=self.device, generator=self.generator)
        starts = self.states[idx].clone()
        if not reinit:
            return idx, starts
        fresh = torch.rand(n, device=self.device, generator=self.generator) < self.cfg.reinit_prob
        if fresh.any():
            noise = noise_like(tuple(starts.shape), self.cfg, self.device, self.generator)
            starts[fresh] = noise[fresh]
        return idx, starts

    def store(self, idx: torch.Tensor, x: torch.Tensor) -> None:
        """Write the chains' end states back now."""
        self.states[idx] = x.detach().to(self.states.dtype)

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
        return {"states": self.states}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self.states = tensors["states"].to(self.device).clone()
