"""Diffusion recovery likelihood (Gao, Song, Poole, Wu & Kingma, ICLR 2021).

Noise the data in ``T`` steps, ``x_{t+1} = a_{t+1} x_t + σ_{t+1} ε`` with
``a = √(1 − σ²)``, and learn one conditional EBM per step. In the scaled
variable ``y_t = a_{t+1} x_t`` the recovery model is

    p_θ(y_t | x_{t+1}) ∝ exp( f_θ(y_t, t) − ‖x_{t+1} − y_t‖² / (2σ²_{t+1}) ),

with ``f_θ(y, t) = f̃_θ(y, t) / δ_t²`` (``δ_t``, the Langevin step at level
``t``: ``step_scale · σ_{t+1}``, grown at the noisier levels by ``step_ref``,
below) and one time-conditioned ConvNet ``f̃_θ`` for
all levels. Because the Gaussian term pins ``y_t`` near ``x_{t+1}``, the
conditional is nearly unimodal and short Langevin runs started at ``x_{t+1}``
mix. The recovery-likelihood gradient is

    ∇θ L = E_data[∇θ f_θ(y_t, t)] − E_{p_θ(y_t | x_{t+1})}[∇θ f_θ(y_t, t)],

estimated per item at a random level ``t``; we minimise
``mean(−f̃(y_t)) − mean(−f̃(ỹ_t))`` (levels weighted by ``δ_t²``) plus
``energy_l2``. With the step ``δ_t`` the Langevin drift is ``∇f̃/2 +
(δ_t²/2σ²_{t+1})(x_{t+1} − y)`` at every level: the net learns a denoising
step of the same size everywhere (the paper's ``b = step_scale²``). The
paper's code grows the step with the noise already in the target level,
``δ_t² = c_t² b σ²_{t+1}`` with ``c_t² = s_t / s_0`` (``s_t = √(1 − ᾱ_t)``; its
cleanest level has ``s_0 = 0.01``, ours is the data itself), so that the
chains at the noisy levels, where the conditional is wide, sample it rather
than only descend towards its mode (which, averaged over ``x_{t+1}``, blurs
the strokes): ``step_ref`` plays ``s_0``, ``c_t² = max(1, s_t / step_ref)``. With
``level_weight = "inverse_sigma"`` level ``t``'s term is weighted by
``σ_1/σ_{t+1}``, as the paper's code does: the low-noise levels, which make
the final sample sharp, count most. Sampling walks down the schedule from
``x_T`` drawn from a Gaussian fit of ``q(x_T)``: ``√ᾱ_T (m + B ε_k + s ⊙ ε')
+ √(1 − ᾱ_T) ε``, with ``m`` the training images' per-pixel mean, ``B`` their
``start_components`` leading principal directions (each scaled by its
standard deviation) and ``s`` the per-pixel spread those leave, saved with
the checkpoint (``N(0, I)`` only when ``ᾱ_T ≈ 0``). The top level then
starts where it was trained: not at a pure-noise image whose background is
brighter by ``√ᾱ_T``, and with the faint strokes' correlations that the
top levels, trained on noised data, lean on (a per-pixel fit alone starts
them from independent pixels). Then ``x_t = ỹ_t / a_{t+1}`` with ``ỹ_t`` drawn from the
recovery model given ``x_{t+1}``.

``sample(n_steps=…)`` sets the Langevin steps per level;
``sampler.step_size``/``reference_sigma``/``init`` are not used.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import torch

from ebm_engine.config import RunConfig
from ebm_engine.errors import ConfigError
from ebm_engine.methods._average import Averages
from ebm_engine.methods._pyramid import leaky_slope, square_image_size
from ebm_engine.methods.base import DataSpec, LearningMethod, StepResult, register_method
from ebm_engine.models.timeconvnet import TimeConditionedConvNet
from ebm_engine.options import knob
from ebm_engine.sampling import ChainFrame, frozen

SCHEDULES = ("linear", "geometric")
LEVEL_WEIGHTS = ("equal", "inverse_sigma")
FIT_ITEMS = 4096  # most training items the start's Gaussian fit uses


def noise_schedule(levels: int, schedule: str | list[float], sigma_min: float,
                   sigma_max: float) -> list[float]:
    """The ``T`` noise scales ``σ_1 … σ_T`` (increasing, each in (0, 1)).

    ``schedule`` is ``linear``, ``geometric`` or an explicit list of ``T`` numbers.
    """
    if isinstance(schedule, list):
        sig = schedule
        if len(sig) != levels or not all(isinstance(s, (int, float)) and not isinstance(s, bool)
                                         for s in sig):
            raise ConfigError(f"train.options.schedule must be a list of T={levels} numbers, got {schedule!r}")
        sig = [float(s) for s in sig]
    elif schedule in SCHEDULES:
        if not 0 < sigma_min <= sigma_max < 1:
            raise ConfigError(f"train.options.sigma_min/sigma_max must satisfy 0 < min <= max < 1, "
                              f"got {sigma_min}, {sigma_max}")
        if levels == 1:
            sig = [sigma_max]
        elif schedule == "linear":
            sig = list(np.linspace(sigma_min, sigma_max, levels))
        else:
            sig = list(np.geomspace(sigma_min, sigma_max, levels))
    else:
        raise ConfigError(f"train.options.schedule must be one of {SCHEDULES} or a list, got {schedule!r}")
    if not all(0 < s < 1 for s in sig):
        raise ConfigError(f"train.options.schedule: every sigma must be in (0, 1), got {sig}")
    # the convention the levels, their steps and the start's fit are written for: σ_T
    # the noisiest (the maths would take any order; a reversed list is a typo)
    if any(b < a for a, b in zip(sig, sig[1:])):
        raise ConfigError(f"train.options.schedule must not decrease (σ_1 … σ_T, the noisiest "
                          f"last), got {sig}")
    return [float(s) for s in sig]


@dataclasses.dataclass(frozen=True)
class RecoveryOptions:
    """Knobs of diffusion recovery likelihood.

    Attributes
    ----------
    T : int
        Noise levels, one conditional EBM each (all share one network).
    schedule : str or list of float
        Noise scales σ_1 … σ_T: "linear" or "geometric" from sigma_min to
        sigma_max, or an explicit list of T numbers in (0, 1).
    sigma_min : float
        Smallest noise scale of a named schedule.
    sigma_max : float
        Largest noise scale of a named schedule.
    steps_per_level : int
        Langevin steps on each level's recovery model (0 = sampler.n_steps).
    step_scale : float
        Langevin step at level t as a fraction of its noise scale
        (δ_t = step_scale · σ_{t+1}).
    level_weight : str
        Weight of level t in the loss: "equal", or "inverse_sigma" (σ_1/σ_{t+1},
        the paper's code: the low-noise levels count most).
    average : float
        Sample (and preview) with a moving average of the network's weights with
        this decay (0 = the trained network; the paper's code averages too; see
        :mod:`._average`).
    step_ref : float
        Grow the Langevin step at the noisier levels as the paper's code does:
        ``δ_t = step_scale · σ_{t+1} · max(1, s_t / step_ref)^½`` with
        ``s_t = √(1 − ᾱ_t)`` the noise already in ``x_t`` (the paper's code: 0.01).
        0 = the same fraction of σ at every level.
    level_scales : bool
        Each level also scales the network's channels (FiLM), not only shifts
        them (:class:`~ebm_engine.models.timeconvnet.TimeConditionedConvNet`).
    start_components : int
        Principal components of the training images in the Gaussian fit of
        ``q(x_T)`` that sampling starts from (plus a per-pixel residual);
        0 = per-pixel mean and standard deviation only.
    """

    T: int = knob(6, ge=1, le=1000, live=False, unit="levels")
    schedule: str | list[float] = knob("linear", sampling=True)
    sigma_min: float = knob(0.1, gt=0, lt=1, sampling=True)
    sigma_max: float = knob(0.9, gt=0, lt=1, sampling=True)
    steps_per_level: int = knob(0, ge=0, unit="steps", sampling=True)
    step_scale: float = knob(0.02, gt=0, le=1, sampling=True)
    level_weight: str = knob("equal", choices=LEVEL_WEIGHTS)
    average: float = knob(0.0, ge=0, lt=1, live=False)
    step_ref: float = knob(0.0, ge=0, lt=1, sampling=True)
    level_scales: bool = knob(False, live=False)
    start_components: int = knob(16, ge=0, le=256, live=False, unit="components")


@register_method("recovery")
class RecoveryLikelihood(LearningMethod):
    """Diffusion recovery likelihood: T conditional EBMs p(x_t | x_t+1) sharing one network."""

    learns_from_chains = True

    Options = RecoveryOptions
    model_options = ("leaky_slope",)
    step_advice = "train.options.step_scale (or raise train.options.step_ref)"

    @classmethod
    def check(cls, opts: RecoveryOptions, cfg: RunConfig, spec: DataSpec | None) -> None:
        noise_schedule(opts.T, opts.schedule, opts.sigma_min, opts.sigma_max)
        if spec is not None:
            square_image_size(spec.kind, spec.item_shape, cls.name)

    def build(self) -> None:
        channels, side = square_image_size(self.spec.kind, self.spec.item_shape, self.name)
        self.levels = self.opts.T
        self.reconfigured()
        m = self.cfg.model
        self.net = TimeConditionedConvNet(channels, side, self.levels, m.width, m.depth,
                                          m.spectral_norm, leaky_slope(m),
                                          self.opts.level_scales).to(self.device)
        self.opt = self.adam(self.net.parameters())
        self.averages = Averages({"energy": self.net}, self.opts.average)
        self.applied = 0  # updates taken: decides preview iterations, checkpointed
        # The Gaussian fit of the training images that sampling starts from (mean,
        # scaled principal directions, residual std; zeros and ones give N(0, I)).
        self.data_mean = torch.zeros(self.spec.item_shape, device=self.device)
        self.data_std = torch.ones(self.spec.item_shape, device=self.device)
        self.data_basis = torch.zeros((0, *self.spec.item_shape), device=self.device)
        if self.dataset is not None:
            fit = gaussian_fit(self.dataset.evenly_spaced(FIT_ITEMS), self.opts.start_components)
            self.data_mean, self.data_basis, self.data_std = (v.to(self.device) for v in fit)

    def _sigmas(self) -> torch.Tensor:
        o = self.opts
        return torch.tensor(noise_schedule(o.T, o.schedule, o.sigma_min, o.sigma_max),
                            device=self.device)

    def reconfigured(self) -> None:
        # the schedule and step knobs are live; the per-level steps are set once here,
        # not at every Langevin step
        self.sigmas = self._sigmas()
        self.deltas = self.opts.step_scale * self.sigmas
        if self.opts.step_ref > 0:
            noise = (1 - self.alpha_bar()[:-1]).sqrt()  # s_t of levels 0 … T−1; 0 at the data
            self.deltas = self.deltas * (noise / self.opts.step_ref).clamp_min(1).sqrt()

    # --- the conditional model ---------------------------------------------------
    def step(self, t: torch.Tensor) -> torch.Tensor:
        """The Langevin step ``δ_t`` at levels ``t`` (same shape as ``t``)."""
        return self.deltas[t]

    def conditional_energy(self, y: torch.Tensor, x_next: torch.Tensor, t: torch.Tensor,
                           net: torch.nn.Module | None = None) -> torch.Tensor:
        """``E(y | x_{t+1}) = −f̃(y, t)/δ_t² + ‖x_{t+1} − y‖²/(2σ²_{t+1})``, shape ``(B,)``
        (``f̃`` is ``net``, by default the trained network)."""
        f = (self.net if net is None else net)(y, t)
        return -f / self.step(t) ** 2 + 0.5 * (x_next - y).flatten(1).pow(2).sum(1) / self.sigmas[t] ** 2

    def recover(self, x_next: torch.Tensor, t: torch.Tensor, generator: torch.Generator | None,
                n_steps: int | None = None, record_every: int = 0, net: torch.nn.Module | None = None,
                ) -> Iterator[tuple[int, torch.Tensor, torch.Tensor | None]]:
        """Langevin on ``p(y_t | x_{t+1})`` (under ``net``, by default the trained network)
        from ``y = x_{t+1}``; yields ``(step, y, energy)`` at recorded steps and
        ``(n_steps, y, None)`` at the end."""
        steps = self.sample_steps if n_steps is None else n_steps
        delta = self.step(t).view(-1, *[1] * (x_next.dim() - 1))
        y = x_next.detach().clone()
        for step in range(steps):
            with torch.enable_grad():
                yg = y.detach().requires_grad_(True)
                energy = self.conditional_energy(yg, x_next, t, net)
                (grad,) = torch.autograd.grad(energy.sum(), yg)
            if record_every and step % record_every == 0:
                yield step, y, energy.detach()
            noise = torch.randn(y.shape, device=y.device, generator=generator)
            y = y - 0.5 * delta**2 * grad + delta * noise
        yield steps, y, None

    @property
    def sample_steps(self) -> int:
        """Langevin steps on each level."""
        return self.opts.steps_per_level or self.cfg.sampler.n_steps

    def _scale(self, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """``a_{t+1} = √(1 − σ²_{t+1})`` shaped to broadcast over ``like``."""
        return (1 - self.sigmas[t] ** 2).sqrt().view(-1, *[1] * (like.dim() - 1))

    def alpha_bar(self) -> torch.Tensor:
        """``ᾱ_t = Π_{s≤t} a_s²`` for ``t = 0 … T`` (``ᾱ_0 = 1``: the data)."""
        return torch.cat([torch.ones(1, device=self.device), torch.cumprod(1 - self.sigmas**2, 0)])

    def start(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        """``n`` draws of ``x_T`` from the Gaussian fit of ``q(x_T)``:
        ``√ᾱ_T (m + B ε_k + s ⊙ ε') + √(1 − ᾱ_T) ε`` (data mean ``m``, scaled
        principal directions ``B``, residual per-pixel std ``s``)."""
        shape = (n, *self.spec.item_shape)
        ab = self.alpha_bar()[-1]
        signal = self.data_mean + self.data_std * torch.randn(shape, device=self.device,
                                                              generator=generator)
        k = self.data_basis.shape[0]
        if k:
            weights = torch.randn(n, k, device=self.device, generator=generator)
            signal = signal + (weights @ self.data_basis.flatten(1)).view(shape)
        noise = torch.randn(shape, device=self.device, generator=generator)
        return ab.sqrt() * signal + (1 - ab).sqrt() * noise

    def _walk(self, n: int, steps: int, generator: torch.Generator | None, record_every: int,
              n_record: int, levels: dict[str, torch.Tensor] | None = None) -> Iterator[ChainFrame]:
        """Noise → data down the schedule, ``steps`` Langevin steps per level, under
        the network sampling uses (the average when ``average`` > 0); the last
        frame holds all ``n`` samples.

        A recorded frame's energy is its level's conditional energy times
        ``δ_t²/δ_0²``: in the units of the cleanest level and of :meth:`energy`,
        so that the chain plot reads on one axis (unscaled, the ``1/δ_t²`` of
        the last levels, hundreds of times the first's, fills it)."""
        net = self.averages.of("energy")
        x = self.start(n, generator)
        offset = 0
        for level in range(self.levels - 1, -1, -1):
            if levels is not None:
                levels[f"noise level {level + 1}"] = x
            t = torch.full((n,), level, device=self.device, dtype=torch.long)
            a = self._scale(t, x)
            units = float(self.deltas[level] / self.deltas[0]) ** 2
            for step, y, energy in self.recover(x, t, generator, steps, record_every, net):
                if step < steps:
                    yield _frame(offset + step, y[:n_record] / a[:n_record],
                                 units * energy[:n_record])
            x = y / a
            offset += steps
        if self.cfg.sampler.clamp and self.spec.value_range is not None:
            x = x.clamp(*self.spec.value_range)
        with torch.no_grad():
            energy = self.energy(x, net)
        yield _frame(offset, x, energy)

    # --- LearningMethod ------------------------------------------------------------
    def networks(self) -> dict[str, torch.nn.Module]:
        return {"energy": self.net, **self.averages.networks()}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"energy": self.opt}

    def energy(self, x: torch.Tensor, net: torch.nn.Module | None = None) -> torch.Tensor:
        """``E(x) = −f̃(x, 0)/δ_0²``: the least-noise recovery EBM without its Gaussian term
        (``f̃`` is ``net``, by default the trained network)."""
        t = torch.zeros(x.shape[0], device=x.device, dtype=torch.long)
        return -(self.net if net is None else net)(x, t) / self.step(t) ** 2

    def train_step(self, batch: torch.Tensor, record_every: int) -> StepResult:
        cfg = self.cfg
        b = batch.shape[0]
        t = torch.randint(self.levels, (b,), device=self.device, generator=self.rng)
        # x_t in closed form (x_0 = data)
        ab = self.alpha_bar()[t].view(-1, *[1] * (batch.dim() - 1))
        x_t = ab.sqrt() * batch + (1 - ab).sqrt() * torch.randn(batch.shape, device=self.device,
                                                                generator=self.rng)
        y_t = self._scale(t, batch) * x_t
        x_next = y_t + self.sigmas[t].view_as(ab) * torch.randn(batch.shape, device=self.device,
                                                                 generator=self.rng)
        with frozen(self.net):
            *_, (_, y_synth, _) = self.recover(x_next, t, self.rng)
        e_data, e_synth = -self.net(y_t, t), -self.net(y_synth.detach(), t)
        if self.opts.level_weight == "inverse_sigma":
            weight = self.sigmas[0] / self.sigmas[t]
            e_data, e_synth = weight * e_data, weight * e_synth
        metrics = {
            **self.ml_backward(self.net, self.opt, e_data, e_synth),
            "recovery_mse": float((y_synth - y_t).pow(2).mean()),
        }
        if record_every or (self.applied + 1) % cfg.train.sample_every == 0:
            return StepResult(metrics, *self._preview(record_every))
        return StepResult(metrics, y_synth / self._scale(t, batch), e_synth.detach())

    def _preview(self, record_every: int):
        """A full walk down the schedule for the live view, on its own seeded
        generator so that showing it never changes the training run."""
        gen = torch.Generator(device=self.device)
        gen.manual_seed(self.cfg.train.seed * 1_000_003 + self.applied)
        levels: dict[str, torch.Tensor] = {}
        with frozen(self.averages.of("energy")):
            frames = list(self._walk(self.cfg.train.snapshot_size, self.sample_steps, gen,
                                     record_every, 8, levels))
        final = frames[-1]
        x = torch.from_numpy(final.x).to(self.device)
        shown = frames[:-1] + [ChainFrame(final.step, final.x[:8], final.energy[:8])] if record_every else []
        return x, torch.from_numpy(final.energy), shown, levels

    def apply_update(self) -> None:
        super().apply_update()
        self.applied += 1

    def sample(self, n: int, n_steps: int | None = None, record_every: int = 0,
               n_record: int = 8) -> Iterator[ChainFrame]:
        """Walk from ``x_T`` (the Gaussian fit of ``q(x_T)``) down all ``T`` levels to
        the cleanest, ``n_steps`` Langevin steps per level; the last frame holds
        the ``n`` samples of level 0."""
        steps = self.sample_steps if n_steps is None else n_steps
        with frozen(self.averages.of("energy")):
            yield from self._walk(n, steps, self.rng, record_every, n_record)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {"applied": torch.tensor([self.applied], dtype=torch.int64),
                "start.mean": self.data_mean, "start.std": self.data_std,
                "start.basis": self.data_basis}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        if "applied" in tensors:
            self.applied = int(tensors["applied"][0])
        if "start.mean" in tensors:  # older checkpoints start from N(0, I)
            self.data_mean = tensors["start.mean"].to(self.device).clone()
            self.data_std = tensors["start.std"].to(self.device).clone()
        # older checkpoints have no principal directions: a per-pixel fit
        basis = tensors.get("start.basis")
        self.data_basis = (basis.to(self.device).clone() if basis is not None
                           else torch.zeros((0, *self.spec.item_shape), device=self.device))


def gaussian_fit(items: torch.Tensor,
                 components: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A Gaussian fit of ``(N, *shape)`` images: mean, leading principal directions
    and the per-pixel spread they leave.

    Parameters
    ----------
    items : tensor ``(N, *shape)``
        The training images (or an evenly spaced subset of them).
    components : int
        Principal directions to keep (at most ``N − 1`` and the pixel count).

    Returns
    -------
    mean : tensor ``shape``
    basis : tensor ``(k, *shape)``
        Orthogonal directions, each scaled by its standard deviation.
    residual_std : tensor ``shape``
        Per-pixel standard deviation of the images less their projection on ``basis``
        (the per-pixel std when ``k = 0``), so each pixel's variance is the data's.
    """
    shape = items.shape[1:]
    flat = items.float().flatten(1)
    mean = flat.mean(0)
    centred = flat - mean
    k = min(components, len(flat) - 1, flat.shape[1])
    basis = torch.zeros(0, flat.shape[1])
    if k > 0:
        # the covariance's eigenvectors (exact where the pixels are few; else randomised)
        if flat.shape[1] <= 1024:
            _, _, vh = torch.linalg.svd(centred, full_matrices=False)
            directions = vh[:k]
        else:
            directions = torch.pca_lowrank(centred, q=k, center=False, niter=4)[2].T
        spread = (centred @ directions.T).std(0, unbiased=False)
        basis = directions * spread[:, None]
        centred = centred - (centred @ directions.T) @ directions
    residual = centred.pow(2).mean(0).sqrt()
    return mean.view(shape), basis.view(-1, *shape), residual.view(shape)


def _frame(step: int, x: torch.Tensor, energy: torch.Tensor) -> ChainFrame:
    return ChainFrame(step, x.detach().float().cpu().numpy().copy(),
                      energy.detach().float().cpu().numpy().copy())

