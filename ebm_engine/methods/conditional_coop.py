"""Supervised conditional learning with cooperative networks (Xie, Zheng, Fang, Zhu & Wu,
"Cooperative training of fast thinking initializer and slow thinking solver for
conditional learning", TPAMI 2021).

A conditional EBM ``p_θ(y | c) ∝ exp(f_θ(c, y))`` (the *slow-thinking solver*:
Langevin on ``E_θ(c, y) = −f_θ(c, y) + |y|²/2σ²``) and a *fast-thinking
initializer* ``ŷ = g_α(c, z)``, ``z ~ N(0, I)``, learn together from pairs
``(c, y)``. Each iteration:

1. initialisation: ``ŷ = g_α(c, z)``;
2. solving: ``n_steps`` Langevin steps on ``E_θ(c, ·)`` from ``ŷ`` end at ``ỹ``;
3. solver, maximum likelihood of ``y`` given ``c``:
   ``∇θ L = mean ∇θ f(c, y) − mean ∇θ f(c, ỹ)``;
4. optional latent revision (``latent_steps``): Langevin on
   ``|ỹ − g_α(c, z)|² / 2s² + |z|²/2`` infers the ``z`` that explains ``ỹ``
   (so different ``z`` come to mean different answers);
5. initializer, MCMC teaching: ``min_α mean |ỹ − g_α(c, z)|² / 2s²``
   (it learns to jump where the solver's chains go); with ``teach_after`` and
   ``data_weight`` > 0 only after that many updates from the data alone (6);
6. optional, ``data_weight`` > 0: the initializer also learns the observed
   pairs by alternating back-propagation: the ``z`` that explains the
   observed ``y`` is inferred, starting from the best of ``data_latent_draws``
   prior draws (lowest latent energy, below) and refined by
   ``data_latent_steps`` of Langevin, then
   ``min_α data_weight · |y − g_α(c, z)|² / 2s²``. When one condition has
   several answers (a scene with two odd items, each the target in half of
   its pairs), the inferred ``z`` differ with the answer, so ``z`` comes to
   choose among them instead of the initializer drawing their average.
   (Langevin alone starts from ``z`` that the untrained initializer ignores
   and barely moves them; the best of several draws breaks the tie at once.)

``condition`` says what ``c`` is (the data layout, see
:mod:`ebm_engine.data.conditional_demos`):

- ``mask``: items are images; ``c`` is the image with a random box hidden
  (plus the mask), ``y`` the whole image (inpainting);
- ``label``: items are pairs ``glyph | image``; ``c`` the glyph's class (one-hot);
- ``image``: items are pairs ``picture | output``; ``c`` the picture
  (``output_channels`` of the output half are learned, e.g. a saliency map).

Snapshots and samples show **condition | initializer | after Langevin** side
by side (one picture per item); a one-channel output next to a colour
condition is drawn as a heat overlay on it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator

import torch

from ebm_engine.config import DataConfig
from ebm_engine.data.conditional_demos import glyph_bank, glyph_labels
from ebm_engine.errors import ConfigError
from ebm_engine.methods.base import (
    GENERATOR_BETAS,
    LearningMethod,
    StepResult,
    contrastive_loss,
    register_method,
)
from ebm_engine.models.conditional import ConditionalEnergy, ConditionalInitializer
from ebm_engine.models.feature_contrast import PLANES as CONTRAST_PLANES
from ebm_engine.models.feature_contrast import feature_contrast
from ebm_engine.options import MAX_DRAWS, MAX_UNITS, knob
from ebm_engine.sampling import ChainFrame, frozen
from ebm_engine.sampling.langevin import langevin, run_langevin

CONDITIONS = ("mask", "label", "image")
# Demos that have a held-out split (data.options.split = "test").
# Teaching targets stay this far (a fraction of the half range) inside the value range.
TEACH_MARGIN = 0.05
SPLIT_DEMOS = ("digits-inpainting", "digits-class-conditional", "saliency-popout")


@dataclasses.dataclass(frozen=True)
class ConditionalCoopOptions:
    """Knobs of conditional cooperative learning.

    Attributes
    ----------
    condition : str
        What the condition is: ``mask`` (inpainting), ``label`` or ``image``.
    n_classes : int
        Classes of a ``label`` condition.
    output_channels : int
        Channels of the output half to learn (0 = all).
    mask_min, mask_max : float
        Side of the hidden box, as a fraction of the image side (``mask``).
    z_dim : int
        Initializer noise size.
    gen_width : int
        Initializer base width.
    gen_lr : float
        Initializer Adam learning rate.
    gen_sigma : float
        s: the initializer's assumed residual noise in MCMC teaching.
    latent_steps : int
        Langevin steps inferring ``z`` for the revised outputs (0 = off).
    latent_step_size : float
        Step size of that latent Langevin.
    eval_draws : int
        Outputs drawn per condition by ``ebm eval`` (saliency diversity).
    data_weight : float
        Weight of the initializer's learning from observed pairs with inferred
        ``z`` (step 6; 0 = MCMC teaching only).
    data_latent_steps : int
        Langevin steps inferring ``z`` for the observed outputs (step 6).
    data_latent_draws : int
        Prior draws of ``z`` per observed output; the inference starts from the
        one with the lowest latent energy (step 6).
    context : bool
        Scene-wide context in both networks (``ebm_engine.models.conditional``):
        pop-out saliency compares each item with all the others.
    teach_after : int
        Initializer updates that learn from the observed pairs only (step 6,
        needs ``data_weight`` > 0) before MCMC teaching starts: an untrained
        solver's answers are worse than the data's, so teaching them first
        only drags the initializer away from the maps (0 = teach from the start).
    contrast : bool
        ``image`` condition: append fixed feature-contrast planes (colour,
        orientation, size against the scene's mean,
        :mod:`ebm_engine.models.feature_contrast`) to the picture for both
        networks (pop-out saliency; the learned nets alone find only size).
    """

    condition: str = knob("mask", choices=CONDITIONS, live=False)
    n_classes: int = knob(10, ge=2, live=False, when={"condition": ("label",)})
    output_channels: int = knob(0, ge=0, live=False, unit="channels",
                                when={"condition": ("label", "image")})
    mask_min: float = knob(0.3, gt=0, le=1, when={"condition": ("mask",)}, sampling=True)
    mask_max: float = knob(0.6, gt=0, le=1, when={"condition": ("mask",)}, sampling=True)
    z_dim: int = knob(8, ge=1, le=MAX_UNITS, live=False, sizes=("generator",))
    gen_width: int = knob(32, ge=1, le=MAX_UNITS, live=False, unit="channels", sizes=("generator",))
    gen_lr: float = knob(1e-3, gt=0)
    gen_sigma: float = knob(0.3, gt=0)
    latent_steps: int = knob(0, ge=0, unit="steps")
    latent_step_size: float = knob(0.1, gt=0)
    eval_draws: int = knob(6, ge=2, le=MAX_DRAWS)
    data_weight: float = knob(0.0, ge=0)
    data_latent_steps: int = knob(10, ge=0, unit="steps")
    data_latent_draws: int = knob(1, ge=1, le=MAX_DRAWS)
    context: bool = knob(False, live=False)
    teach_after: int = knob(0, ge=0, unit="iterations")
    contrast: bool = knob(False, live=False, when={"condition": ("image",)})


def layout(opts: ConditionalCoopOptions, item_shape: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
    """``(condition planes, output shape)`` for items of ``item_shape``; raise ConfigError."""
    if len(item_shape) != 3:
        raise ConfigError(f"conditional_coop learns images, got items of shape {item_shape}")
    c, h, w = item_shape
    if opts.condition == "mask":
        if w == 2 * h:  # the network's "needs square images" would not say why
            raise ConfigError(
                f"condition 'mask' inpaints whole pictures, but these items are {c}x{h}x{w}: "
                "two pictures side by side (condition | output); set train.options.condition "
                "to 'image' (or 'label' for class glyphs) to learn the right half from the left")
        return c + 1, (c, h, w)
    if w != 2 * h:
        pairs = ("data.options.labels=folders --set data.options.pairs=labels"
                 if opts.condition == "label" else "data.options.pairs=TARGET_FOLDER")
        raise ConfigError(f"condition {opts.condition!r} needs each item as condition | output "
                          f"side by side (C, H, 2H), got items of {c}x{h}x{w}; for a folder of "
                          f"pictures, --set {pairs}")
    out = opts.output_channels or c
    if out > c:
        raise ConfigError(f"train.options.output_channels must be <= {c}, got {out}")
    if opts.condition == "label":
        return opts.n_classes, (out, h, h)
    if opts.contrast and c != 3:
        raise ConfigError(f"train.options.contrast needs RGB pictures, got {c} channels")
    return c + (CONTRAST_PLANES if opts.contrast else 0), (out, h, h)


@register_method("conditional_coop")
class ConditionalCoop(LearningMethod):
    """Conditional EBM solver + fast initializer (cooperative conditional learning)."""

    learns_from_chains = True
    cells_are = "each cell: condition | initializer | after Langevin"  # compose()

    Options = ConditionalCoopOptions
    kinds = ("image",)

    @classmethod
    def check(cls, opts, cfg, spec) -> None:
        if opts.mask_min > opts.mask_max:
            raise ConfigError("train.options.mask_min must be <= mask_max")
        if spec is not None:
            layout(opts, spec.item_shape)

    def build(self) -> None:
        o = self.opts
        self.c_channels, self.y_shape = layout(o, self.spec.item_shape)
        if o.condition == "label" and self.dataset is not None:
            from ebm_engine.data.labelled import check_class_count

            check_class_count(self.dataset, o.n_classes, "conditional_coop")
            from ebm_engine.data.conditional_demos import check_glyphs

            check_glyphs(self.dataset.take(torch.arange(min(64, len(self.dataset)))), o.n_classes)
        encoder = max(8, o.gen_width // 2) if o.context else 0
        self.net = ConditionalEnergy(self.cfg.model, self.c_channels, self.y_shape,
                                     encoder).to(self.device)
        self.gen = ConditionalInitializer(self.c_channels, self.y_shape[0], self.y_shape[1],
                                          o.z_dim, o.gen_width, context=o.context).to(self.device)
        self.opt = self.adam(self.net.parameters())
        self.gen_opt = self.adam(self.gen.parameters(), lr_knob="gen_lr", betas=GENERATOR_BETAS)
        self._heldout = None

    def networks(self) -> dict[str, torch.nn.Module]:
        return {"energy": self.net, "generator": self.gen}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"energy": self.opt, "generator": self.gen_opt}

    # --- the condition ---------------------------------------------------------
    def prepare(self, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(c, y, shown)``: condition planes, target output and the condition's picture."""
        o = self.opts
        if o.condition == "mask":
            keep = self.masks(items.shape[0], items.shape[-2], items.shape[-1])
            shown = items * keep  # hidden pixels grey (0), visible as they are
            return torch.cat([shown, keep * 2 - 1], 1), items, shown
        side = items.shape[-2]
        left, right = items[..., :side], items[..., side:]
        y = right[:, : self.y_shape[0]]
        if o.condition == "label":
            return self.label_planes(glyph_labels(left[:, :1].float(), o.n_classes)), y, left
        return self.picture_condition(left), y, left

    def picture_condition(self, picture: torch.Tensor) -> torch.Tensor:
        """An ``image`` condition's planes: the picture (plus its contrast planes)."""
        if self.opts.contrast:
            return torch.cat([picture, feature_contrast(picture)], 1)
        return picture

    def label_planes(self, labels: torch.Tensor) -> torch.Tensor:
        """One-hot label planes ``(B, n_classes, S, S)``."""
        onehot = torch.nn.functional.one_hot(labels.to(self.device), self.opts.n_classes).float()
        side = self.y_shape[-1]
        return onehot[:, :, None, None].expand(-1, -1, side, side) * 2 - 1

    def masks(self, n: int, h: int, w: int) -> torch.Tensor:
        """``(n, 1, h, w)``: 1 where visible, 0 in one random box per image."""
        o = self.opts
        u = torch.rand(n, 4, generator=self.rng, device=self.device)
        bh = (o.mask_min + (o.mask_max - o.mask_min) * u[:, 0]) * h
        bw = (o.mask_min + (o.mask_max - o.mask_min) * u[:, 1]) * w
        top, left = u[:, 2] * (h - bh), u[:, 3] * (w - bw)
        ys = torch.arange(h, device=self.device)[None, :, None] + 0.5
        xs = torch.arange(w, device=self.device)[None, None, :] + 0.5
        hidden = ((ys >= top[:, None, None]) & (ys < (top + bh)[:, None, None])
                  & (xs >= left[:, None, None]) & (xs < (left + bw)[:, None, None]))
        return (~hidden).float()[:, None]

    # --- the two networks --------------------------------------------------------
    def energy_given(self, c: torch.Tensor):
        """``y ↦ E_θ(c, y) = −f_θ(c, y) + |y|²/2σ²`` (lower = more probable)."""
        sigma = self.cfg.sampler.reference_sigma
        scale = 0.0 if math.isinf(sigma) else 1.0 / (2.0 * sigma**2)
        return lambda y: -self.net(c, y).float() + scale * y.flatten(1).pow(2).sum(1)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """``E_θ(c, y)`` of items in the data layout (condition from the item)."""
        c, y, _ = self.prepare(x)
        return self.energy_given(c)(y)

    def initialize(self, c: torch.Tensor) -> torch.Tensor:
        """``g_α(c, z)`` for fresh ``z ~ N(0, I)``."""
        z = torch.randn(c.shape[0], self.opts.z_dim, device=self.device, generator=self.rng)
        return self.gen(c, z)

    def solve(self, c: torch.Tensor, y0: torch.Tensor, n_steps: int | None = None) -> torch.Tensor:
        """The Langevin solver from ``y0`` (no recording)."""
        with frozen(self.net):
            y, _ = run_langevin(self.energy_given(c), y0, self.cfg.sampler, n_steps=n_steps,
                                value_range=self.spec.value_range, generator=self.rng)
        return y

    # --- learning ---------------------------------------------------------------
    def train_step(self, batch: torch.Tensor, record_every: int) -> StepResult:
        cfg = self.cfg
        c, y, shown = self.prepare(batch)
        z = torch.randn(c.shape[0], self.opts.z_dim, device=self.device, generator=self.rng)
        with torch.no_grad():
            init = self.gen(c, z)
        energy = self.energy_given(c)
        with frozen(self.net):
            revised, frames = run_langevin(energy, init, cfg.sampler, record_every=record_every,
                                           value_range=self.spec.value_range, generator=self.rng)
        e_data, e_synth = energy(y), energy(revised)
        loss = contrastive_loss(e_data, e_synth, cfg.train.energy_l2)
        net_norm = self.backward(loss, self.opt, [self.net])
        if self.opts.latent_steps > 0:
            z = self.infer_latent(c, z, revised)
        # MCMC teaching: the initializer regresses on the solver's answers, kept inside
        # its tanh range (an early solver drives whole images to the clamp; regressing
        # tanh onto ±1 saturates it for good).
        target = revised
        if self.spec.value_range is not None:
            lo, hi = self.spec.value_range
            margin = TEACH_MARGIN * (hi - lo) / 2
            target = revised.clamp(lo + margin, hi - margin)
        s2 = 2 * self.opts.gen_sigma**2
        gen_loss = torch.zeros((), device=self.device)
        if not self.warming_up():
            gen_loss = (target - self.gen(c, z)).flatten(1).pow(2).sum(1).mean() / s2
        if self.opts.data_weight > 0:
            # Step 6: the observed answers, each from the z that explains it.
            z_data = self.best_latent(c, y, self.opts.data_latent_draws)
            if self.opts.data_latent_steps > 0:
                z_data = self.infer_latent(c, z_data, y, self.opts.data_latent_steps)
            fit = (y - self.gen(c, z_data)).flatten(1).pow(2).sum(1).mean() / s2
            gen_loss = gen_loss + self.opts.data_weight * fit
        gen_norm = self.backward(gen_loss, self.gen_opt, [self.gen], clip=False)
        with torch.no_grad():
            e_init = energy(init)
        metrics = {
            "loss": float(loss.detach()),
            "energy_data": float(e_data.detach().mean()),
            "energy_sample": float(e_synth.detach().mean()),
            "energy_initializer": float(e_init.mean()),
            "gen_loss": float(gen_loss.detach()),
            "revision_mse": float((revised - init).pow(2).mean()),
            "mse_initializer": float((init - y).pow(2).mean()),
            "mse_langevin": float((revised - y).pow(2).mean()),
            "grad_norm": net_norm,
            "gen_grad_norm": gen_norm,
        }
        frames = [self.compose_frame(f, shown, init) for f in frames]
        return StepResult(metrics, self.compose(shown, init, revised), e_synth.detach(), frames)

    def warming_up(self) -> bool:
        """Whether MCMC teaching still waits (``teach_after``; the count of initializer
        updates is read from its optimizer's state, so a resumed run counts on exactly)."""
        o = self.opts
        if o.teach_after == 0 or o.data_weight == 0:
            return False
        state = next(iter(self.gen_opt.state.values()), None)
        return int(state["step"]) < o.teach_after if state else True

    def latent_energy(self, c: torch.Tensor, z: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``|target − g(c, z)|²/2s² + |z|²/2`` per item: ``−log p(target, z | c)`` + const."""
        fit = (target - self.gen(c, z)).flatten(1).pow(2).sum(1) / (2 * self.opts.gen_sigma**2)
        return fit + 0.5 * z.pow(2).sum(1)

    def best_latent(self, c: torch.Tensor, target: torch.Tensor, draws: int) -> torch.Tensor:
        """Of ``draws`` prior ``z`` per item, the one of lowest :meth:`latent_energy`."""
        n = c.shape[0]
        z = torch.randn(draws, n, self.opts.z_dim, device=self.device, generator=self.rng)
        if draws == 1:
            return z[0]
        with torch.no_grad(), frozen(self.gen):
            e = torch.stack([self.latent_energy(c, zk, target) for zk in z])  # (draws, n)
        return z[e.argmin(0), torch.arange(n, device=self.device)]

    def infer_latent(self, c: torch.Tensor, z: torch.Tensor, target: torch.Tensor,
                     n_steps: int | None = None) -> torch.Tensor:
        """Langevin on ``|target − g(c, z)|²/2s² + |z|²/2`` from ``z`` (steps 4 and 6;
        ``n_steps`` defaults to ``latent_steps``)."""
        def latent_energy(zz: torch.Tensor) -> torch.Tensor:
            return self.latent_energy(c, zz, target)

        lcfg = dataclasses.replace(self.cfg.sampler, n_steps=n_steps or self.opts.latent_steps,
                                   step_size=self.opts.latent_step_size,
                                   noise_scale=1.0, grad_scale=1.0, clamp=False)
        with frozen(self.gen):
            z, _ = run_langevin(latent_energy, z, lcfg, generator=self.rng)
        return z

    # --- pictures ---------------------------------------------------------------
    def compose(self, shown: torch.Tensor, init: torch.Tensor, solved: torch.Tensor) -> torch.Tensor:
        """``condition | initializer | after Langevin`` side by side, ``(B, C, S, 3S)``."""
        k = solved.shape[0]
        shown, init = shown[:k].to(solved), init[:k].to(solved)
        if solved.shape[1] != shown.shape[1]:
            init, solved = overlay(shown, init), overlay(shown, solved)
        return torch.cat([shown, init, solved], -1)

    def compose_frame(self, frame: ChainFrame, shown: torch.Tensor, init: torch.Tensor) -> ChainFrame:
        """``frame`` as the picture strip; its raw outputs ride along for files (``.npz``:
        the model's answers, not the strip, see :data:`ebm_engine.export.samples.RAW`)."""
        x = self.compose(shown.cpu(), init.cpu(), torch.from_numpy(frame.x))
        raw = {"output": frame.x, "initializer": init[:len(frame.x)].detach().cpu().numpy()}
        return dataclasses.replace(frame, x=x.numpy(), extras={**frame.extras, **raw})

    # --- sampling -----------------------------------------------------------------
    def class_rows(self, n: int) -> torch.Tensor:
        """The class of each of ``n`` label-conditioned samples: the classes in turn."""
        return torch.arange(n) % self.opts.n_classes

    def conditions(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(c, shown)`` of ``n`` conditions: classes in turn, or held-out items."""
        if self.opts.condition == "label":
            labels = self.class_rows(n)
            glyphs = glyph_bank(self.opts.n_classes, *self.y_shape[1:])[labels]
            glyphs = glyphs.expand(-1, self.spec.item_shape[0], -1, -1).to(self.device)
            return self.label_planes(labels), glyphs
        data = self.heldout()
        idx = torch.arange(n) % len(data)
        c, _, shown = self.prepare(data.take(idx).to(self.device))
        return c, shown

    def heldout(self):
        """The held-out split of a demo with one, else the training data."""
        if self._heldout is None:
            from ebm_engine.data import load_dataset

            d = self.cfg.data
            if d.source in SPLIT_DEMOS:
                d = DataConfig(source=d.source, image_size=d.image_size,
                               options={**d.options, "split": "test"})
                self._heldout = load_dataset(d)
            else:
                self._heldout = self.dataset if self.dataset is not None else load_dataset(d)
        return self._heldout

    def sample(self, n: int, n_steps: int | None = None, record_every: int = 0,
               n_record: int = 8) -> Iterator[ChainFrame]:
        c, shown = self.conditions(n)
        with torch.no_grad():
            init = self.initialize(c)
        with frozen(self.net, self.gen):
            for frame in langevin(self.energy_given(c), init, self.cfg.sampler, n_steps=n_steps,
                                  record_every=record_every, n_record=n_record,
                                  value_range=self.spec.value_range, generator=self.rng):
                composed = self.compose_frame(frame, shown, init)
                if self.opts.condition == "label":  # the class of each row, for files
                    labels = self.class_rows(n)[:len(composed.x)].numpy()
                    composed = dataclasses.replace(
                        composed, extras={**composed.extras, "labels": labels})
                yield composed

    # --- evaluation -----------------------------------------------------------------
    better = {"psnr_langevin": "higher", "psnr_initializer": "higher", "psnr_mean_fill": "higher",
              "accuracy_langevin": "higher", "accuracy_initializer": "higher", "chance": "reference",
              "judge_accuracy": "reference", "spread_langevin": "reference",
              "spread_initializer": "reference", "spread_data": "reference",
              "digits_fd_langevin": "lower", "digits_fd_initializer": "lower",
              "diversity_ambiguous": "higher", "diversity_unambiguous": "lower",
              "diversity_ambiguous_initializer": "higher",
              "diversity_unambiguous_initializer": "lower", "heldout": "reference",
              "energy_langevin": "reference", "energy_initializer": "reference",
              "hit_rate_langevin": "higher", "hit_rate_initializer": "higher",
              "hit_rate_chance": "reference", "hit_colour": "higher", "hit_orientation": "higher",
              "hit_size": "higher", "both_found_ambiguous": "higher",
              **{f"{m}_{who}": ("lower" if m == "kld" else "higher")
                 for m in ("cc", "kld", "auc") for who in ("langevin", "initializer", "centre_bias")}}

    #: conditions ``ebm eval`` scores by default (held-out splits hold 300-359)
    default_eval_n = 300

    def evaluate(self, dataset, n: int, seed: int) -> dict[str, float]:
        """The task's metrics with same-run baselines (:mod:`ebm_engine.metrics.conditional`)."""
        from ebm_engine.metrics.conditional import evaluate_conditional

        return evaluate_conditional(self, dataset, n, seed)


def overlay(picture: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """A one-channel output in ``[-1, 1]`` as a heat overlay on a colour picture."""
    m = ((values[:, :1] + 1) / 2).clamp(0, 1)
    heat = torch.cat([(3 * m).clamp(0, 1), (3 * m - 1).clamp(0, 1), (3 * m - 2).clamp(0, 1)], 1)
    pic = (picture[:, :3] + 1) / 2
    return (0.3 * pic + 0.7 * heat) * 2 - 1
