"""Divergence triangle (Han et al., CVPR 2019): generator, encoder and EBM together.

Three joint densities over ``(x, z)``: the data with the encoder
``Q = q_data(x) q_φ(z|x)``, the generator ``P = p(z) p_α(x|z)`` (``p(z) =
N(0, I)``, ``p_α(x|z) = N(g_α(z), s²I)``) and the EBM with the encoder
``Π = π_θ(x) q_φ(z|x)``. The triangle objective

    min_{α,φ} max_θ  Δ = KL(Q‖P) + KL(P‖Π) − KL(Q‖Π)

splits into

- ``KL(Q‖P)``: the VAE loss, reconstruction ``|x − g_α(z)|²/2s²`` with
  ``z ~ q_φ(z|x)`` plus ``KL(q_φ(z|x) ‖ N(0, I))`` (α and φ);
- ``KL(P‖Π)``: ``E_P[E_θ(x) − log q_φ(z|x)]`` up to constants: the generator
  moves towards low energy and the encoder learns to invert the generator
  on its own samples (sleep phase) (α and φ; ``ebm_weight`` scales it);
- ``−KL(Q‖Π) + KL(P‖Π)`` in θ: ``∇θ = E_data[∇θ E_θ] − E_P[∇θ E_θ]``, maximum
  likelihood with the generator's samples as the negatives — no MCMC.

``refine_steps > 0`` refines the generator's samples by Langevin on ``E_θ``
(``sampler.*``) before the EBM update and when sampling (then CoopNets-like);
``sampler.init`` is not used. Snapshots carry ``"reconstructions"`` of the
data batch (and ``"generator samples"`` when refining). With ``average`` > 0,
:meth:`sample` draws from moving averages of the generator and the EBM: the
trained generator swings with the EBM it chases (digits FD 62 at one
checkpoint, 24.5 at the next), the average does not.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator

import torch

from ebm_engine.methods._average import Averages
from ebm_engine.methods.base import (
    GENERATOR_BETAS,
    LearningMethod,
    StepResult,
    contrastive_loss,
    register_method,
    to_numpy,
)
from ebm_engine.models import build_model
from ebm_engine.models.encoder import build_encoder
from ebm_engine.models.generator import build_generator
from ebm_engine.options import MAX_UNITS, knob
from ebm_engine.sampling import ChainFrame, energy_of, frozen
from ebm_engine.sampling.langevin import langevin, run_langevin


def gaussian_nll(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``−log N(z; μ, diag exp(logvar))`` per item."""
    return 0.5 * ((z - mu).pow(2) * torch.exp(-logvar) + logvar + math.log(2 * math.pi)).sum(1)


@dataclasses.dataclass(frozen=True)
class DivergenceTriangleOptions:
    """Knobs of the divergence triangle.

    Attributes
    ----------
    z_dim : int
        Latent size of the generator and the encoder.
    gen_width : int
        Base width of the generator and the encoder (channels / hidden units).
    recon_sigma : float
        s: the generator's observation noise, p(x|z) = N(g(z), s²I).
    ebm_weight : float
        Weight of KL(P‖Π) in the generator/encoder loss.
    gen_lr_scale : float
        Generator and encoder learning rate = train.lr × this.
    refine_steps : int
        Langevin steps on the EBM's energy after the generator (0 = the pure triangle).
    data_noise : float
        Std of fresh Gaussian jitter on the data the EBM sees (0 = off): keeps the
        refining chains from finding checkerboard textures the EBM rates above digits.
    average : float
        Sample from moving averages of the generator's and the EBM's weights with
        this decay (0 = sample from the trained networks; see :mod:`._average`).
    """

    z_dim: int = knob(32, ge=1, le=MAX_UNITS, live=False, sizes=("generator", "encoder"))
    gen_width: int = knob(32, ge=1, le=MAX_UNITS, live=False, unit="channels",
                          sizes=("generator", "encoder"))
    recon_sigma: float = knob(0.3, ge=1e-6)
    ebm_weight: float = knob(1.0, ge=0)
    gen_lr_scale: float = knob(2.0, ge=0)
    refine_steps: int = knob(0, ge=0, unit="steps", sampling=True)
    data_noise: float = knob(0.0, ge=0, unit="in data units")
    average: float = knob(0.0, ge=0, lt=1, live=False)


