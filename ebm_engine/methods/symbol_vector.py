"""Latent EBM coupling a symbol and a vector: semi-supervised classification
(Pang & Wu, "Latent space energy-based model of symbol-vector coupling",
ICML 2021).

A label ``y ∈ {1…K}`` (one-hot) and a latent vector ``z`` share one
energy-based prior; a top-down generator makes the image from ``z``::

    p_α(y, z) ∝ exp(⟨y, f_α(z)⟩) p₀(z),     p₀ = N(0, σ₀² I),
    x = g_β(z) + ε,                          ε ~ N(0, s² I).

``f_α`` is an MLP with K outputs (:class:`~ebm_engine.models.sequence.LatentPrior`).
Summing ``y`` out gives the marginal prior ``p_α(z) ∝ exp(logsumexp_y f_α(z)_y) p₀(z)``
and the classifier ``p_α(y | z) = softmax(f_α(z))_y``. Energies
(lower = more probable)::

    E_α(z)    = −logsumexp_y f_α(z)_y + |z|²/2σ₀²     (marginal)
    E_α(y, z) = −f_α(z)_y + |z|²/2σ₀² = E_α(z) − log p_α(y | z).

Unlabelled images train through the marginal ``log p(x)``, labelled ones
through the joint ``log p(x, y)``. Both gradients are expectations over the
posterior of ``z`` (short-run Langevin: ``p(z | x)`` on
``E_α(z) + |x − g(z)|²/2s²``, ``p(z | x, y)`` on ``E_α(y, z) + …``) and share
the negative phase over prior samples ``z⁻ ~ p_α(z)``::

    ∇α log p(x)    = E_{p(z|x)}[∇α logsumexp f_α(z)] − E_{p_α(z)}[∇α logsumexp f_α(z)]
    ∇α log p(x, y) = E_{p(z|x,y)}[∇α f_α(z)_y]     − E_{p_α(z)}[∇α logsumexp f_α(z)]
    ∇β log p(x[, y]) = E_{posterior}[∇β log p_β(x | z)].

Since ``f_y = logsumexp f − CE(f, y)``, the labelled term is the marginal's
plus the cross-entropy ``−log p_α(y | z⁺)``; knob ``ce_weight`` scales the
cross-entropy (1 = the joint's exact gradient) and ``unlabelled_weight`` the
unlabelled images' share (0 = supervised only: the ablation).

Information bottleneck (the paper's SVEBM-IB): ``ib_weight · I(y; z)`` is
added to the objective, with the mutual information of the label and the
latent estimated on the unlabelled posterior samples,
``I(y; z) ≈ H(mean_i p_α(y | z⁺_i)) − mean_i H(p_α(y | z⁺_i))``: it asks
each latent to name one symbol clearly (low conditional entropy) while all
symbols stay in use (high marginal entropy), so unlabelled images sharpen
the class regions of the prior, not only its density.

Classification of a new ``x``: ``p(y | x) ≈ mean_chains softmax f_α(z)`` with
``z ~ p(z | x)`` from ``classify_chains`` posterior chains. ``metrics["accuracy"]``
is the held-out accuracy of the data's ``meta["heldout_items"]`` every ``eval_every``
iterations. Snapshot extra ``"samples by class"``: ``class_samples``
class-conditional samples ``g(z)``, ``z ~ p_α(z | y)``, one row per class after
the class's glyph; ``"original | reconstruction"``: a few unlabelled images,
each beside ``g(z⁺)`` of its posterior latent.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ebm_engine.errors import ConfigError, DataError
from ebm_engine.export.by_class import class_rows
from ebm_engine.methods._symbol_vector_parts import (
    class_mosaic,
    labelled_split,
    mutual_information,
    side_by_side,
)
from ebm_engine.methods.base import GENERATOR_BETAS, LearningMethod, StepResult, register_method
from ebm_engine.models.generator import MLPGenerator, build_generator
from ebm_engine.models.sequence import LatentPrior
from ebm_engine.options import MAX_DRAWS, MAX_UNITS, knob
from ebm_engine.sampling import ChainFrame, frozen
from ebm_engine.sampling.langevin import langevin, run_langevin

# Seed of the held-out scoring chains: every evaluation draws the same noise.
EVAL_SEED = 20210718
#: Snapshot extra of unlabelled images beside their reconstructions, and how many.
RECON_EXTRA = "original | reconstruction"
RECON_PAIRS = 16
#: Model space of the images (and of the glyphs leading the snapshot's class rows).
MODEL_RANGE = (-1.0, 1.0)


@dataclasses.dataclass(frozen=True)
class SymbolVectorOptions:
    """Knobs of the symbol-vector latent EBM.

    Attributes
    ----------
    n_classes : int
        K, the number of symbols (labels 0…K−1; −1 marks an unlabelled item).
    z_dim : int
        Latent size.
    generator : str
        ``mlp`` (hidden layers of ``gen_width`` units, tanh output; fast on a CPU)
        or ``conv`` (DCGAN-style, base width ``gen_width`` channels).
    gen_width : int
        Generator width (hidden units or base channels).
    gen_lr : float
        Generator Adam learning rate (train.lr is the prior's).
    obs_sigma : float
        s: observation noise of x = g(z) + ε.
    post_steps : int
        Posterior Langevin steps per iteration (exact Langevin).
    post_step_size : float
        Step size δ of the posterior Langevin.
    labelled_batch : int
        Labelled items per iteration (drawn with replacement from the labelled set).
    unlabelled_weight : float
        Weight of the unlabelled images' term (0 = supervised only).
    ce_weight : float
        Weight of the labelled cross-entropy −log p(y | z⁺) (1 = the joint likelihood).
    ib_weight : float
        λ of the information bottleneck term λ·I(y; z) on unlabelled latents (0 = off).
    eval_every : int
        Iterations between held-out accuracy evaluations.
    classify_steps : int
        Posterior Langevin steps when classifying.
    classify_chains : int
        Posterior chains per item whose p(y | z) are averaged.
    class_samples : int
        Class-conditional samples per class in snapshots (0 = none).
    sample_class : int
        Class that sampling draws from (−1 = every class in turn, one row per class).
    """

    n_classes: int = knob(10, ge=2, live=False, unit="classes")
    z_dim: int = knob(16, ge=1, le=MAX_UNITS, live=False, sizes=("generator",))
    generator: str = knob("mlp", choices=("mlp", "conv"), live=False)
    gen_width: int = knob(256, ge=1, le=MAX_UNITS, live=False, sizes=("generator",))
    gen_lr: float = knob(1e-3, gt=0)
    obs_sigma: float = knob(0.3, gt=0)
    post_steps: int = knob(20, ge=1, unit="steps")
    post_step_size: float = knob(0.1, gt=0)
    labelled_batch: int = knob(32, ge=1, le=MAX_DRAWS, unit="items")
    unlabelled_weight: float = knob(1.0, ge=0)
    ce_weight: float = knob(1.0, ge=0)
    ib_weight: float = knob(0.0, ge=0)
    eval_every: int = knob(50, ge=1, unit="iterations")
    classify_steps: int = knob(40, ge=1, unit="steps")
    classify_chains: int = knob(4, ge=1, le=MAX_DRAWS, unit="chains")
    class_samples: int = knob(10, ge=0, le=MAX_DRAWS, unit="samples")
    sample_class: int = knob(-1, ge=-1, sampling=True)


@register_method("symbol_vector")
class SymbolVectorEBM(LearningMethod):
    """Generator with a latent EBM prior coupling a label and a vector (semi-supervised)."""

    Options = SymbolVectorOptions
    kinds = ("image",)

    #: which way the metrics of :meth:`evaluate` improve
    better = {"accuracy": "higher", "accuracy_supervised": "higher",
              "accuracy_logistic": "higher", "class_sample_accuracy": "higher"}

    @classmethod
    def check(cls, opts, cfg, spec) -> None:
        if opts.sample_class >= opts.n_classes:
            raise ConfigError(f"train.options.sample_class must be < n_classes ({opts.n_classes}), "
                              f"got {opts.sample_class}")

    def build(self) -> None:
        cfg, o, dev = self.cfg, self.opts, self.device
        m = cfg.model
        width, depth = (m.width, m.depth) if m.name == "mlp" else (200, 2)
        self.prior = LatentPrior(o.z_dim, width, depth, o.n_classes, m.spectral_norm).to(dev)
        if o.generator == "conv":
            self.gen = build_generator(o.z_dim, self.spec.item_shape, o.gen_width,
                                       batch_norm=False).to(dev)
        else:  # tanh: images live in [-1, 1]
            self.gen = torch.nn.Sequential(MLPGenerator(o.z_dim, self.spec.item_shape,
                                                        o.gen_width, depth=2),
                                           torch.nn.Tanh()).to(dev)
        self.opt = self.adam(self.prior.parameters())
        self.gen_opt = self.adam(self.gen.parameters(), lr_knob="gen_lr", betas=GENERATOR_BETAS)
        self.step = 0
        self._accuracy = float("nan")
        self.labelled_items = torch.zeros(0, *self.spec.item_shape, device=dev)
        self.labels = torch.zeros(0, dtype=torch.long, device=dev)
        self.heldout: tuple[torch.Tensor, torch.Tensor] | None = None
        if self.dataset is not None:
            self._read_labels()

    def _read_labels(self) -> None:
        from ebm_engine.data.labelled import check_class_count

        check_class_count(self.dataset, self.opts.n_classes, "symbol_vector")  # names them
        lab, self.heldout = labelled_split(self.dataset, self.opts.n_classes)
        self.labelled_items, self.labels = (t.to(self.device) for t in lab)
        if self.heldout is not None:
            self.heldout = tuple(t.to(self.device) for t in self.heldout)

    # --- energies ------------------------------------------------------------
    def _reference(self, z: torch.Tensor) -> torch.Tensor | float:
        sigma = self.cfg.sampler.reference_sigma
        return 0.0 if math.isinf(sigma) else z.pow(2).sum(1) / (2 * sigma ** 2)

    def prior_energy(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """``E_α(z)`` (marginal, ``y=None``) or ``E_α(y, z)`` (class ``y`` per row)."""
        f = self.prior(z).float()
        coupled = torch.logsumexp(f, 1) if y is None else f.gather(1, y[:, None]).squeeze(1)
        return -coupled + self._reference(z)

    def joint_energy(self, x: torch.Tensor, z: torch.Tensor,
                     y: torch.Tensor | None = None) -> torch.Tensor:
        """``−log p(x, z[, y])`` up to a constant: ``E_α([y,] z) + |x − g(z)|²/2s²``."""
        sq = (x - self.gen(z)).flatten(1).pow(2).sum(1)
        return self.prior_energy(z, y) + sq / (2 * self.opts.obs_sigma ** 2)

    def infer(self, x: torch.Tensor, y: torch.Tensor | None = None, n_steps: int | None = None,
              generator: torch.Generator | None = None) -> torch.Tensor:
        """Posterior latents ``z ~ p(z | x[, y])``: short-run Langevin from ``N(0, I)``."""
        x = x.detach()
        rng = self.rng if generator is None else generator
        pcfg = dataclasses.replace(self.cfg.sampler, n_steps=n_steps or self.opts.post_steps,
                                   step_size=self.opts.post_step_size, noise_scale=1.0,
                                   grad_scale=1.0, clamp=False)
        z0 = torch.randn(x.shape[0], self.opts.z_dim, device=self.device, generator=rng)
        with frozen(self.prior, self.gen):
            z, _ = run_langevin(lambda zz: self.joint_energy(x, zz, y), z0, pcfg, generator=rng)
        return z

    def class_probabilities(self, x: torch.Tensor, generator: torch.Generator | None = None
                            ) -> torch.Tensor:
        """``p(y | x) ≈ mean softmax f_α(z)`` over ``classify_chains`` chains ``z ~ p(z | x)``."""
        o = self.opts
        reps = x.repeat_interleave(o.classify_chains, 0)
        z = self.infer(reps, n_steps=o.classify_steps, generator=generator)
        with torch.no_grad():
            p = F.softmax(self.prior(z).float(), 1)
        return p.view(x.shape[0], o.classify_chains, -1).mean(1)

    def accuracy(self, x: torch.Tensor, y: torch.Tensor, chunk: int = 256) -> float:
        """Accuracy of ``argmax p(y | x)`` (fixed scoring noise: same model, same number)."""
        gen = torch.Generator(device=self.device).manual_seed(EVAL_SEED)
        correct = 0
        for xs, ys in zip(x.split(chunk), y.split(chunk), strict=True):
            correct += int((self.class_probabilities(xs, gen).argmax(1) == ys).sum())
        return correct / max(len(y), 1)

    def held_out_accuracy(self) -> float:
        """Accuracy on the data's held-out items (NaN without them)."""
        if self.heldout is None:
            return float("nan")
        return self.accuracy(*self.heldout)

    # --- LearningMethod ----------------------------------------------------
    def networks(self) -> dict[str, torch.nn.Module]:
        return {"prior": self.prior, "generator": self.gen}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"prior": self.opt, "generator": self.gen_opt}

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """``−log p(x, z)`` at one posterior draw ``z`` (the marginal is intractable)."""
        z = self.infer(x)
        return self.joint_energy(x, z)

    def _prior_chain(self, y: torch.Tensor | None, n: int, record_every: int = 0
                     ) -> tuple[torch.Tensor, list[ChainFrame]]:
        z0 = torch.randn(n, self.opts.z_dim, device=self.device, generator=self.rng)
        with frozen(self.prior):
            return run_langevin(lambda z: self.prior_energy(z, y), z0, self.cfg.sampler,
                                record_every=record_every, generator=self.rng)

    def _to_data_frame(self, frame: ChainFrame) -> ChainFrame:
        with torch.no_grad():
            x = self.gen(torch.from_numpy(frame.x).to(self.device))
        return ChainFrame(frame.step, x.float().cpu().numpy().copy(), frame.energy)

    def train_step(self, batch: torch.Tensor, record_every: int) -> StepResult:
        o = self.opts
        if len(self.labels) == 0:
            raise DataError("method 'symbol_vector' trains on labelled data; none was loaded")
        pick = torch.randint(len(self.labels), (o.labelled_batch,), device=self.device,
                             generator=self.rng)
        x_l, y_l = self.labelled_items[pick], self.labels[pick]
        z_neg, frames = self._prior_chain(None, batch.shape[0], record_every)
        z_l = self.infer(x_l, y_l)
        w_u = o.unlabelled_weight
        z_u = self.infer(batch) if w_u > 0 else None
        # Prior: the posterior latents are the "data" of a maximum-likelihood step.
        e_pos = self.prior_energy(z_l).mean()
        if z_u is not None:
            e_pos = (e_pos + w_u * self.prior_energy(z_u).mean()) / (1 + w_u)
        e_neg = self.prior_energy(z_neg).mean()
        ce = F.cross_entropy(self.prior(z_l).float(), y_l)
        loss = e_pos - e_neg + o.ce_weight * ce
        info = torch.zeros(())
        if z_u is not None and o.ib_weight > 0:
            info = mutual_information(self.prior(z_u).float())
            loss = loss - o.ib_weight * w_u * info
        if self.cfg.train.energy_l2 > 0:
            loss = loss + self.cfg.train.energy_l2 * (e_pos.pow(2) + e_neg.pow(2))
        norm = self.backward(loss, self.opt, [self.prior])
        # Generator: maximise log p(x | z⁺) over labelled and unlabelled images.
        sq_l = (x_l - self.gen(z_l)).flatten(1).pow(2).sum(1).mean()
        recon = None
        sq = sq_l
        if z_u is not None:
            recon = self.gen(z_u)
            sq = (sq_l + w_u * (batch - recon).flatten(1).pow(2).sum(1).mean()) / (1 + w_u)
        gen_loss = sq / (2 * o.obs_sigma ** 2)
        gen_norm = self.backward(gen_loss, self.gen_opt, [self.gen], clip=False)
        # Scored before the update, like the loss: the model this step started from.
        held = self.heldout is not None  # data without held-out items: no accuracy to report
        if held and (math.isnan(self._accuracy) or self.step % o.eval_every == 0):
            self._accuracy = self.held_out_accuracy()
        with torch.no_grad():
            samples = self.gen(z_neg)
        extras = {}
        if record_every or (self.step + 1) % self.cfg.train.sample_every == 0:
            extras = self._extras(recon, batch)
        metrics = {
            "loss": float(loss.detach()),
            "energy_data": float(e_pos.detach()),
            "energy_sample": float(e_neg.detach()),
            "grad_norm": norm,
            "cross_entropy": float(ce.detach()),
            "mutual_information": float(info.detach()),
            "gen_loss": float(gen_loss.detach()),
            "recon_mse": float(sq.detach()) / math.prod(self.spec.item_shape),
            "gen_grad_norm": gen_norm,
        }
        if held:
            metrics["accuracy"] = self._accuracy
        return StepResult(metrics, samples, self.prior_energy(z_neg).detach(),
                          [self._to_data_frame(f) for f in frames], extras)

    def _extras(self, recon: torch.Tensor | None, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        if self.opts.class_samples:
            per_class = self.opts.class_samples
            # Own noise: what a snapshot shows never shifts the training stream (exact resume).
            gen = torch.Generator(device=self.device).manual_seed(EVAL_SEED + self.step)
            samples = self.samples_by_class(per_class, generator=gen)
            # each row led by its class's glyph (the rows were unlabelled), laid out as
            # the exports and the app's grid lay out sampled classes; one row per class
            classes = np.repeat(np.arange(self.opts.n_classes), per_class)
            tiles, per_row, _, _ = class_rows(samples.detach().float().cpu().numpy(), classes,
                                              columns=per_class, value_range=MODEL_RANGE)
            out["samples by class"] = class_mosaic(torch.from_numpy(tiles), per_row)
        if recon is not None:
            # each cell the image beside its reconstruction (a few: readable cells, a
            # small snapshot); alone, the reconstructions could not be judged
            k = min(RECON_PAIRS, len(recon))
            out[RECON_EXTRA] = side_by_side(batch[:k].detach(), recon[:k].detach())
        return out

    def samples_by_class(self, per_class: int, n_steps: int | None = None,
                         generator: torch.Generator | None = None) -> torch.Tensor:
        """``g(z)``, ``z ~ p_α(z | y)``: ``per_class`` samples of each class, class-major
        (a grid ``per_class`` wide has one row per class)."""
        k = self.opts.n_classes
        y = torch.arange(k, device=self.device).repeat_interleave(per_class)
        rng = self.rng if generator is None else generator
        z0 = torch.randn(len(y), self.opts.z_dim, device=self.device, generator=rng)
        with frozen(self.prior):
            z, _ = run_langevin(lambda zz: self.prior_energy(zz, y), z0, self.cfg.sampler,
                                n_steps=n_steps, generator=rng)
        with torch.no_grad():
            return self.gen(z)

    def apply_update(self) -> None:
        super().apply_update()
        self.step += 1

    def sample_classes(self, n: int) -> torch.Tensor:
        """Classes of ``n`` samples: ``sample_class``, or every class in turn (class-major)."""
        k = self.opts.sample_class
        if k >= 0:
            return torch.full((n,), k, dtype=torch.long, device=self.device)
        return torch.arange(n, device=self.device) * self.opts.n_classes // n

    def sample(
        self, n: int, n_steps: int | None = None, record_every: int = 0, n_record: int = 8
    ) -> Iterator[ChainFrame]:
        """Class-conditional prior Langevin in latent space, each frame shown through ``g``.

        Samples of class ``sample_class``, or (−1) of every class in turn, class-major;
        the last frame's ``extras["sample_class"]`` holds each sample's class (a PNG
        export then has one row per class).
        """
        y = self.sample_classes(n)
        z0 = torch.randn(n, self.opts.z_dim, device=self.device, generator=self.rng)
        with frozen(self.prior, self.gen):
            frames = langevin(lambda z: self.prior_energy(z, y), z0, self.cfg.sampler,
                              n_steps=n_steps, record_every=record_every, n_record=n_record,
                              generator=self.rng)
            previous = next(frames)
            for frame in frames:
                yield self._to_data_frame(previous)
                previous = frame
        last = self._to_data_frame(previous)
        yield dataclasses.replace(last, extras={"sample_class": y.cpu().numpy()})

    def evaluate(self, dataset, n: int, seed: int) -> dict[str, float]:
        """Held-out accuracy with the supervised-only baselines of the same run
        (:func:`ebm_engine.metrics.semisup.evaluate_semisup`)."""
        from ebm_engine.metrics.semisup import evaluate_semisup

        return evaluate_semisup(self, dataset, n, seed)

    # --- state ------------------------------------------------------------------
    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {"symbol_vector.step": torch.tensor(self.step),
                "symbol_vector.accuracy": torch.tensor(self._accuracy, dtype=torch.float64)}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        if "symbol_vector.step" in tensors:
            self.step = int(tensors["symbol_vector.step"])
        if "symbol_vector.accuracy" in tensors:
            self._accuracy = float(tensors["symbol_vector.accuracy"])

