"""A small 2D energy model and its maximum-likelihood step, shared by the Learn demos.

The same pieces as the real methods (:mod:`ebm_engine.methods.ml`, ``jem``):
the MLP or classifier energy network, :func:`~ebm_engine.sampling.langevin.run_langevin`,
the persistent buffer and :func:`~ebm_engine.methods.base.contrastive_loss`,
sized so a demo shows something within ~20 s on one CPU thread.
"""

from __future__ import annotations

import numpy as np
import torch

from ebm_engine.config import SamplerConfig
from ebm_engine.data.toy2d import eight_gaussian_modes, toy_points
from ebm_engine.learn.frames import Curve, Heat, Points
from ebm_engine.learning.landscape import energy_landscape
from ebm_engine.methods.base import contrastive_loss
from ebm_engine.models.classifier_energy import ClassifierEnergy
from ebm_engine.models.mlp import MLPEnergy
from ebm_engine.sampling import PersistentBuffer, frozen, noise_like
from ebm_engine.sampling.energy import energy_of
from ebm_engine.sampling.langevin import run_langevin

BOUNDS = (-4.5, 4.5, -4.5, 4.5)  # the toy demos' plane (their points lie in about [-4, 4]²)
SHOWN = 400  # data points drawn under a plot


def sampler(n_steps: int = 30, init: str = "noise", grad_scale: float = 1.0) -> SamplerConfig:
    """Langevin with δ = 0.1 and noise scale 1, starts uniform on the plane.

    ``grad_scale = 1`` is exact Langevin; short-run chains from noise use 10
    (a drift of 0.05·∇E per step), or 30 steps would not cross the plane.
    """
    return SamplerConfig(n_steps=n_steps, step_size=0.1, noise_scale=1.0, grad_scale=grad_scale,
                         init=init, init_noise="uniform", init_scale=4.5, buffer_size=2048,
                         reinit_prob=0.05)


def labelled_8gaussians(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """8gaussians points and the index of their mode (the class of the classifier demo)."""
    x = toy_points("8gaussians", n, seed)
    modes = eight_gaussian_modes()
    labels = np.argmin(((x[:, None, :] - modes[None]) ** 2).sum(-1), axis=1)
    return x, labels.astype(np.int64)


class ToyEBM:
    """An energy on the plane, its optimiser and its chains.

    Parameters
    ----------
    data : np.ndarray
        ``(N, 2)`` training points.
    seed : int
        Weights, batches and Langevin noise (two models with one seed start equal).
    n_classes : int
        0: an MLP energy ``E(x) = −f(x)``; K > 0: a K-class classifier whose
        ``E(x) = −log Σ_y exp(l(x)[y])`` (JEM).
    width, depth : int
        Hidden units and layers.
    lr, energy_l2 : float
        Adam's step and the energy-magnitude penalty of the ML loss.
    """

    def __init__(self, data: np.ndarray, seed: int = 0, n_classes: int = 0, width: int = 128,
                 depth: int = 3, lr: float = 3e-3, energy_l2: float = 0.1):
        with torch.random.fork_rng(devices=[]):  # seeded weights; the caller's RNG untouched
            torch.manual_seed(seed)
            self.net = (ClassifierEnergy((2,), n_classes, width, depth) if n_classes
                        else MLPEnergy(2, width, depth))
        self.opt = torch.optim.Adam(self.net.parameters(), lr=lr)
        self.energy = energy_of(self.net)
        self.energy_l2 = energy_l2
        self.rng = torch.Generator().manual_seed(seed)
        self.data = torch.from_numpy(np.asarray(data, np.float32))
        self.buffer: PersistentBuffer | None = None

    def batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(indices, points)`` of a random training batch."""
        idx = torch.randint(len(self.data), (n,), generator=self.rng)
        return idx, self.data[idx]

    def synthesize(self, n: int, cfg: SamplerConfig, record_every: int = 0):
        """``(samples, frames)``: Langevin chains from noise, or from the persistent buffer
        (``cfg.init == "persistent"``, whose states are then updated)."""
        idx = None
        if cfg.init == "persistent":
            if self.buffer is None:
                self.buffer = PersistentBuffer(cfg.buffer_size, (2,), cfg, "cpu", self.rng)
            idx, x0 = self.buffer.draw(n)
        else:
            x0 = noise_like((n, 2), cfg, "cpu", self.rng)
        with frozen(self.net):
            x, frames = run_langevin(self.energy, x0, cfg, record_every=record_every,
                                     n_record=n, generator=self.rng)
        if idx is not None:
            self.buffer.store(idx, x)
        return x, frames

    def update(self, x_data: torch.Tensor, x_synth: torch.Tensor,
               extra: torch.Tensor | None = None) -> dict[str, float]:
        """One step down ``mean E(data) − mean E(synth)`` (+ penalty, + ``extra``)."""
        e_data, e_synth = self.energy(x_data), self.energy(x_synth.detach())
        loss = contrastive_loss(e_data, e_synth, self.energy_l2)
        if extra is not None:
            loss = loss + extra
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"energy_data": float(e_data.detach().mean()),
                "energy_sample": float(e_synth.detach().mean())}

    def heat(self, resolution: int = 64) -> Heat:
        """The energy on the demo plane (the heat map under a plot)."""
        grid = energy_landscape(self.energy, BOUNDS, resolution=resolution, arrows=0)
        return Heat(grid.energy, BOUNDS)

    def shown_data(self, labels: np.ndarray | None = None) -> Points:
        """The first :data:`SHOWN` training points (coloured by ``labels`` if given)."""
        return Points("data", self.data[:SHOWN].numpy().copy(),
                      None if labels is None else labels[:SHOWN].copy())


def points(role: str, x: torch.Tensor) -> Points:
    """A detached CPU copy of chain states as a point set."""
    return Points(role, x.detach().float().cpu().numpy().copy())


class History:
    """Named series against iteration, turned into :class:`~ebm_engine.learn.frames.Curve` s."""

    def __init__(self) -> None:
        self.series: dict[str, tuple[list[float], list[float]]] = {}

    def add(self, iteration: int, **values: float) -> None:
        for k, v in values.items():
            xs, ys = self.series.setdefault(k, ([], []))
            xs.append(float(iteration))
            ys.append(float(v))

    def last(self, name: str) -> float:
        return self.series[name][1][-1]

    def curves(self, *names: str) -> tuple[Curve, ...]:
        return tuple(Curve(n, np.asarray(self.series[n][0]), np.asarray(self.series[n][1]))
                     for n in names if n in self.series)
