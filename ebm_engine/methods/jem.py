"""Joint energy-based model: a classifier is an EBM (Grathwohl et al., ICLR 2020).

The logits ``l_θ(x)`` define ``p_θ(x, y) ∝ exp(l_θ(x)[y])``; then
``p_θ(y|x)`` is the softmax classifier and ``E_θ(x) = −log Σ_y exp(l_θ(x)[y])``
(plus the reference term). Training maximises

    log p_θ(x, y) = log p_θ(y | x) + log p_θ(x),

i.e. minimises the cross-entropy on labelled data plus ``gen_weight`` times
the maximum-likelihood loss ``mean E(x_data) − mean E(x̃)`` of
:mod:`ebm_engine.methods.ml`, with ``x̃`` from short-run or persistent
Langevin (``sampler.*``). Class-conditional samples follow
``E_θ(x | y) = −l_θ(x)[y]``: the snapshots carry one persistent chain set per
class as extras ``"class 0"`` … ``"class K−1"``, and knob ``sample_class``
makes :meth:`sample` conditional.

Labels come from ``Dataset.meta["labels"]``. A fixed ``holdout`` fraction
(same split for every seed) is never trained on; ``metrics["accuracy"]`` is
the classifier's accuracy on it, refreshed every ``eval_every`` iterations.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import torch
import torch.nn.functional as F

from ebm_engine.config import RunConfig
from ebm_engine.errors import ConfigError, DataError
from ebm_engine.methods.base import DataSpec, LearningMethod, StepResult, register_method
from ebm_engine.methods.jem_init import ClassGaussians, InformedBuffer
from ebm_engine.models.classifier_energy import ClassifierEnergy
from ebm_engine.options import MAX_DRAWS, knob
from ebm_engine.sampling import ChainFrame, PersistentBuffer, frozen, noise_like
from ebm_engine.sampling.langevin import langevin, run_langevin

# Seed of the train/held-out split: fixed, so every run is scored on the same items.
SPLIT_SEED = 20200101


@dataclasses.dataclass(frozen=True)
class JointEnergyModelOptions:
    """Knobs of JEM.

    Attributes
    ----------
    n_classes : int
        Number of classes K (labels must be 0..K−1).
    holdout : float
        Fraction of the labelled items kept out of training to score accuracy.
    gen_weight : float
        Weight of the generative term log p(x) (0 = a plain classifier).
    eval_every : int
        Iterations between held-out accuracy evaluations.
    class_samples : int
        Persistent chains per class shown as snapshot extras (0 = none).
    sample_class : int
        Class that sampling draws from (−1 = unconditional).
    chain_init : {"noise", "class_gaussian"}
        Where persistent chains (replay buffer and class chains) start and
        restart: ``sampler.init_noise``, or a Gaussian fitted to each class of
        the training split (JEM++'s informative initialisation,
        :mod:`ebm_engine.methods.jem_init`).
    data_noise : float
        Standard deviation of Gaussian jitter on every labelled batch (JEM
        uses 0.03 on images in [−1, 1]): the data gets a density the chains
        can match, and the classifier is not fitted to exact pixel values.
    """

    n_classes: int = knob(10, ge=2, live=False, unit="classes")
    holdout: float = knob(0.2, ge=0, lt=1, live=False)
    gen_weight: float = knob(1.0, ge=0)
    eval_every: int = knob(10, ge=1, unit="iterations")
    class_samples: int = knob(6, ge=0, le=MAX_DRAWS, live=False, unit="chains")
    sample_class: int = knob(-1, ge=-1, sampling=True)
    chain_init: str = knob("noise", choices=("noise", "class_gaussian"), live=False)
    data_noise: float = knob(0.0, ge=0, unit="in data units")


@register_method("jem")
class JointEnergyModel(LearningMethod):
    """Classifier whose logits define an EBM, trained on labels by cross-entropy + likelihood."""

    learns_from_chains = True

    Options = JointEnergyModelOptions
    samples_are = "unconditional chains"

    @classmethod
    def check(cls, opts, cfg: RunConfig, spec: DataSpec | None) -> None:
        if cfg.sampler.init == "generator":
            raise ConfigError("sampler.init 'generator' needs a method with a generator (coopnets)")
        if opts.sample_class >= opts.n_classes:
            raise ConfigError(f"train.options.sample_class must be < n_classes ({opts.n_classes}), "
                              f"got {opts.sample_class}")

    def build(self) -> None:
        cfg, o, device, rng, dataset = self.cfg, self.opts, self.device, self.rng, self.dataset
        self.labels: torch.Tensor | None = None
        if dataset is not None:
            labels = dataset.meta.get("labels")
            if labels is None:
                raise DataError(f"{dataset.name}: method 'jem' needs labelled data: for a "
                                "folder of pictures, --set data.options.labels=folders (or "
                                "=labels.csv); or try --data digits")
            labels = torch.as_tensor(labels, dtype=torch.long)[: len(dataset)]
            if len(labels) != len(dataset):
                raise DataError(f"{dataset.name}: {len(labels)} labels for {len(dataset)} items")
            from ebm_engine.data.labelled import check_class_count

            check_class_count(dataset, o.n_classes, "jem")  # names the classes, where known
            if int(labels.min()) < 0 or int(labels.max()) >= o.n_classes:
                raise DataError(f"{dataset.name}: labels span {int(labels.min())}..{int(labels.max())}; "
                                f"set train.options.n_classes (now {o.n_classes}) to cover them")
            self.labels = labels.to(device)
        m = cfg.model
        self.net = ClassifierEnergy(self.spec.item_shape, o.n_classes, m.width, m.depth,
                                    m.spectral_norm).to(device)
        self.opt = self.adam(self.net.parameters())
        self.train_idx = self.held_idx = torch.zeros(0, dtype=torch.long, device=device)
        if self.labels is not None:
            perm = torch.randperm(len(self.labels), generator=torch.Generator().manual_seed(SPLIT_SEED))
            n_held = int(round(o.holdout * len(perm)))
            self.held_idx, self.train_idx = perm[:n_held].to(device), perm[n_held:].to(device)
        # Fitted from the training split only (deterministic: resume rebuilds the same).
        self.starts: ClassGaussians | None = None
        if o.chain_init == "class_gaussian" and self.labels is not None:
            self.starts = ClassGaussians(self.dataset_items[self.train_idx], self.labels[self.train_idx],
                                         o.n_classes, self.spec.value_range)
        self.buffer: PersistentBuffer | None = None
        if cfg.sampler.init == "persistent":
            if self.starts is not None:
                self.buffer = InformedBuffer(cfg.sampler.buffer_size, cfg.sampler, device, rng, self.starts)
            else:
                self.buffer = PersistentBuffer(cfg.sampler.buffer_size, self.spec.item_shape,
                                               cfg.sampler, device, rng)
        # one persistent chain set per class, continued at every snapshot
        n_chains = o.n_classes * o.class_samples
        if self.starts is not None:
            y = torch.arange(o.n_classes, device=device).repeat_interleave(o.class_samples)
            self.class_chains = self.starts.sample(n_chains, rng, y)
        else:
            self.class_chains = noise_like((n_chains, *self.spec.item_shape), cfg.sampler, device, rng)
        self._staged_class_chains: torch.Tensor | None = None
        self.step = 0
        self._accuracy: float | None = None

    def _fresh(self, n: int, y: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` new chain starts (of classes ``y``): noise, or the class Gaussians."""
        if self.starts is not None:
            return self.starts.sample(n, self.rng, y)
        return noise_like((n, *self.spec.item_shape), self.cfg.sampler, self.device, self.rng)

    # --- energies ------------------------------------------------------------
    def _reference(self, x: torch.Tensor) -> torch.Tensor | float:
        sigma = self.cfg.sampler.reference_sigma
        return 0.0 if sigma == float("inf") else x.flatten(1).pow(2).sum(1) / (2 * sigma**2)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return -self.net(x) + self._reference(x)

    def class_energy(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``E_θ(x | y) = −l_θ(x)[y]`` (plus the reference term)."""
        return -self.net.logits(x).gather(1, y[:, None]).squeeze(1) + self._reference(x)

    def held_out_accuracy(self) -> float:
        """Accuracy of ``argmax_y l_θ(x)[y]`` on the held-out split (NaN without one)."""
        if self.labels is None or len(self.held_idx) == 0:
            return float("nan")
        with torch.no_grad():
            correct = 0
            for chunk in self.held_idx.split(512):
                pred = self.net.logits(self.dataset_items[chunk]).argmax(1)
                correct += int((pred == self.labels[chunk]).sum())
        return correct / len(self.held_idx)

    @property
    def dataset_items(self) -> torch.Tensor:
        if not hasattr(self, "_items"):
            self._items = self.dataset.items.to(self.device)
        return self._items

    # --- LearningMethod ----------------------------------------------------
    def buffers(self) -> list[PersistentBuffer]:
        return [self.buffer] if self.buffer is not None else []

    def reconfigured(self) -> None:
        if self.buffer is not None:  # re-initialisation knobs are live
            self.buffer.cfg = self.cfg.sampler

    def networks(self) -> dict[str, torch.nn.Module]:
        return {"energy": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"energy": self.opt}

    def train_step(self, batch: torch.Tensor, record_every: int) -> StepResult:
        cfg, o = self.cfg, self.opts
        n = batch.shape[0]
        # Labelled batch from the training split (the trainer's batch has no labels
        # and may hold held-out items).
        pick = self.train_idx[torch.randint(len(self.train_idx), (n,), device=self.device,
                                            generator=self.rng)]
        x, y = self.dataset_items[pick], self.labels[pick]
        if o.data_noise > 0:
            x = x + o.data_noise * torch.randn(x.shape, device=self.device, generator=self.rng)
        logits = self.net.logits(x)
        ce = F.cross_entropy(logits, y)
        idx = None
        if self.buffer is not None:
            idx, x0 = self.buffer.draw(n)
        elif cfg.sampler.init == "data":
            x0 = x.clone()
        else:
            x0 = self._fresh(n)
        with frozen(self.net):
            synth, frames = run_langevin(self.energy, x0, cfg.sampler, record_every=record_every,
                                         value_range=self.spec.value_range, generator=self.rng)
        if idx is not None:
            self.buffer.stage(idx, synth)
        e_data = -torch.logsumexp(logits, 1) + self._reference(x)
        e_synth = self.energy(synth)
        gen = e_data.mean() - e_synth.mean()
        loss = ce + o.gen_weight * gen
        if cfg.train.energy_l2 > 0:
            loss = loss + cfg.train.energy_l2 * (e_data.pow(2).mean() + e_synth.pow(2).mean())
        norm = self.backward(loss, self.opt, [self.net])
        # The weights have not moved yet: this scores the model the step started from.
        if self._accuracy is None or self.step % o.eval_every == 0:
            self._accuracy = self.held_out_accuracy()
        extras: dict[str, torch.Tensor] = {}
        if len(self.class_chains) and (self.step + 1) % cfg.train.sample_every == 0:
            extras = self._class_snapshot()
        metrics = {
            "loss": float(loss.detach()),
            "energy_data": float(e_data.detach().mean()),
            "energy_sample": float(e_synth.detach().mean()),
            "grad_norm": norm,
            "cross_entropy": float(ce.detach()),
            "train_accuracy": float((logits.detach().argmax(1) == y).float().mean()),
        }
        if len(self.held_idx):  # holdout 0 keeps no items: no figure (a NaN read as diverged)
            metrics["accuracy"] = self._accuracy
        return StepResult(metrics, synth, e_synth.detach(), frames, extras)

    def _class_snapshot(self) -> dict[str, torch.Tensor]:
        """Continue the per-class chains by ``sampler.n_steps`` under ``E(x | y)``
        (staged like the replay buffer: :meth:`apply_update` keeps them)."""
        k_classes = self.opts.n_classes
        per_class = len(self.class_chains) // k_classes
        y = torch.arange(k_classes, device=self.device).repeat_interleave(per_class)
        with frozen(self.net):
            chains, _ = run_langevin(lambda v: self.class_energy(v, y), self.class_chains, self.cfg.sampler,
                                     value_range=self.spec.value_range, generator=self.rng)
        self._staged_class_chains = chains
        return {f"class {k}": chains[k * per_class:(k + 1) * per_class] for k in range(k_classes)}

    def apply_update(self) -> None:
        super().apply_update()
        if self._staged_class_chains is not None:
            self.class_chains, self._staged_class_chains = self._staged_class_chains, None
        self.step += 1

    def discard_update(self) -> None:
        super().discard_update()
        self._staged_class_chains = None  # a diverged step leaves the class chains as they were

    def sample(self, n: int, n_steps: int | None = None, record_every: int = 0,
               n_record: int = 8) -> Iterator[ChainFrame]:
        """Unconditional samples, or of class ``sample_class`` (from that class's
        persistent chains when there are some, else from noise)."""
        energy_fn = self.energy
        k = self.opts.sample_class
        if k >= 0:
            y = torch.full((n,), k, dtype=torch.long, device=self.device)
            energy_fn = lambda v: self.class_energy(v, y)  # noqa: E731
            per_class = len(self.class_chains) // self.opts.n_classes
            if per_class:
                own = self.class_chains[k * per_class:(k + 1) * per_class]
                x0 = own[torch.arange(n, device=self.device) % per_class].clone()
            else:
                x0 = self._fresh(n, y)
        elif self.buffer is not None:  # no fresh noise chains among the samples
            _, x0 = self.buffer.draw(n, reinit=False)
        else:
            x0 = self._fresh(n)
        with frozen(self.net):
            yield from langevin(energy_fn, x0, self.cfg.sampler, n_steps=n_steps, record_every=record_every,
                                n_record=n_record, value_range=self.spec.value_range, generator=self.rng)

    # --- chain state ---------------------------------------------------------
    def state_tensors(self) -> dict[str, torch.Tensor]:
        out = {"jem.class_chains": self.class_chains, "jem.step": torch.tensor(self.step)}
        if self.buffer is not None:
            out.update({f"buffer.{k}": v for k, v in self.buffer.state_tensors().items()})
        return out

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        if "jem.class_chains" in tensors:
            self.class_chains = tensors["jem.class_chains"].to(self.device).clone()
        if "jem.step" in tensors:
            self.step = int(tensors["jem.step"])
        own = {k[len("buffer."):]: v for k, v in tensors.items() if k.startswith("buffer.")}
        if self.buffer is not None and own:
            self.buffer.load_state_tensors(own)
