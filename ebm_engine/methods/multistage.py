"""Multi-stage expanding EBMs (Zhao, Xie & Li, ICLR 2021, coarse-to-fine expanding).

Training runs through a resolution schedule ``r_0 < r_1 < … < r_S`` (e.g.
4 → 8 → 16 for digits). At stage ``s`` the model is

    p_s(x_s) ∝ exp(f_s(x_s)) q(x_s),   x_s = the image averaged down to r_s,

learned by maximum likelihood on ``x_s`` (gradient ``E_data[∇f_s] − E_p[∇f_s]``,
loss ``mean E(x_s) − mean E(x̃_s)`` + ``energy_l2``) with short-run Langevin.
The network grows with the stages (:class:`ExpandingConvNet`): stage ``s``
keeps all earlier layers (its initialisation is the previous stage) and
adds an input block, faded in over ``fade_iterations``. The chains expand
with the model: persistent chains are up-sampled (pixels repeated) when a
stage begins; noise starts are drawn at ``r_0`` and up-sampled, a smooth
start at every stage.

The stage is a function of the number of updates taken (checkpointed), and
every stage's layers exist from the start, so checkpoints keep one layout
and a resumed run continues in the same stage with the same ``α``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import torch

from ebm_engine.config import RunConfig
from ebm_engine.errors import ConfigError
from ebm_engine.methods._pyramid import (
    check_resolutions,
    downsample,
    leaky_slope,
    shifted_frame,
    square_image_size,
    upsample,
)
from ebm_engine.methods.base import DataSpec, LearningMethod, StepResult, register_method
from ebm_engine.models.expandingnet import ExpandingConvNet
from ebm_engine.options import knob
from ebm_engine.sampling import ChainFrame, PersistentBuffer, frozen, noise_like
from ebm_engine.sampling.langevin import langevin, run_langevin


def default_stages(side: int) -> list[int]:
    """Doubling sides from 4 (≤ 16 px) or 8 (larger images) up to ``side``."""
    start = 4 if side <= 16 else 8
    sizes = [side]
    while sizes[0] // 2 >= start and sizes[0] % 2 == 0:
        sizes.insert(0, sizes[0] // 2)
    return sizes


@dataclasses.dataclass(frozen=True)
class MultiStageOptions:
    """Knobs of multi-stage expanding EBMs.

    Attributes
    ----------
    resolutions : list of int
        Stage resolutions, coarse to fine; each divides the next and the last
        is the image side ([] = automatic: doubling from 4, or from 8 above 16 px).
    stage_iterations : int
        Updates spent in each stage before the last (the last stage lasts
        until the run ends).
    fade_iterations : int
        Updates over which a new stage's input block fades in (0 = at once).
    data_noise : float
        Standard deviation of Gaussian jitter added to every data batch before
        it is averaged down (0 = off); as ML's knob, it stops the chains finding
        hatched textures the net rates above the data late in the last stage.
    """

    resolutions: list[int] = knob([], live=False)
    stage_iterations: int = knob(300, ge=1, unit="iterations", sampling=True)
    fade_iterations: int = knob(100, ge=0, unit="iterations", sampling=True)
    data_noise: float = knob(0.0, ge=0, unit="in data units")


@register_method("multistage")
class MultiStageExpanding(LearningMethod):
    """One EBM that grows coarse to fine during training; its chains grow with it."""

    learns_from_chains = True

    Options = MultiStageOptions
    samples_are = "this stage's samples"
    model_options = ("leaky_slope",)

    @classmethod
    def check(cls, opts: MultiStageOptions, cfg: RunConfig, spec: DataSpec | None) -> None:
        if cfg.sampler.init not in ("noise", "persistent"):
            raise ConfigError(f"method 'multistage' starts chains from 'noise' or 'persistent', "
                              f"got sampler.init {cfg.sampler.init!r}")
        side = None
        if spec is not None:
            _, side = square_image_size(spec.kind, spec.item_shape, cls.name)
        check_resolutions(opts.resolutions, side, "resolutions")

    def build(self) -> None:
        cfg, device = self.cfg, self.device
        self.channels, self.side = square_image_size(self.spec.kind, self.spec.item_shape, self.name)
        self.resolutions = list(self.opts.resolutions) or default_stages(self.side)
        m = cfg.model
        self.net = ExpandingConvNet(self.channels, self.resolutions, m.width, m.spectral_norm,
                                    leaky_slope(m)).to(device)
        self.opt = self.adam(self.net.parameters())
        self.applied = 0  # updates taken: decides the stage, checkpointed
        self.buffer: PersistentBuffer | None = None
        if cfg.sampler.init == "persistent":
            self.buffer = PersistentBuffer(cfg.sampler.buffer_size, self._shape(0), cfg.sampler,
                                           device, self.rng)

    # --- the schedule ------------------------------------------------------------
    def stage_at(self, applied: int) -> tuple[int, float]:
        """``(stage, α)`` after ``applied`` updates."""
        per, fade = self.opts.stage_iterations, self.opts.fade_iterations
        stage = min(applied // per, len(self.resolutions) - 1)
        into = applied - stage * per
        alpha = 1.0 if stage == 0 or fade == 0 else min(1.0, (into + 1) / fade)
        return stage, alpha

    @property
    def stage(self) -> int:
        return self.stage_at(self.applied)[0]

    def _shape(self, stage: int) -> tuple[int, ...]:
        r = self.resolutions[stage]
        return (self.channels, r, r)

    def stage_energy(self, stage: int, alpha: float):
        sigma = self.cfg.sampler.reference_sigma
        scale = 0.0 if sigma == float("inf") else 1.0 / (2.0 * sigma**2)

        def energy(x: torch.Tensor) -> torch.Tensor:
            e = -self.net(x, stage, alpha)
            return e + scale * x.flatten(1).pow(2).sum(1) if scale else e

        return energy

    def _sync_buffer(self) -> None:
        """Bring persistent chains to the current stage's resolution, pixels
        repeated (after an update, a restore or a schedule edit: the stage may
        have moved; train_step only reads the buffer)."""
        if self.buffer is not None and self.buffer.states.shape[-1] != self.resolutions[self.stage]:
            self.buffer.states = upsample(self.buffer.states, self.resolutions[self.stage])

    def _starts(self, n: int, stage: int) -> tuple[torch.Tensor | None, torch.Tensor]:
        if self.buffer is not None:
            return self.buffer.draw(n)
        coarse = noise_like((n, self.channels, self.resolutions[0], self.resolutions[0]),
                            self.cfg.sampler, self.device, self.rng)
        return None, upsample(coarse, self.resolutions[stage])

    # --- LearningMethod ------------------------------------------------------------
    def buffers(self) -> list[PersistentBuffer]:
        return [self.buffer] if self.buffer is not None else []

    def reconfigured(self) -> None:
        if self.buffer is not None:  # re-initialisation knobs are live
            self.buffer.cfg = self.cfg.sampler
        self._sync_buffer()  # stage_iterations is live

    def networks(self) -> dict[str, torch.nn.Module]:
        return {"energy": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"energy": self.opt}

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        stage, alpha = self.stage_at(self.applied)
        return self.stage_energy(stage, alpha)(downsample(x, self.resolutions[stage]))

    def train_step(self, batch: torch.Tensor, record_every: int) -> StepResult:
        cfg = self.cfg
        stage, alpha = self.stage_at(self.applied)
        r = self.resolutions[stage]
        data = downsample(self.dequantised(batch, self.opts.data_noise), r)
        idx, x0 = self._starts(batch.shape[0], stage)
        energy_fn = self.stage_energy(stage, alpha)
        with frozen(self.net):
            synth, frames = run_langevin(energy_fn, x0, cfg.sampler, record_every=record_every,
                                         value_range=self.spec.value_range, generator=self.rng)
        if self.buffer is not None and idx is not None:
            self.buffer.stage(idx, synth)
        e_data, e_synth = energy_fn(data), energy_fn(synth)
        metrics = {
            **self.ml_backward(self.net, self.opt, e_data, e_synth),
            "stage": float(stage),
            "resolution": float(r),
            "alpha": alpha,
        }
        # stable keys (the stage is in the metrics): views keep one panel each
        extras = {"chain start": upsample(x0, self.side),
                  "data at stage resolution": upsample(data, self.side)}
        frames = [shifted_frame(f, 0, self.side) for f in frames]
        return StepResult(metrics, upsample(synth, self.side), e_synth.detach(), frames, extras)

    def apply_update(self) -> None:
        super().apply_update()
        self.applied += 1
        self._sync_buffer()

    def sample(self, n: int, n_steps: int | None = None, record_every: int = 0,
               n_record: int = 8) -> Iterator[ChainFrame]:
        """Langevin at the current stage from smooth noise (or the persistent
        chains); frames are shown at the full image size."""
        stage, alpha = self.stage_at(self.applied)
        if self.buffer is not None:
            # no restarts: a chain fresh from noise gets only n_steps (as ml's sample)
            _, x0 = self.buffer.draw(n, reinit=False)
        else:
            _, x0 = self._starts(n, stage)
        with frozen(self.net):
            for frame in langevin(self.stage_energy(stage, alpha), x0, self.cfg.sampler,
                                  n_steps=n_steps, record_every=record_every, n_record=n_record,
                                  value_range=self.spec.value_range, generator=self.rng):
                yield shifted_frame(frame, 0, self.side)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        out = {"applied": torch.tensor([self.applied], dtype=torch.int64)}
        if self.buffer is not None:
            out.update({f"buffer.{k}": v for k, v in self.buffer.state_tensors().items()})
        return out

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        if "applied" in tensors:
            self.applied = int(tensors["applied"][0])
        own = {k[len("buffer."):]: v for k, v in tensors.items() if k.startswith("buffer.")}
        if self.buffer is not None and own:
            self.buffer.load_state_tensors(own)
        self._sync_buffer()
