"""Latent-belief EBM for trajectory prediction (Pang, Zhao, Zhu & Wu, CVPR 2021).

A pedestrian's future ``y`` (``T`` positions) given its observed past
``x`` is generated from a latent "belief" ``z`` whose prior is an EBM
conditioned on the past::

    c = h(x)                                             (past encoder)
    z ~ p_α(z | c) ∝ exp(f_α(z, c)) N(z; 0, σ₀² I)       (latent-belief prior)
    y = g_β(z, c) + ε,   ε ~ N(0, s² I)                  (future decoder)

Learning is maximum likelihood with two short-run Langevin samplers in
latent space, as for the image latent EBM (:mod:`ebm_engine.methods.latent_ebm`):

- prior:     ``z⁻ ~ p_α(z | c)``,     energy ``E_α(z|c) = −f_α(z, c) + |z|²/2σ₀²``;
- posterior: ``z⁺ ~ p(z | x, y)``,    energy ``E_α(z|c) + |y − g_β(z, c)|²/2s²``;

    ∇α L = mean ∇α f_α(z⁺, c) − mean ∇α f_α(z⁻, c),
    ∇β,h L = −mean ∇ |y − g_β(z⁺, h(x))|² / 2s².

(The paper infers ``z⁺`` with an amortised encoder and decodes sub-goals
first; here both samplers are Langevin, the decoder predicts the whole
future.) Prediction draws ``K`` latents from the prior for one past and
decodes them: ``ebm eval`` scores the best of 20 (ADE/FDE) against the
constant-velocity baseline (:mod:`ebm_engine.metrics.prediction`). With
``prior="gaussian"`` the prior is ``N(0, I)``: the same predictor without
the EBM, the baseline of the paper's ablation.

Items are futures ``(T, 2)``; the pasts are ``dataset.meta["observed"]``
(:mod:`ebm_engine.data.scenes`), taken row by row via :meth:`batch_drawn`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import torch

from ebm_engine.errors import ConfigError
from ebm_engine.methods._latent_prior import fixed_prior_metrics, prior_update
from ebm_engine.methods._persistent_posterior import PersistentPosterior
from ebm_engine.methods.base import GENERATOR_BETAS, LearningMethod, StepResult, register_method
from ebm_engine.metrics.prediction import BETTER, heldout_windows, prediction_metrics
from ebm_engine.models.trajectory_predictor import FutureDecoder, LatentPriorEnergy, PastEncoder
from ebm_engine.options import MAX_DRAWS, MAX_UNITS, knob
from ebm_engine.sampling import ChainFrame, frozen
from ebm_engine.sampling.langevin import langevin, run_langevin

#: Pasts (with their true futures) kept in the checkpoint, so ``ebm sample`` needs no data.
N_PROBE = 64


@dataclasses.dataclass(frozen=True)
class LBEBMOptions:
    """Knobs of the latent-belief trajectory predictor.

    Attributes
    ----------
    prior : str
        ``ebm``: the latent-belief prior ``p_α(z | c)``; ``gaussian``:
        ``N(0, I)`` (the baseline).
    observed : int
        Observed positions per item (``meta["observed"]`` must match).
    z_dim : int
        Latent size.
    feature_dim : int
        Size of the past's encoding ``c``.
    gen_width : int
        Hidden units of the decoder.
    gen_lr : float
        Adam learning rate of encoder and decoder (train.lr is the prior's).
    obs_sigma : float
        s: noise of ``y = g(z, c) + ε``, in units of the data's step scale.
    post_steps : int
        Posterior Langevin steps per iteration.
    post_step_size : float
        Step size δ of the posterior Langevin.
    post_persistent : bool
        Each training item keeps its posterior latent between visits and its
        chain continues from there (persistent chains, as in alternating
        back-propagation); off: every chain starts from ``N(0, I)``.
    prior_l2 : float
        Penalty ``prior_l2 · mean(f(z⁺)² + f(z⁻)²)`` that keeps ``f_α`` bounded.
    best_of : int
        Predictions per past that ``ebm eval`` chooses the best of (20 in the benchmarks).
    """

    prior: str = knob("ebm", choices=("ebm", "gaussian"), live=False)
    observed: int = knob(8, ge=2, live=False, unit="steps")
    z_dim: int = knob(16, ge=1, le=MAX_UNITS, live=False, sizes=("generator",))
    feature_dim: int = knob(64, ge=1, le=MAX_UNITS, live=False, sizes=("encoder", "generator"))
    gen_width: int = knob(256, ge=1, le=MAX_UNITS, live=False, unit="units", sizes=("generator",))
    gen_lr: float = knob(1e-3, gt=0)
    obs_sigma: float = knob(0.1, gt=0)
    post_steps: int = knob(20, ge=0, unit="steps")
    post_step_size: float = knob(0.05, gt=0)
    post_persistent: bool = knob(False, live=False)
    prior_l2: float = knob(0.01, ge=0)
    best_of: int = knob(20, ge=1, le=MAX_DRAWS)


@register_method("lbebm")
class LatentBeliefEBM(PersistentPosterior, LearningMethod):
    """Trajectory prediction with a latent-belief EBM prior (best of K futures)."""

    Options = LBEBMOptions
    kinds = ("trajectory",)
    better = BETTER

    @classmethod
    def check(cls, opts, cfg, spec) -> None:
        if spec is not None and len(spec.item_shape) != 2:
            raise ConfigError(f"method 'lbebm' predicts (T, 2) trajectories, got items of shape "
                              f"{spec.item_shape}")

    def build(self) -> None:
        o = self.opts
        self.predicted = self.spec.item_shape[0]
        self.encoder = PastEncoder(o.observed, o.feature_dim).to(self.device)
        self.prior = LatentPriorEnergy(o.z_dim, o.feature_dim, self.cfg.model.width,
                                       self.cfg.model.depth).to(self.device)
        self.decoder = FutureDecoder(o.z_dim, o.feature_dim, self.predicted,
                                     o.gen_width).to(self.device)
        self.opt = self.adam(self.prior.parameters())
        self.gen_opt = self.adam(list(self.encoder.parameters()) + list(self.decoder.parameters()),
                                 lr_knob="gen_lr", betas=GENERATOR_BETAS)
        self._past: torch.Tensor | None = None
        self.init_post_latents(o.post_persistent, o.z_dim)
        self.probe_past = torch.zeros(0, o.observed, 2, device=self.device)
        self.probe_future = torch.zeros(0, self.predicted, 2, device=self.device)
        self.obstacles = torch.zeros(0, 3)  # the scene's pillars, for views (cx, cy, r)
        if self.dataset is not None:
            self._take_data(self.dataset.meta)

    def _take_data(self, meta: dict) -> None:
        observed = meta.get("observed")
        if observed is None:
            raise ConfigError("method 'lbebm' needs the observed pasts (dataset meta 'observed'); "
                              "try --data crowd-prediction")
        past = torch.as_tensor(np.asarray(observed), dtype=torch.float32)
        if past.shape[1] != self.opts.observed:
            raise ConfigError(f"train.options.observed is {self.opts.observed} but the data "
                              f"observes {past.shape[1]} positions per item")
        future = self.dataset.items
        self.encoder.set_scales(past.to(self.device), future.to(self.device))
        # Held-out pasts when there are some: what `ebm sample` shows is then unseen.
        held = meta.get("heldout_observed")
        if held is not None and len(held):
            past, future = torch.as_tensor(held), torch.as_tensor(meta["heldout"])
        # Spread over the set: neighbouring windows are the same agent a few frames apart.
        spread = torch.from_numpy(np.unique(np.linspace(0, len(past) - 1, N_PROBE).astype(int)))
        self.probe_past = past[spread].float().to(self.device)
        self.probe_future = future[spread].float().to(self.device)
        scene = meta.get("scene")
        if scene is not None and len(scene.get("obstacles", ())):
            self.obstacles = torch.as_tensor(np.asarray(scene["obstacles"]), dtype=torch.float32)

    # --- energies --------------------------------------------------------------------
    @property
    def ebm_prior(self) -> bool:
        return self.opts.prior == "ebm"

    def prior_energy(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """``E(z|c) = −f_α(z, c) + |z|²/2σ₀²`` (``|z|²/2`` for the Gaussian prior)."""
        if not self.ebm_prior:
            return z.pow(2).sum(1) / 2
        sigma = self.cfg.sampler.reference_sigma
        ref = 0.0 if sigma == float("inf") else z.pow(2).sum(1) / (2 * sigma ** 2)
        return -self.prior(z, c) + ref

    def infer(self, c: torch.Tensor, target: torch.Tensor, z0: torch.Tensor | None = None
              ) -> torch.Tensor:
        """Posterior latents: short-run Langevin on ``E(z|c) + |y − g(z, c)|²/2s²``
        from ``z0`` (default ``z ~ N(0, I)``)."""
        pcfg = dataclasses.replace(self.cfg.sampler, n_steps=self.opts.post_steps,
                                   step_size=self.opts.post_step_size, noise_scale=1.0,
                                   grad_scale=1.0, clamp=False)
        s2 = self.opts.obs_sigma ** 2
        c, target = c.detach(), target.detach()

        def energy(z: torch.Tensor) -> torch.Tensor:
            return self.prior_energy(z, c) + (target - self.decoder(z, c)).pow(2).sum(1) / (2 * s2)

        if z0 is None:
            z0 = torch.randn(c.shape[0], self.opts.z_dim, device=self.device, generator=self.rng)
        with frozen(self.prior, self.decoder):
            z, _ = run_langevin(energy, z0, pcfg, generator=self.rng)
        return z

    def prior_chain(self, c: torch.Tensor, n_steps: int | None = None, record_every: int = 0,
                    n_record: int = 8) -> Iterator[ChainFrame]:
        """Latent frames of ``z ~ p_α(z | c)`` (one exact draw for the Gaussian prior)."""
        c = c.detach()
        z0 = torch.randn(c.shape[0], self.opts.z_dim, device=self.device, generator=self.rng)
        if not self.ebm_prior:
            yield ChainFrame(0, z0.cpu().numpy(), self.prior_energy(z0, c).cpu().numpy())
            return
        with frozen(self.prior):
            yield from langevin(lambda z: self.prior_energy(z, c), z0, self.cfg.sampler,
                                n_steps=n_steps, record_every=record_every, n_record=n_record,
                                generator=self.rng)

    def decode(self, z: torch.Tensor, past: torch.Tensor) -> torch.Tensor:
        """Future positions ``(B, T, 2)`` decoded from latents for pasts ``(B, T_obs, 2)``."""
        with torch.no_grad():
            c = self.encoder(past)
            return self.encoder.to_positions(past, self.decoder(z, c))

    def predict(self, past: torch.Tensor, k: int, n_steps: int | None = None) -> torch.Tensor:
        """``k`` predicted futures per past: ``(B, k, T, 2)``."""
        past = past.to(self.device).float()
        rep = past.repeat_interleave(k, 0)
        with torch.no_grad():
            c = self.encoder(rep)
        z = torch.from_numpy(list(self.prior_chain(c, n_steps))[-1].x).to(self.device)
        return self.decode(z, rep).view(past.shape[0], k, self.predicted, 2)

    # --- LearningMethod --------------------------------------------------------------
    def networks(self) -> dict[str, torch.nn.Module]:
        return {"encoder": self.encoder, "prior": self.prior, "generator": self.decoder}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"prior": self.opt, "generator": self.gen_opt}

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {**super().state_tensors(), "probe_past": self.probe_past.cpu(),
                "probe_future": self.probe_future.cpu(), "obstacles": self.obstacles.cpu()}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        super().load_state_tensors(tensors)
        if "probe_past" in tensors:
            self.probe_past = tensors["probe_past"].float().to(self.device)
            self.probe_future = tensors["probe_future"].float().to(self.device)
        if "obstacles" in tensors:
            self.obstacles = tensors["obstacles"].float()

    def batch_drawn(self, index: torch.Tensor) -> None:
        super().batch_drawn(index)  # rows of the persistent posterior latents
        observed = np.asarray(self.dataset.meta["observed"])[index.cpu().numpy()]
        self._past = torch.from_numpy(observed).float().to(self.device)

    def _pasts_for(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` pasts and their true futures: the probe set, repeated as needed."""
        if not len(self.probe_past):
            raise ConfigError("this lbebm model has no observed pasts to predict from")
        idx = torch.arange(n, device=self.device) % len(self.probe_past)
        return self.probe_past[idx], self.probe_future[idx]

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """``E(z|c) + |y − g(z, c)|²/2s²`` at a posterior latent, for futures ``x`` of
        the current batch's pasts (or of the probe pasts)."""
        past = self._past if self._past is not None and len(self._past) == len(x) \
            else self._pasts_for(len(x))[0]
        with torch.no_grad():
            c = self.encoder(past)
            target = self.encoder.to_target(past, x)
        z = self.infer(c, target)
        with torch.no_grad():
            rec = (target - self.decoder(z, c)).pow(2).sum(1) / (2 * self.opts.obs_sigma ** 2)
            return self.prior_energy(z, c) + rec

    def train_step(self, batch: torch.Tensor, record_every: int) -> StepResult:
        past = self._past if self._past is not None else self._pasts_for(len(batch))[0]
        c = self.encoder(past)
        target = self.encoder.to_target(past, batch)
        frames = list(self.prior_chain(c, record_every=record_every))
        z_neg = torch.from_numpy(frames[-1].x).to(self.device)
        start = self.post_start()
        if start is not None:
            z_pos = self.infer(c, target, start[1])
            self.post_stage(start[0], z_pos)
        else:
            z_pos = self.infer(c, target)
        metrics: dict[str, float] = {}
        cd = c.detach()
        if self.ebm_prior:
            f_pos, f_neg = self.prior(z_pos, cd), self.prior(z_neg, cd)
            e_pos, e_neg = self.prior_energy(z_pos, cd), self.prior_energy(z_neg, cd)
            metrics.update(prior_update(self, f_pos, f_neg, e_pos, e_neg))
        else:
            with torch.no_grad():
                e_pos, e_neg = self.prior_energy(z_pos, cd), self.prior_energy(z_neg, cd)
            metrics.update(fixed_prior_metrics(e_pos, e_neg))
        # Encoder and decoder: maximise log p(y | z⁺, c).
        rec = (target - self.decoder(z_pos, c)).pow(2).sum(1)
        gen_loss = rec.mean() / (2 * self.opts.obs_sigma ** 2)
        gen_norm = self.backward(gen_loss, self.gen_opt, [self.encoder, self.decoder], clip=False)
        samples = self.decode(z_neg, past)
        ade = (samples - batch).norm(dim=-1).mean(1)
        metrics.update(gen_loss=float(gen_loss.detach()), gen_grad_norm=gen_norm,
                       ade_sample=float(ade.mean()))
        extras = {k: torch.from_numpy(v) for k, v in self.display(past, batch).items()}
        chain = [self._to_data_frame(f, past) for f in frames[:-1]] if record_every else []
        return StepResult(metrics, samples, e_neg.detach(), chain, extras=extras)

    def _to_data_frame(self, frame: ChainFrame, past: torch.Tensor) -> ChainFrame:
        z = torch.from_numpy(frame.x).to(self.device)
        p = past[: z.shape[0]]
        return ChainFrame(frame.step, self.decode(z, p).cpu().numpy(), frame.energy,
                          {"observed": p.cpu().numpy()})

    def sample(self, n: int, n_steps: int | None = None, record_every: int = 0,
               n_record: int = 8) -> Iterator[ChainFrame]:
        """Predicted futures of the probe pasts (held-out agents), one per sample; recorded
        frames decode the prior chain's latents along the way."""
        past, future = self._pasts_for(n)
        with torch.no_grad():
            c = self.encoder(past)
        last = None
        for frame in self.prior_chain(c, n_steps, record_every, n_record):
            if last is not None:
                yield self._to_data_frame(last, past)
            last = frame
        z = torch.from_numpy(last.x).to(self.device)
        yield ChainFrame(last.step, self.decode(z, past).cpu().numpy(), last.energy,
                         self.display(past, future))

    def display(self, past: torch.Tensor, future: torch.Tensor) -> dict[str, np.ndarray]:
        """What trajectory views draw with predicted futures (:func:`prediction_display`)."""
        return prediction_display(past.detach().cpu().numpy(), future.detach().cpu().numpy(),
                                  self.obstacles.numpy())

    def evaluate(self, dataset, n: int, seed: int = 0) -> dict[str, float]:
        """Best-of-``best_of`` ADE/FDE on ``n`` held-out windows spread over the
        held-out agents (all of them when ``n`` is larger), with the
        constant-velocity baseline on the same windows
        (:func:`~ebm_engine.metrics.prediction.heldout_windows`)."""
        past, truth = heldout_windows(dataset, n)
        self.rng.manual_seed(seed)
        preds = [self.predict(torch.from_numpy(past[s:s + 128]).float(), self.opts.best_of)
                 .cpu().numpy() for s in range(0, len(past), 128)]
        return {**prediction_metrics(np.concatenate(preds), past, truth),
                "scored": float(len(past))}  # the held-out windows there are, up to n


def prediction_display(past: np.ndarray, future: np.ndarray, obstacles: np.ndarray
                       ) -> dict[str, np.ndarray]:
    """Snapshot arrays of predicted futures (:mod:`ebm_engine.data.scenes`): the
    ``observed`` pasts; the ``reference``, the whole true path (past and future,
    drawn dashed); ``scenes`` rows with start = first observed position, goal =
    the true final position, and the scene's pillars ``(K, 3)`` when known."""
    pillars = np.repeat(obstacles.reshape(1, -1), len(past), 0)
    scenes = np.concatenate([past[:, 0], future[:, -1], pillars], 1).astype(np.float32)
    return {"observed": past, "reference": np.concatenate([past, future], 1), "scenes": scenes}
