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
data batch (and ``"generator samples"`` when refining).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from ebm_engine.config import RunConfig
from ebm_engine.data.dataset import Dataset
from ebm_engine.learning._knobs import knob_float, knob_int
from ebm_engine.methods.base import (
    DataSpec,
    LearningMethod,
    StepResult,
    contrastive_loss,
    grad_norm,
    register_method,
    to_numpy,
)
from ebm_engine.models import build_model
from ebm_engine.models.encoder import build_encoder
from ebm_engine.models.generator import build_generator
from ebm_engine.sampling import ChainFrame, energy_of, frozen
from ebm_engine.sampling.langevin import langevin, run_langevin


def gaussian_nll(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``−log N(z; μ, diag exp(logvar))`` per item."""
    return 0.5 * ((z - mu).pow(2) * torch.exp(-logvar) + logvar + math.log(2 * math.pi)).sum(1)


@register_method("divergence_triangle")
class DivergenceTriangle(LearningMethod):
    """EBM ``π_θ``, generator ``g_α`` and encoder ``q_φ`` trained by the triangle objective."""

    option_defaults = {
        "z_dim": 32,             # latent size of generator and encoder
        "gen_width": 32,         # base width of generator and encoder
        "recon_sigma": 0.3,      # s: the generator's observation noise
        "ebm_weight": 1.0,       # weight of KL(P‖Π) in the generator/encoder loss
        "gen_lr_scale": 2.0,     # generator/encoder learning rate = train.lr × this
        "refine_steps": 0,       # Langevin steps on E_θ after the generator (0 = pure triangle)
    }

    def __init__(self, cfg: RunConfig, spec: DataSpec, dataset: Dataset | None,
                 device: torch.device, rng: torch.Generator):
        super().__init__(cfg, spec, dataset, device, rng)
        self.z_dim = knob_int(self, "z_dim", 1)
        width = knob_int(self, "gen_width", 1)
        self.net = build_model(cfg.model, spec.item_shape).to(device)
        self.generator = build_generator(self.z_dim, spec.item_shape, width).to(device)
        self.encoder = build_encoder(self.z_dim, spec.item_shape, width).to(device)
        self.check_options()
        t = cfg.train
        self.opt = self.adam(self.net.parameters())
        scale = knob_float(self, "gen_lr_scale", 0.0)
        self.gen_opt = torch.optim.Adam([{"params": list(self.generator.parameters()), "lr_scale_knob": "gen_lr_scale"}],
                                        lr=t.lr * scale, betas=(0.5, 0.999))
        self.enc_opt = torch.optim.Adam([{"params": list(self.encoder.parameters()), "lr_scale_knob": "gen_lr_scale"}],
                                        lr=t.lr * scale, betas=(0.5, 0.999))

    def check_options(self) -> None:
        self.recon_sigma = knob_float(self, "recon_sigma", 1e-6)
        self.ebm_weight = knob_float(self, "ebm_weight", 0.0)
        self.refine_steps = knob_int(self, "refine_steps", 0)

    # --- LearningMethod ----------------------------------------------------
    def networks(self) -> dict[str, torch.nn.Module]:
        return {"energy": self.net, "generator": self.generator, "encoder": self.encoder}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"energy": self.opt, "generator": self.gen_opt, "encoder": self.enc_opt}

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return energy_of(self.net, self.cfg.sampler.reference_sigma)(x)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """``g_α(μ_φ(x))``: the mean reconstruction of ``x`` through the encoder."""
        mu, _ = self.encoder(x)
        return self.generator(mu)

    def train_step(self, batch: torch.Tensor, record_every: int) -> StepResult:
        cfg = self.cfg
        n = batch.shape[0]
        # KL(Q‖P): the VAE term (reparameterised z ~ q_φ(z|x)).
        mu, logvar = self.encoder(batch)
        eps = torch.randn(mu.shape, device=self.device, generator=self.rng)
        x_rec = self.generator(mu + torch.exp(0.5 * logvar) * eps)
        recon = (batch - x_rec).pow(2).flatten(1).sum(1) / (2 * self.recon_sigma**2)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)
        # KL(P‖Π) for α, φ: generated x should have low energy and be inferable.
        z_prior = torch.randn(n, self.z_dim, device=self.device, generator=self.rng)
        x_gen = self.generator(z_prior)
        mu_g, logvar_g = self.encoder(x_gen)
        sleep = gaussian_nll(z_prior, mu_g, logvar_g)
        with frozen(self.net):
            e_gen = self.energy(x_gen)
        gen_loss = (recon + kl).mean() + self.ebm_weight * (e_gen.mean() + sleep.mean())

        # θ: data energy down, generated (optionally refined) energy up.
        synth, frames = x_gen.detach(), []
        extras = {"reconstructions": self._mean_reconstruction(batch)}
        if self.refine_steps > 0:
            extras["generator samples"] = synth
            with frozen(self.net):
                synth, frames = run_langevin(self.energy, synth, cfg.sampler, n_steps=self.refine_steps,
                                             record_every=record_every, value_range=self.spec.value_range,
                                             generator=self.rng)
        e_data, e_synth = self.energy(batch), self.energy(synth)
        ebm_loss = contrastive_loss(e_data, e_synth, cfg.train.energy_l2)

        for opt in self.optimizers().values():
            opt.zero_grad(set_to_none=True)
        (gen_loss + ebm_loss).backward()  # the two losses touch disjoint parameters
        if cfg.train.grad_clip > 0:
            for module in self.networks().values():
                torch.nn.utils.clip_grad_norm_(module.parameters(), cfg.train.grad_clip)
        metrics = {
            "loss": float(ebm_loss.detach()),
            "energy_data": float(e_data.detach().mean()),
            "energy_sample": float(e_synth.detach().mean()),
            "grad_norm": grad_norm([self.net]),
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
        (``n_steps`` is ignored: the generator is the sampler)."""
        with torch.no_grad():
            z = torch.randn(n, self.z_dim, device=self.device, generator=self.rng)
            x = self.generator(z)
        if self.refine_steps == 0:
            with torch.no_grad():
                energy = self.energy(x)
            yield ChainFrame(0, to_numpy(x), to_numpy(energy))
            return
        with frozen(self.net):
            yield from langevin(self.energy, x, self.cfg.sampler, n_steps=self.refine_steps,
                                record_every=record_every, n_record=n_record,
                                value_range=self.spec.value_range, generator=self.rng)
