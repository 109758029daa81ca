"""Maximum likelihood by analysis by synthesis (Xie et al. 2016; Nijkamp et al. 2019).

For ``p_θ(x) = exp(f_θ(x)) q(x) / Z(θ)`` the log-likelihood gradient is

    ∇θ L = E_data[∇θ f_θ(x)] − E_{p_θ}[∇θ f_θ(x)],

and the model expectation is estimated with Langevin samples ``x̃``. We
minimise ``mean E(x_data) − mean E(x̃) + energy_l2 · mean(E(x)² + E(x̃)²)``
(``E = −f + |x|²/2σ²``), whose θ-gradient is ``−∇θ L`` plus the penalty.

Binary data (voxel occupancies at exactly ±1, the corners of the clamp box)
has no density: the likelihood grows without bound as the energy sharpens
towards the corners, so ``E`` drifts to −10⁵ on data and samples alike while
the chains saturate. ``train.options.data_noise`` dequantises: every batch
gets fresh Gaussian jitter ``x + s·ε`` (reflected back into the data range
when the sampler clamps, so no mass piles up on the bounds), which gives the
data a density the model can match at a finite energy scale.

``train.options.average`` samples a trained model with a moving average of
the energy net's weights (:mod:`._average`): the persistent chains and the
net chase each other, so the samples of the trained net swing from one
checkpoint to the next; the average's samples take the middle of the swing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from ebm_engine.config import RunConfig
from ebm_engine.errors import ConfigError
from ebm_engine.methods._average import Averages
from ebm_engine.methods.base import DataSpec, LearningMethod, StepResult, register_method
from ebm_engine.models import build_model
from ebm_engine.options import knob
from ebm_engine.sampling import ChainFrame, PersistentBuffer, energy_of, frozen, noise_like
from ebm_engine.sampling.langevin import langevin, run_langevin


@dataclass(frozen=True)
class MaximumLikelihoodOptions:
    """Knobs of maximum likelihood.

    Attributes
    ----------
    data_noise : float
        Standard deviation of Gaussian jitter added to every data batch
        (dequantisation of binary data such as voxels; 0 = off).
    lr_end : float
        The energy net's rate decays (cosine) to ``lr_end · train.lr`` at
        ``train.iterations`` (1 = constant). A late low rate stops the
        model and its persistent chains chasing each other, so the samples
        settle instead of swinging from one checkpoint to the next.
    average : float
        Sample with a moving average of the energy net's weights with this
        decay (0 = the trained net; see :mod:`._average`). Training and its
        chains never read the average.
    """

    data_noise: float = knob(0.0, ge=0, unit="in data units")
    lr_end: float = knob(1.0, gt=0, le=1, unit="× train.lr")
    average: float = knob(0.0, ge=0, lt=1, live=False)


@register_method("ml")
class MaximumLikelihood(LearningMethod):
    """One EBM, Langevin chains started from noise, a replay buffer or data."""

    learns_from_chains = True

    Options = MaximumLikelihoodOptions

    @classmethod
    def check(cls, opts, cfg: RunConfig, spec: DataSpec | None) -> None:
        if cfg.sampler.init == "generator":
            raise ConfigError("sampler.init 'generator' needs a method with a generator (coopnets)")

    def build(self) -> None:
        cfg, spec, device, rng = self.cfg, self.spec, self.device, self.rng
        self.net = build_model(cfg.model, spec.item_shape).to(device)
        self.opt = self.adam(self.net.parameters())
        self.averages = Averages({"energy": self.net}, self.opts.average)
        self.buffer: PersistentBuffer | None = None
        if cfg.sampler.init == "persistent":
            self.buffer = PersistentBuffer(
                cfg.sampler.buffer_size, spec.item_shape, cfg.sampler, device, rng
            )

    # --- LearningMethod ----------------------------------------------------
    def buffers(self) -> list[PersistentBuffer]:
        return [self.buffer] if self.buffer is not None else []

    def reconfigured(self) -> None:
        if self.buffer is not None:  # re-initialisation knobs are live
            self.buffer.cfg = self.cfg.sampler

    def networks(self) -> dict[str, torch.nn.Module]:
        return {"energy": self.net, **self.averages.networks()}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"energy": self.opt}

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return energy_of(self.net, self.cfg.sampler.reference_sigma)(x)

    def train_step(self, batch: torch.Tensor, record_every: int) -> StepResult:
        cfg = self.cfg
        self.decay_rate(self.opt, self.opts.lr_end)
        idx = None
        if cfg.sampler.init == "persistent" and self.buffer is not None:
            idx, x0 = self.buffer.draw(batch.shape[0])
        elif cfg.sampler.init == "data":
            x0 = batch.clone()
        else:
            x0 = noise_like(tuple(batch.shape), cfg.sampler, self.device, self.rng)
        energy_fn = self.energy
        with frozen(self.net):
            synth, frames = run_langevin(
                energy_fn, x0, cfg.sampler, record_every=record_every,
                value_range=self.spec.value_range, generator=self.rng,
            )
        if self.buffer is not None and idx is not None:
            self.buffer.stage(idx, synth)
        e_data = energy_fn(self.dequantised(batch, self.opts.data_noise))
        e_synth = energy_fn(synth)
        metrics = self.ml_backward(self.net, self.opt, e_data, e_synth)
        return StepResult(metrics, synth, e_synth.detach(), frames)

    def sample(
        self, n: int, n_steps: int | None = None, record_every: int = 0, n_record: int = 8
    ) -> Iterator[ChainFrame]:
        shape = (n, *self.spec.item_shape)
        if self.cfg.sampler.init == "persistent" and self.buffer is not None:
            # No restarts here: a chain fresh from noise gets only n_steps and shows
            # up as a noise image among the samples.
            _, x0 = self.buffer.draw(n, reinit=False)
        else:
            x0 = noise_like(shape, self.cfg.sampler, self.device, self.rng)
        net = self.averages.of("energy")  # the trained net unless train.options.average
        with frozen(net):
            yield from langevin(
                energy_of(net, self.cfg.sampler.reference_sigma), x0, self.cfg.sampler,
                n_steps=n_steps, record_every=record_every, n_record=n_record,
                value_range=self.spec.value_range, generator=self.rng,
            )

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {f"buffer.{k}": v for k, v in self.buffer.state_tensors().items()} if self.buffer else {}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        if self.buffer is not None:
            prefix = "buffer."
            own = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
            if own:
                self.buffer.load_state_tensors(own)
