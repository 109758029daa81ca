"""Generative cooperative networks, CoopNets (Xie, Lu, Gao, Zhu & Wu, AAAI 2018 / TPAMI 2020).

A descriptor (the EBM ``p_θ(x) ∝ exp(f_θ(x)) q(x)``) and a generator
``x = g_α(z) + ε``, ``z ~ N(0, I)``, learn together. Each iteration:

1. proposals ``x̂ = g_α(z)`` (the generator's guess);
2. revision: ``n_steps`` Langevin steps on ``E_θ`` start at ``x̂`` and end at
   ``x̃`` (the descriptor's correction; ``sampler.init = "generator"``);
3. descriptor, maximum likelihood with ``x̃`` as the synthesis:
   ``∇θ L = mean ∇θ f(x_data) − mean ∇θ f(x̃)``;
4. optional latent revision: ``latent_steps`` Langevin steps on
   ``|x̃ − g_α(z)|² / 2s² + |z|²/2`` (``s = gen_sigma``) infer the ``z`` that
   explains ``x̃``;
5. generator, MCMC teaching: it regresses on the revised samples,
   ``min_α mean |x̃ − g_α(z)|² / 2s²`` — it learns to jump where the
   descriptor's chains would go, so it amortises the MCMC.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import torch

from ebm_engine.methods._average import Averages
from ebm_engine.methods.base import (
    GENERATOR_BETAS,
    LearningMethod,
    StepResult,
    contrastive_loss,
    register_method,
)
from ebm_engine.models import build_model
from ebm_engine.models.generator import build_generator
from ebm_engine.options import MAX_UNITS, knob
from ebm_engine.sampling import ChainFrame, energy_of, frozen
from ebm_engine.sampling.langevin import langevin, run_langevin


@dataclasses.dataclass(frozen=True)
class CoopNetsOptions:
    """Knobs of CoopNets.

    Attributes
    ----------
    z_dim : int
        Generator latent size.
    gen_width : int
        Generator base width (channels / hidden units).
    gen_lr : float
        Generator Adam learning rate.
    gen_sigma : float
        s: the generator's assumed residual noise in MCMC teaching.
    latent_steps : int
        Langevin steps inferring z for the revised samples (0 = off).
    latent_step_size : float
        Step size of that latent Langevin.
    lr_end : float
        Both nets' rates at ``train.iterations``, as a share of their start
        (``train.lr``, ``gen_lr``): a cosine decay (1: constant). With constant
        rates the pair keeps chasing each other and the samples swing in
        quality from one hundred iterations to the next; a decay lets them settle.
    average : float
        Sample from moving averages of both nets' weights with this decay
        (0 = from the trained nets; see :mod:`._average`): another way to settle the swing.
    """

    z_dim: int = knob(32, ge=1, le=MAX_UNITS, live=False, sizes=("generator",))
    gen_width: int = knob(32, ge=1, le=MAX_UNITS, live=False, unit="channels", sizes=("generator",))
    gen_lr: float = knob(1e-3, gt=0)
    gen_sigma: float = knob(0.3, gt=0)
    latent_steps: int = knob(0, ge=0, unit="steps")
    latent_step_size: float = knob(0.1, gt=0)
    lr_end: float = knob(1.0, gt=0, le=1)
    average: float = knob(0.0, ge=0, lt=1, live=False)


@register_method("coopnets")
class CoopNets(LearningMethod):
    """Descriptor EBM + generator trained cooperatively (MCMC teaching).

    Chains always start at the generator's proposals, whatever
    ``sampler.init`` says (``"generator"`` is its natural value).
    """

    learns_from_chains = True

    Options = CoopNetsOptions
    samples_are = "revised by Langevin"

    def build(self) -> None:
        o = self.opts
        self.net = build_model(self.cfg.model, self.spec.item_shape).to(self.device)
        self.gen = build_generator(o.z_dim, self.spec.item_shape, o.gen_width,
                                   batch_norm=False).to(self.device)
        self.opt = self.adam(self.net.parameters())
        self.gen_opt = self.adam(self.gen.parameters(), lr_knob="gen_lr", betas=GENERATOR_BETAS)
        self.averages = Averages({"energy": self.net, "generator": self.gen}, o.average)

    # --- LearningMethod ----------------------------------------------------
    def networks(self) -> dict[str, torch.nn.Module]:
        return {"energy": self.net, "generator": self.gen, **self.averages.networks()}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"energy": self.opt, "generator": self.gen_opt}

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return energy_of(self.net, self.cfg.sampler.reference_sigma)(x)

    def propose(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(z, g(z))`` for ``n`` fresh latents ``z ~ N(0, I)``."""
        z = torch.randn(n, self.opts.z_dim, device=self.device, generator=self.rng)
        return z, self.gen(z)

    def _infer_latent(self, z: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Langevin on ``|target − g(z)|²/2s² + |z|²/2`` from ``z`` (step 4)."""
        s2 = self.opts.gen_sigma ** 2
        gen = self.gen

        def latent_energy(zz: torch.Tensor) -> torch.Tensor:
            return (target - gen(zz)).flatten(1).pow(2).sum(1) / (2 * s2) + 0.5 * zz.pow(2).sum(1)

        lcfg = dataclasses.replace(self.cfg.sampler, n_steps=self.opts.latent_steps,
                                   step_size=self.opts.latent_step_size,
                                   noise_scale=1.0, grad_scale=1.0, clamp=False)
        with frozen(gen):
            z, _ = run_langevin(latent_energy, z, lcfg, generator=self.rng)
        return z

    def _decay_rates(self) -> None:
        """Cosine decay of both rates to ``lr_end`` × their start at ``train.iterations``."""
        for opt in (self.opt, self.gen_opt):
            self.decay_rate(opt, self.opts.lr_end)

    def train_step(self, batch: torch.Tensor, record_every: int) -> StepResult:
        cfg = self.cfg
        self._decay_rates()
        with torch.no_grad():
            z, proposals = self.propose(batch.shape[0])
        with frozen(self.net):
            revised, frames = run_langevin(
                self.energy, proposals, cfg.sampler, record_every=record_every,
                value_range=self.spec.value_range, generator=self.rng,
            )
        # Descriptor: maximum likelihood with the revised samples as synthesis.
        e_data = self.energy(batch)
        e_synth = self.energy(revised)
        loss = contrastive_loss(e_data, e_synth, cfg.train.energy_l2)
        net_norm = self.backward(loss, self.opt, [self.net])
        # Generator: MCMC teaching, regress g(z) on the revised samples.
        if self.opts.latent_steps > 0:
            z = self._infer_latent(z, revised)
        gen_loss = (revised - self.gen(z)).flatten(1).pow(2).sum(1).mean() / (2 * self.opts.gen_sigma**2)
        gen_norm = self.backward(gen_loss, self.gen_opt, [self.gen], clip=False)
        with torch.no_grad():
            e_prop = self.energy(proposals)
        metrics = {
            "loss": float(loss.detach()),
            "energy_data": float(e_data.detach().mean()),
            "energy_sample": float(e_synth.detach().mean()),
            "energy_proposal": float(e_prop.mean()),
            "gen_loss": float(gen_loss.detach()),
            "revision_mse": float((revised - proposals).pow(2).mean()),
            "grad_norm": net_norm,
            "gen_grad_norm": gen_norm,
        }
        return StepResult(metrics, revised, e_synth.detach(), frames,
                          extras={"generator proposals": proposals.detach()})

    def sample(
        self, n: int, n_steps: int | None = None, record_every: int = 0, n_record: int = 8
    ) -> Iterator[ChainFrame]:
        """The generator's proposals revised by Langevin on the EBM (both averaged
        when ``average`` > 0)."""
        net, gen = self.averages.of("energy"), self.averages.of("generator")
        with torch.no_grad():
            z = torch.randn(n, self.opts.z_dim, device=self.device, generator=self.rng)
            x0 = gen(z)
        energy = energy_of(net, self.cfg.sampler.reference_sigma)
        with frozen(net, gen):
            yield from langevin(
                energy, x0, self.cfg.sampler, n_steps=n_steps, record_every=record_every,
                n_record=n_record, value_range=self.spec.value_range, generator=self.rng,
            )
