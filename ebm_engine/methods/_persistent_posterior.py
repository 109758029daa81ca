"""Persistent posterior chains for latent-variable methods (``post_persistent``).

Each training item keeps its posterior latent; its next visit continues the
chain from there instead of from noise. The latents are checkpointed, and a
step's new latents are written back only when the trainer applies the step,
so a diverged or interrupted step leaves them as they were (exact resume).
"""

from __future__ import annotations

import torch

STATE_KEY = "posterior_latents"


class PersistentPosterior:
    """Mixin for a :class:`~ebm_engine.methods.base.LearningMethod` whose
    posterior Langevin may continue per-item chains.

    Call :meth:`init_post_latents` when building; in ``train_step`` take the
    start with :meth:`post_start` and hand the result to :meth:`post_stage`.
    """

    post_latents: torch.Tensor | None = None
    _index: torch.Tensor | None = None
    _staged: tuple[torch.Tensor, torch.Tensor] | None = None

    def init_post_latents(self, enabled: bool, z_dim: int) -> None:
        """One N(0, I) latent per training item when ``enabled`` (and there is data)."""
        self.post_latents = None
        if enabled and self.dataset is not None:
            self.post_latents = torch.randn(len(self.dataset), z_dim, device=self.device,
                                            generator=self.rng)
        self._index, self._staged = None, None

    def post_start(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``(rows, their latents)`` of the batch drawn for this step, or ``None``
        (chains from noise: not persistent, or a batch the trainer did not draw)."""
        index, self._index = self._index, None
        if self.post_latents is None or index is None:
            return None
        return index, self.post_latents[index].clone()

    def post_stage(self, index: torch.Tensor, z: torch.Tensor) -> None:
        """Keep ``z`` for rows ``index``; written back by :meth:`apply_update` only."""
        self._staged = (index, z.detach())

    # --- LearningMethod hooks ------------------------------------------------------------
    def batch_drawn(self, index: torch.Tensor) -> None:
        super().batch_drawn(index)
        self._index = index

    def apply_update(self) -> None:
        super().apply_update()
        if self._staged is not None:
            index, z = self._staged
            self.post_latents[index] = z
        self._staged = None

    def discard_update(self) -> None:
        super().discard_update()
        self._staged = None

    def state_tensors(self) -> dict[str, torch.Tensor]:
        out = super().state_tensors()
        if self.post_latents is not None:
            out[STATE_KEY] = self.post_latents.cpu()
        return out

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        super().load_state_tensors(tensors)
        if self.post_latents is not None and STATE_KEY in tensors:
            self.post_latents = tensors[STATE_KEY].float().to(self.device)
