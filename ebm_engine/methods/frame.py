"""FRAME learning (Zhu, Wu & Mumford 1997): potentials of fixed filters by maximum likelihood.

The model (:class:`~ebm_engine.models.frame.FrameEnergy`) is
``p(x) ∝ exp(−Σ_k Σ_pixels φ_k(r_k(x)))`` with ``r_k = F_k * x`` fixed
filter responses and ``φ_k`` learned piecewise-linear potentials (knot
values ``λ_k``). The log-likelihood gradient in ``λ_k`` is

    ∇λ_k L = H_k(synthesised) − H_k(observed),

``H_k`` the (soft) response histogram: analysis by synthesis raises the
potential where the samples have too many responses and lowers it where
they have too few, until the model's histograms match the data's. Samples
come from Langevin dynamics (the paper used a Gibbs sampler); the loss is
the same ``mean E(x_data) − mean E(x̃)`` as every ML method here, whose
λ-gradient is exactly the histogram difference above.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import torch

from ebm_engine.config import RunConfig
from ebm_engine.data.dataset import Dataset
from ebm_engine.errors import ConfigError
from ebm_engine.methods._average import Averages
from ebm_engine.methods.base import DataSpec, StepResult, register_method, to_numpy
from ebm_engine.methods.ml import MaximumLikelihood, MaximumLikelihoodOptions
from ebm_engine.models.frame import KERNEL, FrameEnergy
from ebm_engine.options import knob
from ebm_engine.sampling import PersistentBuffer
from ebm_engine.sampling.langevin import ChainFrame


@dataclasses.dataclass(frozen=True)
class FrameOptions(MaximumLikelihoodOptions):
    """Knobs of FRAME (and maximum likelihood's, e.g. ``data_noise``).

    Attributes
    ----------
    bins : int
        Knots of each piecewise-linear potential (histogram bins).
    orientations : int
        Gabor orientations in the filter bank.
    scales : int
        Scales of the Gabor pairs and differences of Gaussians.
    """

    bins: int = knob(32, ge=4, le=256, live=False)
    orientations: int = knob(4, ge=1, le=12, live=False)
    scales: int = knob(2, ge=1, le=3, live=False)


def bank_mosaic(net: FrameEnergy) -> torch.Tensor:
    """The filters side by side, ``(1, 1, H, W)``, each scaled to [-1, 1]."""
    bank = net.bank[:, 0]
    bank = bank / bank.flatten(1).abs().amax(1).clamp_min(1e-12).view(-1, 1, 1)
    cols = 8
    rows = -(-bank.shape[0] // cols)
    cell = KERNEL + 1
    out = torch.zeros(rows * cell + 1, cols * cell + 1, device=bank.device)
    for i, k in enumerate(bank):
        r, c = divmod(i, cols)
        out[1 + r * cell: 1 + r * cell + KERNEL, 1 + c * cell: 1 + c * cell + KERNEL] = k
    return out[None, None]


def histogram_tv(net: FrameEnergy, a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean total-variation distance between the filter-response histograms of two image sets."""
    return float(0.5 * (net.histograms(a) - net.histograms(b)).abs().sum(1).mean())


@register_method("frame")
class Frame(MaximumLikelihood):
    """FRAME: fixed filter bank, learned piecewise-linear potentials, Langevin."""

    Options = FrameOptions
    kinds = ("image",)
    better = {"gram_distance": "lower", "response_hist_tv": "lower",
              "response_hist_tv_untrained": "lower"}

    @classmethod
    def check(cls, opts, cfg: RunConfig, spec: DataSpec | None) -> None:
        super().check(opts, cfg, spec)
        if spec is not None and (len(spec.item_shape) != 3 or min(spec.item_shape[1:]) < KERNEL):
            raise ConfigError(f"method 'frame' needs images of at least {KERNEL}x{KERNEL} px, "
                              f"got items of shape {spec.item_shape}")

    def build(self) -> None:
        cfg, spec, device, rng = self.cfg, self.spec, self.device, self.rng
        self.net = FrameEnergy(spec.item_shape[0], self.opts.bins, self.opts.orientations,
                               self.opts.scales).to(device)
        if self.dataset is not None:  # knots over the data's responses (saved as buffers)
            self.net.fit_range(self.dataset.items.to(device))
        self.opt = self.adam(self.net.parameters())
        self.averages = Averages({"energy": self.net}, self.opts.average)
        self.buffer: PersistentBuffer | None = None
        if cfg.sampler.init == "persistent":
            self.buffer = PersistentBuffer(cfg.sampler.buffer_size, spec.item_shape, cfg.sampler,
                                           device, rng)

    def train_step(self, batch: torch.Tensor, record_every: int) -> StepResult:
        result = super().train_step(batch, record_every)
        result.metrics["hist_tv"] = histogram_tv(self.net, result.samples, batch)
        if record_every:  # a snapshot is due: the model's curves, whole
            result.extras["filter bank"] = bank_mosaic(self.net)
            result.curves.update(self.curves(batch, result.samples))
        return result

    def sample(self, n: int, n_steps: int | None = None, record_every: int = 0,
               n_record: int = 8) -> Iterator[ChainFrame]:
        """The chains (see :meth:`LearningMethod.sample`); the last frame also carries the
        filter bank and the learned potentials, which training snapshots show beside the
        samples (a pretrained model's samples showed none of what it learned)."""
        last = None
        for frame in super().sample(n, n_steps, record_every, n_record):
            if last is not None:
                yield last
            last = frame
        learned = {"filter bank": bank_mosaic(self.net), "potential curves": self._potentials()}
        yield dataclasses.replace(last, extras={**last.extras,
                                                **{k: to_numpy(v) for k, v in learned.items()}})

    def _potentials(self) -> torch.Tensor:
        """``(K, 2, bins)``: the knots and each filter's potential φ (mean removed)."""
        potentials = self.net.potentials.detach()
        return torch.stack([self.net.knots(), potentials - potentials.mean(1, keepdim=True)], 1)

    def curves(self, data: torch.Tensor, samples: torch.Tensor) -> dict[str, torch.Tensor]:
        """``potential curves`` ``(K, 2, bins)`` (knots, φ) and ``response histogram
        curves`` ``(K, 3, bins)`` (knots, data, samples), one row per filter."""
        hd, hs = self.net.histograms(data), self.net.histograms(samples)
        return {"potential curves": self._potentials(),
                "response histogram curves": torch.stack([self.net.knots(), hd, hs], 1)}

    def filter_names(self) -> list[str]:
        """One label per potential (channel-major, as the curves)."""
        c = self.spec.item_shape[0]
        names = self.net.filter_names
        return [n if c == 1 else f"ch{i} {n}" for i in range(c) for n in names]

    def evaluate(self, dataset: Dataset, n: int, seed: int = 0) -> dict[str, float]:
        """Gram distance and response-histogram distance of ``n`` samples to the
        data; ``response_hist_tv_untrained``: the chains' noise starts (the same
        samples before any learned potential acts)."""
        from ebm_engine.metrics.texture import gram_distance
        from ebm_engine.sampling import noise_like

        items = dataset.items.to(self.device)
        start = noise_like((n, *self.spec.item_shape), self.cfg.sampler, self.device, self.rng)
        samples = torch.from_numpy(np.asarray(list(self.sample(n))[-1].x)).to(self.device)
        return {"gram_distance": gram_distance(samples.cpu(), items.cpu()),
                "response_hist_tv": histogram_tv(self.net, samples, items),
                "response_hist_tv_untrained": histogram_tv(self.net, start, items)}
