"""Latent-space EBM prior (Pang, Han, Nijkamp, Zhu & Wu, NeurIPS 2020).

A top-down generator with an energy-based prior on its latent vector:

    z ~ p_α(z) = exp(f_α(z)) p₀(z) / Z(α),   p₀ = N(0, σ₀² I),
    x = g_β(z) + ε,                           ε ~ N(0, s² I),

with ``f_α`` a small MLP on ``z`` (``model`` section: ``mlp``, its width and
depth). Maximum likelihood needs two short-run Langevin samplers, both in
latent space:

- prior:     ``z⁻ ~ p_α(z)``         (energy ``E_α(z) = −f_α(z) + |z|²/2σ₀²``),
- posterior: ``z⁺ ~ p_θ(z | x)``     (energy ``E_α(z) + |x − g_β(z)|² / 2s²``),

and the learning gradients are

    ∇α L = mean ∇α f_α(z⁺) − mean ∇α f_α(z⁻),
    ∇β L = mean ∇β log p_β(x | z⁺) = −mean ∇β |x − g_β(z⁺)|² / 2s².

The prior's Langevin chain uses the run's ``sampler`` section (steps, step
size, noise and gradient scales; σ₀ = ``sampler.reference_sigma``, 1 in the
paper), the posterior's the ``post_*`` knobs. Anomaly score of ``x``: the
joint energy ``E_α(z*) + |x − g_β(z*)|²/2s²`` at the inferred latent ``z*``
(gradient descent from ``z = 0``, deterministic), i.e. ``−log p(x, z*)`` up
to a constant — the paper's anomaly-detection score.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator

import torch

from ebm_engine.config import ModelConfig
from ebm_engine.methods._average import Averages
from ebm_engine.methods._persistent_posterior import PersistentPosterior
from ebm_engine.methods.base import GENERATOR_BETAS, LearningMethod, StepResult, register_method
from ebm_engine.models import build_model
from ebm_engine.models.generator import build_generator
from ebm_engine.options import MAX_UNITS, knob
from ebm_engine.sampling import ChainFrame, energy_of, frozen
from ebm_engine.sampling.langevin import langevin, run_langevin


@dataclasses.dataclass(frozen=True)
class LatentEBMOptions:
    """Knobs of the latent-space EBM prior.

    Attributes
    ----------
    z_dim : int
        Latent size (of the prior's input and the generator's code).
    gen_width : int
        Generator base width (channels / hidden units).
    gen_lr : float
        Generator Adam learning rate (train.lr is the prior's).
    obs_sigma : float
        s: observation noise of x = g(z) + ε.
    post_steps : int
        Posterior Langevin steps per iteration (exact Langevin).
    post_step_size : float
        Step size δ of the posterior Langevin.
    score_steps : int
        Gradient steps inferring z* for anomaly scores and data-space energies.
    post_persistent : bool
        Each training item keeps its posterior latent between visits and its
        chain continues from there (as in alternating back-propagation): the
        ``post_steps`` then refine the last visit's latent instead of starting
        over from ``N(0, I)`` every time.
    average : float
        Sample from moving averages of the prior's and the generator's weights
        with this decay (0 = from the trained networks; see :mod:`._average`).
    """

    z_dim: int = knob(16, ge=1, le=MAX_UNITS, live=False, sizes=("generator",))
    gen_width: int = knob(32, ge=1, le=MAX_UNITS, live=False, unit="channels", sizes=("generator",))
    gen_lr: float = knob(1e-3, gt=0)
    obs_sigma: float = knob(0.3, gt=0)
    post_steps: int = knob(20, ge=0, unit="steps")
    post_step_size: float = knob(0.1, gt=0)
    score_steps: int = knob(60, ge=1, unit="steps")
    post_persistent: bool = knob(False, live=False)
    average: float = knob(0.0, ge=0, lt=1, live=False)


@register_method("latent_ebm")
class LatentEBM(PersistentPosterior, LearningMethod):
    """Generator with an energy-based prior on its latent vector (Langevin in latent space)."""

    Options = LatentEBMOptions
    samples_are = "generated"

    def build(self) -> None:
        cfg, o = self.cfg, self.opts
        # The prior is an MLP on z whatever network the data would use.
        prior_cfg = ModelConfig("mlp", cfg.model.width, cfg.model.depth, cfg.model.spectral_norm)
        if cfg.model.name != "mlp":
            prior_cfg = ModelConfig("mlp", 200, 2, cfg.model.spectral_norm)
        self.prior = build_model(prior_cfg, (o.z_dim,)).to(self.device)
        self.gen = build_generator(o.z_dim, self.spec.item_shape, o.gen_width,
                                   batch_norm=False).to(self.device)
        self.opt = self.adam(self.prior.parameters())
        self.gen_opt = self.adam(self.gen.parameters(), lr_knob="gen_lr", betas=GENERATOR_BETAS)
        self.init_post_latents(o.post_persistent, o.z_dim)
        self.averages = Averages({"prior": self.prior, "generator": self.gen}, o.average)

    # --- energies ------------------------------------------------------------
    def prior_energy(self, z: torch.Tensor, prior: torch.nn.Module | None = None) -> torch.Tensor:
        """``E_α(z) = −f_α(z) + |z|²/2σ₀²`` (``f_α`` is ``prior``, by default the trained one)."""
        return energy_of(self.prior if prior is None else prior, self.cfg.sampler.reference_sigma)(z)

    def joint_energy(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``−log p(x, z)`` up to a constant: ``E_α(z) + |x − g(z)|²/2s²``."""
        s2 = self.opts.obs_sigma ** 2
        return self.prior_energy(z) + (x - self.gen(z)).flatten(1).pow(2).sum(1) / (2 * s2)

    def infer(self, x: torch.Tensor, n_steps: int | None = None, noise: bool = True,
              z0: torch.Tensor | None = None) -> torch.Tensor:
        """Posterior latents for ``x``: short-run Langevin on the joint energy.

        ``noise=False`` runs gradient descent from ``z = 0`` (deterministic; a
        MAP estimate ``z*``) instead of Langevin from ``z ~ N(0, I)``; ``z0``
        starts the chains there instead (persistent posterior chains).
        """
        x = x.detach()
        steps = self.opts.post_steps if n_steps is None else n_steps
        pcfg = dataclasses.replace(self.cfg.sampler, n_steps=steps,
                                   step_size=self.opts.post_step_size,
                                   noise_scale=1.0 if noise else 0.0, grad_scale=1.0, clamp=False)
        if z0 is not None:
            z0 = z0.detach()
        elif noise:
            z0 = torch.randn(x.shape[0], self.opts.z_dim, device=self.device, generator=self.rng)
        else:
            z0 = torch.zeros(x.shape[0], self.opts.z_dim, device=self.device)
        with frozen(self.prior, self.gen):
            z, _ = run_langevin(lambda zz: self.joint_energy(x, zz), z0, pcfg,
                                generator=self.rng if noise else None)
        return z

    # --- LearningMethod ----------------------------------------------------
    def networks(self) -> dict[str, torch.nn.Module]:
        return {"prior": self.prior, "generator": self.gen, **self.averages.networks()}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"prior": self.opt, "generator": self.gen_opt}

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """Approximate data-space energy ``−log p(x, z*)`` at the inferred ``z*``
        (the marginal ``−log p(x)`` is intractable); same as :meth:`anomaly_score`.

        Differentiable in ``x`` with ``z*`` held fixed: at a minimum over ``z``
        that is the gradient of ``min_z E(x, z)`` (envelope theorem), which
        landscape views draw.
        """
        z = self.infer(x, self.opts.score_steps, noise=False)
        return self.joint_energy(x, z)

    def anomaly_score(self, x: torch.Tensor) -> torch.Tensor:
        """Per-item anomaly score: higher = less like the training data."""
        return self.energy(x)

    def _prior_chain(self, n: int, record_every: int) -> tuple[torch.Tensor, list[ChainFrame]]:
        z0 = torch.randn(n, self.opts.z_dim, device=self.device, generator=self.rng)
        with frozen(self.prior):
            return run_langevin(self.prior_energy, z0, self.cfg.sampler, record_every=record_every,
                                generator=self.rng)

    def _to_data_frame(self, frame: ChainFrame, gen: torch.nn.Module | None = None) -> ChainFrame:
        with torch.no_grad():
            x = (self.gen if gen is None else gen)(torch.from_numpy(frame.x).to(self.device))
        return ChainFrame(frame.step, x.float().cpu().numpy().copy(), frame.energy)

    def train_step(self, batch: torch.Tensor, record_every: int) -> StepResult:
        z_neg, frames = self._prior_chain(batch.shape[0], record_every)
        start = self.post_start()
        if start is not None:
            z_pos = self.infer(batch, z0=start[1])
            self.post_stage(start[0], z_pos)
        else:
            z_pos = self.infer(batch)
        # Prior: maximum likelihood, posterior latents are its "data".
        e_pos = self.prior_energy(z_pos)
        e_neg = self.prior_energy(z_neg)
        prior = self.ml_backward(self.prior, self.opt, e_pos, e_neg)
        # Generator: maximise log p(x | z⁺).
        recon = self.gen(z_pos)
        sq = (batch - recon).flatten(1).pow(2).sum(1)
        gen_loss = sq.mean() / (2 * self.opts.obs_sigma ** 2)
        gen_norm = self.backward(gen_loss, self.gen_opt, [self.gen], clip=False)
        with torch.no_grad():
            samples = self.gen(z_neg)
        metrics = {
            "loss": prior["loss"],
            "energy_data": prior["energy_data"],
            "energy_sample": prior["energy_sample"],
            "gen_loss": float(gen_loss.detach()),
            "recon_mse": float(sq.detach().mean()) / math.prod(self.spec.item_shape),
            "grad_norm": prior["grad_norm"],
            "gen_grad_norm": gen_norm,
        }
        return StepResult(metrics, samples, e_neg.detach(),
                          [self._to_data_frame(f) for f in frames],
                          extras={"reconstructions": recon.detach()})

    def sample(
        self, n: int, n_steps: int | None = None, record_every: int = 0, n_record: int = 8
    ) -> Iterator[ChainFrame]:
        """Prior Langevin in latent space; each frame is shown through ``g`` (prior and
        generator averaged when ``average`` > 0)."""
        prior, gen = self.averages.of("prior"), self.averages.of("generator")
        z0 = torch.randn(n, self.opts.z_dim, device=self.device, generator=self.rng)
        with frozen(prior, gen):
            for frame in langevin(lambda z: self.prior_energy(z, prior), z0, self.cfg.sampler,
                                  n_steps=n_steps, record_every=record_every, n_record=n_record,
                                  generator=self.rng):
                yield self._to_data_frame(frame, gen)
