"""Patchwise Generative ConvNet: internal learning from one image (Zheng, Xie & Li, 2021).

A pyramid of scales ``s = 0 … S−1`` (coarse to fine; sides shrink by a
constant factor down to ``min_side``) carries one small fully convolutional
EBM each, ``p_s(x_s) ∝ exp(Σ_p g_s(x_s)[p])`` (:class:`PatchEnergy`): a
Markov random field of overlapping patches of the one training image
``x`` resized to scale ``s``. Synthesis is coarse to fine,

    x̃_0 = Langevin_0(mean colour + grey noise),   x̃_s = Langevin_s(resize(x̃_{s−1})),

where the grey noise may be drawn at a few pixels and upsampled
(``start_side``: smooth blobs that seed each sample's layout), and each
scale learns by maximum likelihood, ``∇θ_s L = ∇θ_s f_s(x_s) −
mean ∇θ_s f_s(x̃_s)``: we minimise ``Σ_s mean E_s(x_s) − mean E_s(x̃_s)``.
As in the paper's code, a noise-free *recovery* chain per scale, started
from the photo one scale coarser, is a further negative (weight
``recovery``), and ``stage_iterations > 0`` learns the scales one after
another (scale ``s`` on the samples of the finished coarser ones, with a
decaying learning rate; without it the coarse sampler keeps moving under
the finer EBMs and the samples never settle); 0 trains all scales together.
Being fully convolutional, the pyramid samples any size: ``aspect = 2``
gives pictures twice as wide. ``task = harmonise`` pastes a block of the
source elsewhere and re-synthesises scales ``edit_scale …`` from the edited
picture (editing / harmonisation). The coarsest EBM is ``scale0``, the
finest is ``energy``; the source image is saved with the checkpoint.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from ebm_engine.config import RunConfig
from ebm_engine.data.dataset import Dataset
from ebm_engine.errors import ConfigError
from ebm_engine.methods.base import (
    DataSpec,
    LearningMethod,
    StepResult,
    contrastive_loss,
    register_method,
)
from ebm_engine.models.patchnet import PatchEnergy
from ebm_engine.options import knob
from ebm_engine.sampling import ChainFrame, energy_of, frozen, noise_like
from ebm_engine.sampling.langevin import langevin, run_langevin

TASKS = ("random", "harmonise")
#: Largest ``start_side`` (a million pixels a side asked for 24 TB of noise).
MAX_START_SIDE = 4096


@dataclasses.dataclass(frozen=True)
class PatchwiseOptions:
    """Knobs of the Patchwise Generative ConvNet.

    Attributes
    ----------
    scales : int
        Pyramid levels (one EBM each).
    min_side : int
        Shorter side of the coarsest level, in pixels.
    coarse_steps : int
        Langevin steps at the coarsest level, from noise, or from the pasted picture
        of a harmonisation that starts there (0 = sampler.n_steps);
        finer levels take sampler.n_steps from the upsampled coarser sample.
    aspect : float
        Width of samples relative to the training image (2 = twice as wide);
        sampling only, training always uses the image's own shape.
    task : str
        ``random`` (new pictures) or ``harmonise`` (paste a block of the
        source elsewhere, then re-synthesise it from ``edit_scale`` up).
    edit_scale : int
        Level where harmonisation starts (0, the default: the coarsest, which redraws
        the pasted block's edges; higher keeps more of the edit, and its seams: at 1 the
        block's outline stayed visible in most draws of the single-image demo).
    recovery : float
        Weight of the recovery chains' term (the paper's code: 0.1; 0 = off).
        At each level a noise-free chain starts from the photo seen one level
        coarser (upsampled) and is one more negative sample: each EBM learns to
        turn a blurred picture into the sharp one, what the finer levels of a
        sample (and harmonisation) need.
    stage_iterations : int
        Iterations per level when the levels are learned one after another,
        coarse to fine (the paper's schedule: a level learns on the samples of
        the finished coarser ones, and its learning rate decays from
        ``train.lr`` to an eighth of it over the stage); 0 = all levels
        together at ``train.lr``.
    coarsest_iterations : int
        Iterations of the coarsest level's stage (0 = ``stage_iterations``):
        the coarsest level learns the photo's layout, which takes far longer
        than the finer levels' detail but costs little (the paper's code: 4000
        per level).
    coarsest_lr : float
        Factor on ``train.lr`` during the coarsest stage (its small net learns
        the layout faster at a higher rate; finer levels keep ``train.lr``).
    start_side : int
        Shorter side, in pixels, of the grey noise that starts the coarsest
        chains, upsampled to the coarsest level (0 = one value per pixel).
        Pixel noise makes the short chains paint local texture everywhere;
        noise of a few smooth blobs gives each sample its own large-scale
        layout (where the dark and bright masses go) for the EBM to shape.
    """

    scales: int = knob(4, ge=1, le=8, live=False)
    min_side: int = knob(16, ge=4, live=False, unit="pixels")
    coarse_steps: int = knob(40, ge=0, unit="steps", sampling=True)
    aspect: float = knob(1.0, ge=0.25, le=4, sampling=True)  # 0.01: a one-pixel strip
    task: str = knob("random", choices=TASKS, sampling=True)
    edit_scale: int = knob(0, ge=0, sampling=True)
    recovery: float = knob(0.1, ge=0)
    stage_iterations: int = knob(0, ge=0, live=False, unit="iterations")
    coarsest_iterations: int = knob(0, ge=0, live=False, unit="iterations")
    coarsest_lr: float = knob(1.0, gt=0, le=100)
    start_side: int = knob(0, ge=0, le=MAX_START_SIDE, unit="pixels", sampling=True)


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``(B, C, H, W)`` to ``size`` (antialiased when shrinking)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


def pyramid_sizes(height: int, width: int, scales: int, min_side: int,
                  aspect: float = 1.0) -> list[tuple[int, int]]:
    """``(h, w)`` of each level, coarse to fine: a constant factor from the
    shorter side ``min_side`` up to the image, widths times ``aspect``."""
    factor = (min_side / min(height, width)) ** (1.0 / (scales - 1)) if scales > 1 else 1.0
    out = []
    for s in range(scales):
        f = factor ** (scales - 1 - s)
        out.append((max(round(height * f), 1), max(round(width * f * aspect), 1)))
    return out


@register_method("patchwise")
class Patchwise(LearningMethod):
    """Single-image pyramid of patch EBMs, sampled coarse to fine (any size)."""

    learns_from_chains = True

    Options = PatchwiseOptions
    samples_are = "finest scale"
    kinds = ("image",)
    # Every metric reads "lower is better" (``patch_nn`` down to, not at, the
    # copy reference 0: the references are measured beside it, see evaluate);
    # one Gram distance per scale, up to the knob's bound of 8.
    better = {**{f"patch_nn{s}": "lower" for s in ("", "_wide", "_copy", "_flipped", "_blurred")},
              **{f"gram_scale{level}": "lower" for level in range(8)}, "gram_wide": "lower"}

    @classmethod
    def check(cls, opts: PatchwiseOptions, cfg: RunConfig, spec: DataSpec | None) -> None:
        if opts.edit_scale >= opts.scales:
            raise ConfigError(f"train.options.edit_scale must be below scales ({opts.scales}), "
                              f"got {opts.edit_scale}")
        if spec is None:
            return
        if len(spec.item_shape) != 3:
            raise ConfigError(f"method 'patchwise' needs images, got items of shape {spec.item_shape}")
        _, h, w = spec.item_shape
        if min(h, w) < opts.min_side:
            raise ConfigError(f"the image ({w}x{h} px) is too small for the pyramid: its shorter "
                              f"side must be at least train.options.min_side = {opts.min_side} px")

    def build(self) -> None:
        c, h, w = self.spec.item_shape
        self.channels, self.height, self.width = c, h, w
        self.sizes = pyramid_sizes(h, w, self.opts.scales, self.opts.min_side)
        m = self.cfg.model
        self.names = [f"scale{s}" for s in range(len(self.sizes) - 1)] + ["energy"]
        self.nets: dict[str, nn.Module] = {
            name: PatchEnergy(c, m.width, m.depth, m.spectral_norm).to(self.device)
            for name in self.names}
        self.optims = {name: self.adam(net.parameters()) for name, net in self.nets.items()}
        # The training image: harmonisation edits it, evaluation compares with it.
        self.source = torch.zeros((1, c, h, w), device=self.device)
        if self.dataset is not None:
            self.source = self.dataset.items[:1].float().to(self.device)
        self.done = torch.zeros((), dtype=torch.long)  # applied updates: the stage clock

    def stage_span(self, level: int) -> tuple[int, int]:
        """``(first iteration, length)`` of ``level``'s stage."""
        k = self.opts.stage_iterations
        k0 = self.opts.coarsest_iterations or k
        return (0, k0) if level == 0 else (k0 + (level - 1) * k, k)

    def stage(self) -> int:
        """The level learning now (all levels up to it are sampled)."""
        last = len(self.sizes) - 1
        if self.opts.stage_iterations == 0:
            return last
        done = int(self.done)
        return next((s for s in range(last) if done < sum(self.stage_span(s))), last)

    def _stage_lr(self, top: int) -> None:
        """``train.lr`` decaying linearly to an eighth over 80 % of the stage
        (the paper: 4e-4 to 5e-5), then constant."""
        start, k = self.stage_span(top)
        frac = min(1.0, (int(self.done) - start) / (0.8 * k)) if self.opts.stage_iterations else 0.0
        for opt in self.optims.values():
            for g in opt.param_groups:
                g["lr_scale"] = (1.0 - 0.875 * frac) * (self.opts.coarsest_lr if top == 0 else 1.0)
                g["lr"] = self.group_lr(g)

    # --- helpers -------------------------------------------------------------
    def scale_energy(self, name: str):
        return energy_of(self.nets[name], self.cfg.sampler.reference_sigma)

    def steps_at(self, level: int, n_steps: int | None = None) -> int:
        fine = self.cfg.sampler.n_steps if n_steps is None else n_steps
        return (self.opts.coarse_steps or fine) if level == 0 else fine

    def coarse_start(self, n: int, size: tuple[int, int]) -> torch.Tensor:
        """Chain starts at the coarsest level: the photo's mean colour plus grey
        noise (the same noise in every channel, as the paper's code: the chains
        then learn structure, not to undo random hues), drawn at ``start_side``
        and upsampled when that is set."""
        side = self.opts.start_side
        if side:
            small = tuple(max(round(v * side / min(size)), 1) for v in size)  # same aspect
            grey = resize(noise_like((n, 1, *small), self.cfg.sampler, self.device, self.rng), size)
        else:
            grey = noise_like((n, 1, *size), self.cfg.sampler, self.device, self.rng)
        x = self.source.mean(dim=(2, 3), keepdim=True) + grey
        lo, hi = self.spec.value_range or (-1.0, 1.0)
        return x.clamp(lo, hi)

    def paste_edit(self, n: int) -> torch.Tensor:
        """``n`` copies of the source, each with a block (a third of each side)
        copied from one random place to another: the input of harmonisation."""
        out = self.source.expand(n, -1, -1, -1).clone()
        bh, bw = max(self.height // 3, 1), max(self.width // 3, 1)
        g = self.rng
        for i in range(n):
            ys, yd = torch.randint(0, self.height - bh + 1, (2,), generator=g, device=g.device).tolist()
            xs, xd = torch.randint(0, self.width - bw + 1, (2,), generator=g, device=g.device).tolist()
            out[i, :, yd:yd + bh, xd:xd + bw] = self.source[0, :, ys:ys + bh, xs:xs + bw]
        return out

    def _frames(self, frames: list[ChainFrame], offset: int, size: tuple[int, int],
                keep_last: bool, level: int) -> list[ChainFrame]:
        """Frames of one level shown at ``size``, steps counted on across levels
        (a coarse level's end is the next level's step 0), each marked with its
        level: the levels' energies are different networks' and do not compare."""
        out = []
        for f in frames:
            if not keep_last and f is frames[-1]:
                continue
            x = resize(torch.from_numpy(f.x), size).numpy()
            out.append(ChainFrame(f.step + offset, x, f.energy.copy(), segment=level))
        return out

    # --- LearningMethod --------------------------------------------------------
    def networks(self) -> dict[str, nn.Module]:
        return dict(self.nets)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return dict(self.optims)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale_energy("energy")(x)

    def recovery_start(self, level: int) -> torch.Tensor:
        """The recovery chain's start at ``level``: the photo one level coarser
        (a 0.75 shrink at the coarsest), upsampled."""
        size = self.sizes[level]
        coarser = self.sizes[level - 1] if level else tuple(max(round(0.75 * v), 1) for v in size)
        return resize(resize(self.source, coarser), size)

    def train_step(self, batch: torch.Tensor, record_every: int) -> StepResult:
        cfg, b = self.cfg, batch.shape[0]
        final = self.sizes[-1]
        rec_w = self.opts.recovery
        top = self.stage()
        trained = [top] if self.opts.stage_iterations else list(range(top + 1))
        self._stage_lr(top)
        x = self.coarse_start(b, self.sizes[0])
        frames: list[ChainFrame] = []
        synths: list[torch.Tensor] = []
        recs: dict[int, torch.Tensor] = {}
        extras: dict[str, torch.Tensor] = {}
        offset = 0
        descent = dataclasses.replace(cfg.sampler, noise_scale=0.0)
        for level in range(top + 1):
            size, name = self.sizes[level], self.names[level]
            x = resize(x, size)
            steps = self.steps_at(level)
            # cached(): spectrally normalised weights computed once per chain, not per step
            with frozen(self.nets[name]), parametrize.cached():
                x, fr = run_langevin(self.scale_energy(name), x, cfg.sampler, n_steps=steps,
                                     record_every=record_every, value_range=self.spec.value_range,
                                     generator=self.rng)
                if rec_w > 0 and level in trained:
                    recs[level], _ = run_langevin(self.scale_energy(name), self.recovery_start(level),
                                                  descent, n_steps=steps,
                                                  value_range=self.spec.value_range)
            frames += self._frames(fr, offset, final, keep_last=level == top, level=level)
            offset += steps
            synths.append(x)
            if level < top:
                extras[f"scale {size[1]}x{size[0]}"] = resize(x, final)
        loss = torch.zeros((), device=self.device)
        metrics: dict[str, float] = {"stage": float(top)}
        for level in trained:
            size, name, synth = self.sizes[level], self.names[level], synths[level]
            energy_fn = self.scale_energy(name)
            e_data, e_synth = energy_fn(resize(batch, size)), energy_fn(synth)
            level_loss = contrastive_loss(e_data, e_synth, cfg.train.energy_l2)
            if level in recs:  # the paper's λ_rec · (E(data) − E(recovered))
                level_loss = level_loss + rec_w * (e_data.mean() - energy_fn(recs[level]).mean())
                metrics[f"recovery_rmse_{name}"] = float(
                    (recs[level] - resize(self.source, size)).pow(2).mean().sqrt())
            loss = loss + level_loss
            metrics[f"loss_{name}"] = float(level_loss.detach())
        for opt in self.optims.values():  # backward() zeroes only the optimiser it gets
            opt.zero_grad(set_to_none=True)
        norm = self.backward(loss, self.optims[self.names[top]],
                             [self.nets[self.names[level]] for level in trained])
        metrics = {"loss": float(loss.detach()), "energy_data": float(e_data.detach().mean()),
                   "energy_sample": float(e_synth.detach().mean()), "grad_norm": norm, **metrics}
        return StepResult(metrics, resize(synths[-1], final), e_synth.detach(), frames, extras)

    def apply_update(self) -> None:
        super().apply_update()
        self.done += 1

    def sample(self, n: int, n_steps: int | None = None, record_every: int = 0,
               n_record: int = 8) -> Iterator[ChainFrame]:
        """Coarse to fine at ``aspect`` × the image's width (``task = random``), or
        the harmonisation of pasted edits from ``edit_scale`` up (``task = harmonise``).

        ``n_steps`` overrides the finer levels' steps; the coarsest keeps
        ``coarse_steps``. Frames show every level at the final size, each marked
        with its level (``segment``); the last frame's extras hold the samples at
        every coarser level (``"scale WxH"``, at the final size), as training's
        snapshots do.
        """
        o = self.opts
        sizes = pyramid_sizes(self.height, self.width, o.scales, o.min_side, o.aspect)
        first = 0
        if o.task == "harmonise":
            sizes = list(self.sizes)
            first = o.edit_scale
            self.edit_inputs = self.paste_edit(n)
            x = self.edit_inputs
        else:
            x = self.coarse_start(n, sizes[0])
        final = sizes[-1]
        offset = 0
        coarser: dict[str, np.ndarray] = {}  # each finished coarser level's samples
        for level in range(first, len(sizes)):
            name, size = self.names[level], sizes[level]
            steps = self.steps_at(level, n_steps)  # a harmonisation from 0: coarse_steps
            x = resize(x, size)
            with frozen(self.nets[name]), parametrize.cached():
                for frame in langevin(self.scale_energy(name), x, self.cfg.sampler, n_steps=steps,
                                      record_every=record_every, n_record=n_record,
                                      value_range=self.spec.value_range, generator=self.rng):
                    last = frame.step == steps
                    if last:
                        x = torch.from_numpy(frame.x).to(self.device)
                    if last and name != "energy":
                        shown = resize(torch.from_numpy(frame.x), final).numpy()
                        coarser[f"scale {size[1]}x{size[0]}"] = shown
                    if name == "energy" or not last:
                        keep = frame.x if last else frame.x[:n_record]
                        yield ChainFrame(frame.step + offset,
                                         resize(torch.from_numpy(keep), final).numpy(),
                                         frame.energy[:len(keep)].copy(),
                                         extras=coarser if last else {}, segment=level)
            offset += steps

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {"source": self.source, "done": self.done}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        if "source" in tensors:
            self.source = tensors["source"].to(self.device).clone()
        if "done" in tensors:
            self.done = tensors["done"].cpu().clone()

    # --- evaluation ------------------------------------------------------------
    def evaluate(self, dataset: Dataset, n: int, seed: int = 0) -> dict[str, float]:
        """Patch nearest-neighbour distance to the source (samples at the image's
        shape and 2× wide) and Gram distance per level, with same-call references:
        ``patch_nn_copy`` (0, copying), ``patch_nn_flipped`` (the source upside
        down) and ``patch_nn_blurred`` (the coarsest level upsampled)."""
        from ebm_engine.metrics.patches import patch_nn_distance
        from ebm_engine.metrics.texture import gram_distance

        n = min(n, 16)
        src = self.source.cpu()
        values: dict[str, float] = {}
        saved = self.opts
        try:
            self.opts = dataclasses.replace(saved, aspect=1.0, task="random")
            samples = torch.from_numpy(list(self.sample(n))[-1].x)
            self.opts = dataclasses.replace(saved, aspect=2.0, task="random")
            wide = torch.from_numpy(list(self.sample(max(n // 2, 1)))[-1].x)
        finally:
            self.opts = saved
        values["patch_nn"] = patch_nn_distance(samples, src)
        values["patch_nn_wide"] = patch_nn_distance(wide, src)
        values["patch_nn_copy"] = patch_nn_distance(src, src)
        values["patch_nn_flipped"] = patch_nn_distance(src.flip(-2), src)
        values["patch_nn_blurred"] = patch_nn_distance(resize(resize(src, self.sizes[0]),
                                                              self.sizes[-1]), src)
        for level, size in enumerate(self.sizes):
            values[f"gram_scale{level}"] = gram_distance(resize(samples, size), resize(src, size))
        values["gram_wide"] = gram_distance(wide, src)
        values["scored"] = float(n)  # at most 16 samples (and half as many wide)
        return values