@register_method("divergence_triangle")
class DivergenceTriangle(LearningMethod):
    """EBM, generator and encoder trained together by the divergence triangle (no MCMC needed)."""

    Options = DivergenceTriangleOptions
    samples_are = "generated"

    def build(self) -> None:
        o, shape = self.opts, self.spec.item_shape
        self.net = build_model(self.cfg.model, shape).to(self.device)
        self.generator = build_generator(o.z_dim, shape, o.gen_width).to(self.device)
        self.encoder = build_encoder(o.z_dim, shape, o.gen_width).to(self.device)
        self.opt = self.adam(self.net.parameters())
        self.gen_opt = self.adam(self.generator.parameters(), lr_scale_knob="gen_lr_scale",
                                 betas=GENERATOR_BETAS)
        self.enc_opt = self.adam(self.encoder.parameters(), lr_scale_knob="gen_lr_scale",
                                 betas=GENERATOR_BETAS)
        self.averages = Averages({"generator": self.generator, "energy": self.net}, o.average)

    # --- LearningMethod ----------------------------------------------------
    def networks(self) -> dict[str, torch.nn.Module]:
        return {"energy": self.net, "generator": self.generator, "encoder": self.encoder,
                **self.averages.networks()}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"energy": self.opt, "generator": self.gen_opt, "encoder": self.enc_opt}

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return energy_of(self.net, self.cfg.sampler.reference_sigma)(x)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """``g_α(μ_φ(x))``: the mean reconstruction of ``x`` through the encoder."""
        mu, _ = self.encoder(x)
        return self.generator(mu)

    def train_step(self, batch: torch.Tensor, record_every: int) -> StepResult:
        cfg, o = self.cfg, self.opts
        n = batch.shape[0]
        # KL(Q‖P): the VAE term (reparameterised z ~ q_φ(z|x)).
        mu, logvar = self.encoder(batch)
        eps = torch.randn(mu.shape, device=self.device, generator=self.rng)
        x_rec = self.generator(mu + torch.exp(0.5 * logvar) * eps)
        recon = (batch - x_rec).pow(2).flatten(1).sum(1) / (2 * o.recon_sigma**2)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)
        # KL(P‖Π) for α, φ: generated x should have low energy and be inferable.
        z_prior = torch.randn(n, o.z_dim, device=self.device, generator=self.rng)
        x_gen = self.generator(z_prior)
        mu_g, logvar_g = self.encoder(x_gen)
        sleep = gaussian_nll(z_prior, mu_g, logvar_g)
        with frozen(self.net):
            e_gen = self.energy(x_gen)
        gen_loss = (recon + kl).mean() + o.ebm_weight * (e_gen.mean() + sleep.mean())

        # θ: data energy down, generated (optionally refined) energy up.
        synth, frames = x_gen.detach(), []
        extras = {"reconstructions": self._mean_reconstruction(batch)}
        if o.refine_steps > 0:
            extras["generator samples"] = synth
            with frozen(self.net):
                synth, frames = run_langevin(
                    self.energy, synth, cfg.sampler, n_steps=o.refine_steps,
                    record_every=record_every, value_range=self.spec.value_range, generator=self.rng,
                )
        e_data, e_synth = self.energy(self.dequantised(batch, o.data_noise)), self.energy(synth)
        ebm_loss = contrastive_loss(e_data, e_synth, cfg.train.energy_l2)

        # The two losses touch disjoint parameters (θ; α and φ): one backward each.
        ebm_norm = self.backward(ebm_loss, self.opt, [self.net])
        self.enc_opt.zero_grad(set_to_none=True)
        self.backward(gen_loss, self.gen_opt, [self.generator, self.encoder])
        metrics = {
            "loss": float(ebm_loss.detach()),
            "energy_data": float(e_data.detach().mean()),
            "energy_sample": float(e_synth.detach().mean()),
            "grad_norm": ebm_norm,
            "recon_error": float((batch - extras["reconstructions"]).pow(2).mean()),
            "kl": float(kl.detach().mean()),
            "sleep_nll": float(sleep.detach().mean()),
            "gen_loss": float(gen_loss.detach()),
        }
        return StepResult(metrics, synth, e_synth.detach(), frames, extras)

    def _mean_reconstruction(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.reconstruct(x)

    def sample(self, n: int, n_steps: int | None = None, record_every: int = 0,
               n_record: int = 8) -> Iterator[ChainFrame]:
        """``g_α(z)``, ``z ~ N(0, I)``, then ``refine_steps`` Langevin steps on ``E_θ``
        (``n_steps`` is ignored: the generator is the sampler); both averaged
        when ``average`` > 0."""
        net = self.averages.of("energy")
        energy = energy_of(net, self.cfg.sampler.reference_sigma)
        with torch.no_grad():
            z = torch.randn(n, self.opts.z_dim, device=self.device, generator=self.rng)
            x = self.averages.of("generator")(z)
        if self.opts.refine_steps == 0:
            with torch.no_grad():
                yield ChainFrame(0, to_numpy(x), to_numpy(energy(x)))
            return
        with frozen(net):
            yield from langevin(energy, x, self.cfg.sampler, n_steps=self.opts.refine_steps,
                                record_every=record_every, n_record=n_record,
                                value_range=self.spec.value_range, generator=self.rng)
