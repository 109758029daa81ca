"""Energy-based continuous inverse optimal control (Xu, Xie, Zhu & Wu 2022).

Expert paths ``x`` in scenes ``s`` are modelled as draws of a trajectory
EBM, ``p_θ(x | s) ∝ exp(−E_θ(x | s))``: the energy is a learned cost
(:class:`~ebm_engine.models.path_cost.PathCost`) and planning is sampling
it. Maximum likelihood over whole trajectories needs model samples in the
same scenes; short-run Langevin over the free positions gives them,

    x̃ ← x̃ − grad_scale (δ²/2) ∇ₓ E_θ(x̃ | s) + noise_scale δ ε,

from the straight line start→goal (``init="line"``, plus ``init_scale``
noise) or from noise (``init="noise"``), with the start (``pin="start"``)
or start and goal (``pin="both"``) held fixed. With ``precondition`` the
chain runs in coordinates ``z`` with ``x = x_line + L z``, ``L Lᵀ = M⁻¹``,
``M = (T−1) DᵀD`` (``D`` the first differences along the path): Langevin on
``z`` is Langevin on ``x`` preconditioned by ``M⁻¹`` (the same stationary
law; CHOMP's covariant gradient, Ratliff et al. 2009). A push on one
position then bends the whole path, the noise is a Brownian bridge, and
the stiff length term no longer limits the step size. Then

    ∇θ L = E_data[−∇θ E_θ(x | s)] − E_θ[−∇θ E_θ(x̃ | s)],

the loss reported is ``mean E(x) − mean E(x̃)`` (plus ``train.energy_l2``).
Scenes come with each batch (``batch_drawn``); sampling from a checkpoint
uses the held-out scenes saved with it. ``ebm eval`` reports success,
hidden-cost ratio and ADE against the straight line and a behaviour-cloning
regressor of the same size (:mod:`ebm_engine.metrics.navigation`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import torch

from ebm_engine.data.scenes import segment_clearance, split_scenes
from ebm_engine.errors import ConfigError
from ebm_engine.methods.base import LearningMethod, StepResult, register_method, to_numpy
from ebm_engine.metrics.navigation import BETTER as NAVIGATION_BETTER
from ebm_engine.models.path_cost import PathCost
from ebm_engine.options import knob
from ebm_engine.sampling import ChainFrame, frozen
from ebm_engine.sampling.langevin import langevin, run_langevin

POOL = 256  # held-out scenes kept in checkpoints (sampling without the data set)


@dataclasses.dataclass(frozen=True)
class IOCOptions:
    """Knobs of energy-based inverse optimal control.

    Attributes
    ----------
    init : str
        Where chains start: ``line`` (the straight path start→goal plus
        ``sampler.init_scale`` noise) or ``noise`` (``sampler.init_scale``
        noise around the scene's centre).
    precondition : bool
        Langevin in the path-smoothness metric (see the module docstring):
        steps move whole stretches of the path; ``sampler.init_scale`` and
        ``step_size`` are then in those coordinates.
    pin : str
        Positions held fixed: ``both`` (start and goal) or ``start`` (the
        path must learn to reach the goal).
    polish_steps : int
        Noise-free Langevin steps (gradient descent on the cost) after the
        chain when planning (sampling, evaluation; not while learning):
        the plan is the nearest low-cost path to the sample, without the
        last steps' jitter.
    cost_maps : int
        Heat maps of the learned per-position cost sent with each snapshot
        (for the first samples' scenes; 0 = none).
    map_size : int
        Grid side of those heat maps.
    """

    init: str = knob("line", choices=("line", "noise"), sampling=True)
    precondition: bool = knob(False, live=False)
    pin: str = knob("both", choices=("both", "start"), live=False)
    polish_steps: int = knob(5, ge=0, le=10_000, unit="steps", sampling=True)
    cost_maps: int = knob(4, ge=0, le=16, sampling=True)
    map_size: int = knob(48, ge=8, le=256, unit="cells", sampling=True)


@register_method("ioc")
class InverseOptimalControl(LearningMethod):
    """Learn a path cost from expert trajectories; plan by Langevin on it (navigation)."""

    learns_from_chains = True

    Options = IOCOptions
    kinds = ("trajectory",)
    better = NAVIGATION_BETTER

    @classmethod
    def check(cls, opts, cfg, spec) -> None:
        if spec is not None and len(spec.item_shape) != 2:
            raise ConfigError(f"method 'ioc' learns (T, 2) paths, got items of shape {spec.item_shape}")

    def build(self) -> None:
        self.net = PathCost(self.cfg.model.width, self.cfg.model.depth).to(self.device)
        self.opt = self.adam(self.net.parameters())
        self.horizon = self.spec.item_shape[0]
        self.extent = self.spec.extent or (-1.2, 1.2, -1.2, 1.2)
        self._scenes: torch.Tensor | None = None
        meta = self.dataset.meta if self.dataset is not None else {}
        if "scenes" not in meta and self.dataset is not None:
            raise ConfigError(f"method 'ioc' needs scenes with the paths (meta['scenes']); "
                              f"{self.dataset.name} has none; try --data navigation-ioc")
        self.metric_factor = self._metric_factor().to(self.device)
        pool = meta.get("test_scenes", meta.get("scenes", np.zeros((0, 4), np.float32)))
        ref = meta.get("test_experts", self.dataset.items.numpy() if self.dataset is not None
                       else np.zeros((0, self.horizon, 2), np.float32))
        self.pool = torch.as_tensor(np.asarray(pool[:POOL]), dtype=torch.float32)
        self.pool_reference = torch.as_tensor(np.asarray(ref[:POOL]), dtype=torch.float32)

    # --- paths -----------------------------------------------------------------------
    @property
    def n_free(self) -> int:
        """Positions Langevin moves (the path minus its pinned ends)."""
        return self.horizon - (2 if self.opts.pin == "both" else 1)

    def full(self, free: torch.Tensor, scenes: torch.Tensor) -> torch.Tensor:
        """Whole paths ``(n, T, 2)`` from the free positions and the pinned ends."""
        start, goal, _, _ = split_scenes(scenes[: free.shape[0]])
        parts = [start[:, None], free] + ([goal[:, None]] if self.opts.pin == "both" else [])
        return torch.cat(parts, 1)

    def free_of(self, paths: torch.Tensor) -> torch.Tensor:
        return paths[:, 1:-1] if self.opts.pin == "both" else paths[:, 1:]

    def _metric_factor(self) -> torch.Tensor:
        """``L`` with ``L Lᵀ = ((T−1) DᵀD)⁻¹`` (identity without ``precondition``)."""
        n = self.n_free
        if not self.opts.precondition:
            return torch.eye(n)
        both = self.opts.pin == "both"
        diff = torch.zeros(n + int(both), n, dtype=torch.float64)
        idx = torch.arange(n)
        diff[idx, idx] = 1.0
        diff[idx[1:], idx[:-1]] = -1.0
        if both:
            diff[n, n - 1] = -1.0
        metric = (self.horizon - 1) * diff.T @ diff
        return torch.linalg.cholesky(torch.linalg.inv(metric)).float()

    def anchor(self, scenes: torch.Tensor) -> torch.Tensor:
        """The free positions chains start around: the straight line (or the scene centre)."""
        start, goal, _, _ = split_scenes(scenes)
        s = torch.linspace(0, 1, self.horizon, device=scenes.device)[None, :, None]
        line = start[:, None] + s * (goal - start)[:, None]
        if self.opts.init == "noise":
            line = torch.zeros_like(line) + (start + goal)[:, None] / 2
        return self.free_of(line)

    def initial(self, scenes: torch.Tensor) -> torch.Tensor:
        """Chain starts in the sampler's coordinates: ``init_scale`` noise around :meth:`anchor`."""
        shape = (scenes.shape[0], self.n_free, 2)
        return self.cfg.sampler.init_scale * torch.randn(shape, device=scenes.device,
                                                         generator=self.rng)

    def paths_of(self, z: torch.Tensor, scenes: torch.Tensor) -> torch.Tensor:
        """Whole paths from the sampler's coordinates ``z`` (``x_free = anchor + L z``)."""
        scenes = scenes[: z.shape[0]]
        return self.full(self.anchor(scenes) + torch.einsum("ij,njd->nid", self.metric_factor, z),
                         scenes)

    def path_energy(self, paths: torch.Tensor, scenes: torch.Tensor) -> torch.Tensor:
        return self.net(paths, scenes[: paths.shape[0]])

    def _energy_fn(self, scenes: torch.Tensor):
        # Langevin moves z; rows are the first len(z) scenes
        return lambda z: self.path_energy(self.paths_of(z, scenes), scenes)

    def plan(self, scenes: torch.Tensor, n_steps: int | None = None, record_every: int = 0,
             n_record: int = 8) -> Iterator[ChainFrame]:
        """Langevin on the learned cost in ``scenes``; frames hold whole paths."""
        scenes = scenes.to(self.device)
        energy_fn = self._energy_fn(scenes)
        last = None
        with frozen(self.net):
            for f in langevin(energy_fn, self.initial(scenes), self.cfg.sampler,
                              n_steps=n_steps, record_every=record_every, n_record=n_record,
                              generator=self.rng):
                if last is not None:
                    yield self._whole(last, scenes)
                last = f
            z = torch.from_numpy(last.x).to(self.device)
            if self.opts.polish_steps:
                descent = dataclasses.replace(self.cfg.sampler, noise_scale=0.0)
                z, _ = run_langevin(energy_fn, z, descent, n_steps=self.opts.polish_steps)
            with torch.no_grad():
                energy = to_numpy(energy_fn(z))
        yield ChainFrame(last.step + self.opts.polish_steps, to_numpy(self.paths_of(z, scenes)),
                         energy)

    def _whole(self, frame: ChainFrame, scenes: torch.Tensor) -> ChainFrame:
        z = torch.from_numpy(frame.x).to(self.device)
        return ChainFrame(frame.step, to_numpy(self.paths_of(z, scenes)), frame.energy)

    def display(self, scenes: torch.Tensor, reference: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Snapshot extras: scenes, expert paths, heat maps of the learned cost."""
        out = {"scenes": scenes}
        if reference is not None:
            out["reference"] = reference
        k = min(self.opts.cost_maps, scenes.shape[0])
        if k:
            out["cost_map"] = self.net.cost_map(scenes[:k], self.extent, self.opts.map_size)
            out["cost_extent"] = torch.tensor([self.extent] * k, dtype=torch.float32)
        return out

    # --- LearningMethod ------------------------------------------------------------------
    def networks(self) -> dict[str, torch.nn.Module]:
        return {"energy": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"energy": self.opt}

    def batch_drawn(self, index: torch.Tensor) -> None:
        rows = np.asarray(self.dataset.meta["scenes"])[index.cpu().numpy()]
        self._scenes = torch.as_tensor(rows, dtype=torch.float32, device=self.device)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """``E_θ`` of paths in the first held-out scenes (one scene per path)."""
        return self.path_energy(x, self.scenes_for(x.shape[0]).to(x.device))

    def scenes_for(self, n: int) -> torch.Tensor:
        if not len(self.pool):
            raise ConfigError("this model has no scenes to plan in (no held-out scenes saved)")
        return self.pool[torch.arange(n) % len(self.pool)].to(self.device)

    def train_step(self, batch: torch.Tensor, record_every: int) -> StepResult:
        scenes = self._scenes
        if scenes is None or scenes.shape[0] != batch.shape[0]:
            raise ConfigError("method 'ioc' needs the batch's scenes (the trainer's batch_drawn)")
        with frozen(self.net):
            z, frames = run_langevin(self._energy_fn(scenes), self.initial(scenes),
                                        self.cfg.sampler, record_every=record_every,
                                        generator=self.rng)
        synth = self.paths_of(z, scenes).detach()
        e_data = self.path_energy(batch, scenes)
        e_synth = self.path_energy(synth, scenes)
        metrics = self.ml_backward(self.net, self.opt, e_data, e_synth)
        _, _, centres, radii = split_scenes(to_numpy(scenes))
        metrics["collision_free"] = float((segment_clearance(to_numpy(synth), centres, radii) >= 0).mean())
        metrics["ade_expert"] = float((synth - batch).norm(dim=-1).mean())
        metrics["length_weight"] = float(self.net.weights()[0].detach())
        extras = self.display(scenes, batch) if record_every else {}
        return StepResult(metrics, synth.detach(), e_synth.detach(),
                          [self._whole(f, scenes) for f in frames], extras)

    def sample(self, n: int, n_steps: int | None = None, record_every: int = 0, n_record: int = 8
               ) -> Iterator[ChainFrame]:
        """Plans in the held-out scenes saved with the model (cycled when ``n`` is larger)."""
        scenes = self.scenes_for(n)
        reference = self.pool_reference[torch.arange(n) % len(self.pool_reference)] \
            if len(self.pool_reference) else None
        last = None
        for frame in self.plan(scenes, n_steps, record_every, n_record):
            if last is not None:
                yield last
            last = frame
        extras = {k: to_numpy(v) for k, v in self.display(scenes, reference).items()}
        yield dataclasses.replace(last, extras=extras)

    def evaluate(self, dataset, n: int, seed: int) -> dict[str, float]:
        """Success, hidden-cost ratio and ADE on held-out scenes, with the baselines."""
        from ebm_engine.metrics.navigation import evaluate_navigation

        return evaluate_navigation(self, dataset, n, seed)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {"scenes.pool": self.pool, "scenes.reference": self.pool_reference}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        if "scenes.pool" in tensors:
            self.pool = tensors["scenes.pool"].float().cpu()
            self.pool_reference = tensors.get("scenes.reference", self.pool_reference).float().cpu()
