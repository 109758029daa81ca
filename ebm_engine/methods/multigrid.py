"""Multi-grid learning and sampling (Gao, Lu, Zhou, Zhu & Wu, CVPR 2018).

A pyramid of EBMs ``p_s(x_s) ∝ exp(f_s(x_s)) q(x_s)`` on grids of increasing
side (4 → 8 → 16 for digits, 4 → 16 → 64 for textures), where ``x_s`` is the
image averaged down to grid ``s``. Synthesis is coarse to fine:

    x̃_0 = the 1×1 (mean) version of a training image,
    x̃_s = Langevin_s( upsample(x̃_{s−1}) ),   s = 1 … S,

each grid's chains start from the previous grid's samples, pixels repeated
into blocks. Each EBM gets its own maximum-likelihood gradient

    ∇θ_s L = E_data[∇θ_s f_s(x_s)] − E[∇θ_s f_s(x̃_s)],

so we minimise ``Σ_s mean E_s(x_s) − mean E_s(x̃_s)`` (+ ``energy_l2``).
With the IGEBM-style Langevin of the digits presets (a large gradient step,
noise 0.01) the chains are nearly deterministic, so chains started from the
same mean image all end in the same few digits; knob ``start_noise`` adds
``N(0, start_noise²)`` to the coarsest grid's start (then clamped), which
gives the short runs the diversity the paper's stronger Langevin noise gives.
The finest EBM is the ``energy`` network; coarser ones are ``grid4``,
``grid8`` …; one checkpoint holds them all. Sampling without the dataset
draws the 1×1 start from a Gaussian fitted to the training images' means
(saved with the checkpoint).

``sampler.init = "persistent"`` (opt-in; any other value gives the paper's
non-persistent chains above) keeps a replay buffer of chains on every grid,
as the ML digits preset does on its one grid: each iteration continues
``batch_size`` stored chains per grid, and a chain that starts (each draw
restarts one with probability ``sampler.reinit_prob``) starts where the
paper's chains do, at the up-sampled samples of the coarser grid from this
same iteration (the coarsest at the noisy mean image). New chains still grow
coarse to fine, but each grid's chains then keep running across iterations;
sampling a trained model continues the finest grid's settled chains.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import torch
from torch import nn

from ebm_engine.config import RunConfig
from ebm_engine.methods._pyramid import (
    check_resolutions,
    default_pyramid,
    downsample,
    leaky_slope,
    shifted_frame,
    square_image_size,
    upsample,
)
from ebm_engine.methods.base import (
    DataSpec,
    LearningMethod,
    StepResult,
    contrastive_loss,
    register_method,
)
from ebm_engine.models import build_model
from ebm_engine.models.convnet import GenerativeConvNet
from ebm_engine.options import knob
from ebm_engine.sampling import ChainFrame, PersistentBuffer, energy_of, frozen
from ebm_engine.sampling.langevin import langevin, run_langevin


@dataclasses.dataclass(frozen=True)
class MultiGridOptions:
    """Knobs of multi-grid learning.

    Attributes
    ----------
    grids : list of int
        Grid sides, coarse to fine; each divides the next and the last is the
        image side ([] = automatic: 4→8→16, or ×4 steps 4→16→64 from 64 px).
    steps_per_grid : int
        Langevin steps on each grid (0 = sampler.n_steps).
    start_noise : float
        Standard deviation of Gaussian noise added to the coarsest grid's start
        (the up-sampled 1×1 mean image); 0 = the paper's start.
    """

    grids: list[int] = knob([], live=False)
    steps_per_grid: int = knob(0, ge=0, unit="steps", sampling=True)
    start_noise: float = knob(0.0, ge=0, le=10, sampling=True)


@register_method("multigrid")
class MultiGrid(LearningMethod):
    """EBMs on a coarse-to-fine pyramid of grids; chains start at the 1×1 mean image."""

    learns_from_chains = True

    Options = MultiGridOptions
    samples_are = "finest grid"
    model_options = ("leaky_slope",)

    @classmethod
    def check(cls, opts: MultiGridOptions, cfg: RunConfig, spec: DataSpec | None) -> None:
        side = None
        if spec is not None:
            _, side = square_image_size(spec.kind, spec.item_shape, cls.name)
        check_resolutions(opts.grids, side, "grids")

    def build(self) -> None:
        cfg, device, dataset = self.cfg, self.device, self.dataset
        self.channels, self.side = square_image_size(self.spec.kind, self.spec.item_shape, self.name)
        self.grids = list(self.opts.grids) or default_pyramid(self.side)
        m = cfg.model
        self.nets: dict[str, nn.Module] = {}
        for size in self.grids[:-1]:
            self.nets[f"grid{size}"] = GenerativeConvNet(
                self.channels, size, m.width, m.depth, m.spectral_norm, leaky_slope(m)).to(device)
        self.nets["energy"] = build_model(m, self.spec.item_shape).to(device)
        self.optims = {name: self.adam(net.parameters()) for name, net in self.nets.items()}
        # One replay buffer per grid when the chains are persistent (opt-in).
        self.bufs: dict[str, PersistentBuffer] = {}
        if cfg.sampler.init == "persistent":
            self.bufs = {name: PersistentBuffer(cfg.sampler.buffer_size, (self.channels, size, size),
                                                cfg.sampler, device, self.rng)
                         for size, name in zip(self.grids, self._grid_names())}
        # Gaussian fit of the training images' per-channel means: the 1×1 start
        # when sampling from a checkpoint without the data.
        self.start_mean = torch.zeros(self.channels, device=device)
        self.start_std = torch.zeros(self.channels, device=device)
        if dataset is not None:
            means = dataset.items.float().mean(dim=(2, 3))
            self.start_mean = means.mean(0).to(device)
            self.start_std = means.std(0, unbiased=False).to(device)

    # --- helpers -------------------------------------------------------------
    @property
    def sample_steps(self) -> int:
        """Langevin steps on each grid."""
        return self.opts.steps_per_grid or self.cfg.sampler.n_steps

    def grid_energy(self, name: str):
        return energy_of(self.nets[name], self.cfg.sampler.reference_sigma)

    def _grid_names(self) -> list[str]:
        return list(self.nets)

    def _start(self, n: int) -> torch.Tensor:
        """1×1 starts drawn from the fitted Gaussian of training-image means."""
        eps = torch.randn((n, self.channels, 1, 1), device=self.device, generator=self.rng)
        x = self.start_mean.view(1, -1, 1, 1) + self.start_std.view(1, -1, 1, 1) * eps
        if self.spec.value_range is not None:
            x = x.clamp(*self.spec.value_range)
        return x

    def _noisy(self, x: torch.Tensor) -> torch.Tensor:
        """The coarsest grid's start plus ``N(0, start_noise²)``, clamped to the data range."""
        if self.opts.start_noise <= 0:
            return x
        x = x + self.opts.start_noise * torch.randn(x.shape, device=x.device, generator=self.rng)
        return x.clamp(*self.spec.value_range) if self.spec.value_range is not None else x

    def _continued(self, name: str, start: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        """``(buffer indices, chain starts)`` on grid ``name``: stored chains,
        those (re)starting now at ``start``; ``(None, start)`` when not persistent."""
        buf = self.bufs.get(name)
        if buf is None:
            return None, start
        idx, x0 = buf.draw(start.shape[0])
        fresh = (buf.ages[idx] == 0).view(-1, *[1] * (start.dim() - 1))  # restarted or never run
        return idx, torch.where(fresh, start, x0)

    # --- LearningMethod --------------------------------------------------------
    def buffers(self) -> list[PersistentBuffer]:
        return list(self.bufs.values())

    def reconfigured(self) -> None:
        for buf in self.bufs.values():  # re-initialisation knobs are live
            buf.cfg = self.cfg.sampler

    def networks(self) -> dict[str, nn.Module]:
        return dict(self.nets)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return dict(self.optims)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return self.grid_energy("energy")(x)

    def train_step(self, batch: torch.Tensor, record_every: int) -> StepResult:
        cfg = self.cfg
        x = downsample(batch, 1)  # the 1×1 version of the observed images
        extras = {"grid 1x1": upsample(x, self.side)}
        frames: list[ChainFrame] = []
        synths = []
        offset = 0
        for i, (size, name) in enumerate(zip(self.grids, self._grid_names())):
            x = upsample(x, size) if i else self._noisy(upsample(x, size))
            idx, x = self._continued(name, x)
            with frozen(self.nets[name]):
                x, fr = run_langevin(self.grid_energy(name), x, cfg.sampler, n_steps=self.sample_steps,
                                     record_every=record_every, value_range=self.spec.value_range,
                                     generator=self.rng)
            if idx is not None:
                self.bufs[name].stage(idx, x)
            # a coarse grid's last state is the next grid's step 0
            frames += [shifted_frame(f, offset, self.side) for f in fr
                       if size == self.side or f.step < self.sample_steps]
            offset += self.sample_steps
            synths.append(x)
            if size != self.side:
                extras[f"grid {size}x{size}"] = upsample(x, self.side)
        loss = torch.zeros((), device=self.device)
        metrics: dict[str, float] = {}
        for size, name, synth in zip(self.grids, self._grid_names(), synths):
            energy_fn = self.grid_energy(name)
            e_data, e_synth = energy_fn(downsample(batch, size)), energy_fn(synth)
            grid_loss = contrastive_loss(e_data, e_synth, cfg.train.energy_l2)
            loss = loss + grid_loss
            metrics[f"loss_grid{size}"] = float(grid_loss.detach())
        # One backward pass through the summed loss (each grid's term reaches
        # only its own net); backward() zeroes just the optimiser it is given,
        # so the coarse grids' are zeroed here. apply_update steps them all.
        for opt in self.optims.values():
            opt.zero_grad(set_to_none=True)
        norm = self.backward(loss, self.optims["energy"], list(self.nets.values()))
        metrics = {
            "loss": float(loss.detach()),
            "energy_data": float(e_data.detach().mean()),
            "energy_sample": float(e_synth.detach().mean()),
            "grad_norm": norm,
            **metrics,
        }
        return StepResult(metrics, synths[-1], e_synth.detach(), frames, extras)

    def sample(self, n: int, n_steps: int | None = None, record_every: int = 0,
               n_record: int = 8) -> Iterator[ChainFrame]:
        """Coarse to fine: 1×1 start, then ``n_steps`` Langevin steps on each grid.

        Frames show every grid at the final size; steps count on across grids.
        With persistent chains: ``n_steps`` more on the finest grid's settled
        chains (no restarts, as ml's sample).
        """
        steps = self.sample_steps if n_steps is None else n_steps
        if self.bufs:
            _, x0 = self.bufs["energy"].draw(n, reinit=False)
            with frozen(self.nets["energy"]):
                yield from langevin(self.energy, x0, self.cfg.sampler, n_steps=steps,
                                    record_every=record_every, n_record=n_record,
                                    value_range=self.spec.value_range, generator=self.rng)
            return
        x = self._start(n)
        offset = 0
        last = len(self.grids) - 1
        for i, (size, name) in enumerate(zip(self.grids, self._grid_names())):
            x = upsample(x, size) if i else self._noisy(upsample(x, size))
            with frozen(self.nets[name]):
                for frame in langevin(self.grid_energy(name), x, self.cfg.sampler, n_steps=steps,
                                      record_every=record_every, n_record=n_record,
                                      value_range=self.spec.value_range, generator=self.rng):
                    final = frame.step == steps
                    if final:
                        x = torch.from_numpy(frame.x).to(self.device)
                    if i == last:
                        yield shifted_frame(frame, offset, self.side)
                    elif not final:  # a coarse grid's end is the next grid's step 0
                        yield shifted_frame(frame, offset, self.side, n_record)
            offset += steps

    def state_tensors(self) -> dict[str, torch.Tensor]:
        out = {"start.mean": self.start_mean, "start.std": self.start_std}
        for name, buf in self.bufs.items():
            out.update({f"buffer.{name}.{k}": v for k, v in buf.state_tensors().items()})
        return out

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        if "start.mean" in tensors:
            self.start_mean = tensors["start.mean"].to(self.device).clone()
            self.start_std = tensors["start.std"].to(self.device).clone()
        for name, buf in self.bufs.items():
            prefix = f"buffer.{name}."
            own = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
            if own:
                buf.load_state_tensors(own)
