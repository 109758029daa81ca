"""A learned cost of 2D paths in scenes with circular obstacles (energy-based IOC).

The energy of a path ``x = (x_0 … x_{T−1})`` in a scene (start, goal,
obstacles ``(c_k, r_k)``; :mod:`ebm_engine.data.scenes`) is

    E_θ(x | scene) = Σ_p c_θ(x̄_p, τ_p | scene)
                     + a (T−1) Σ_t |x_{t+1} − x_t|²
                     + b (T−1)³ Σ_t |x_{t+1} − 2x_t + x_{t−1}|²,

    c_θ(p, τ | scene) = ψ_θ(|p − start|, |p − goal|, τ) + Σ_k φ_θ(|p − c_k| − r_k, r_k),

where ``x̄_p`` runs over the positions and the segment midpoints (so a
segment that jumps over an obstacle still pays for it) and ``τ`` is the
time along the path in ``[0, 1]``. ``φ_θ`` and ``ψ_θ`` are small MLPs;
the weights ``a = A σ(α)`` and ``b = B σ(β)`` are learned too, bounded by
``A``, ``B`` so that the stiffest direction of the quadratic terms stays
within what an explicit Langevin step of the presets' size follows
(``δ²/2 · λ_max < 2``; an unbounded weight makes the chains explode). The cost sees distances only, so it is
the same in a rotated or mirrored scene. The obstacle term ``Σ_k φ_θ`` over the
plane is the heat map views draw (lower = cheaper): the whole ``c_θ`` at one
time ``τ`` is no ground cost (its start/goal term says where a path should be at
that time, and is unconstrained where no path goes, so the far corners of the
scene came out cheapest and the plans ran along a bright band).
"""

from __future__ import annotations

import torch
from torch import nn

from ebm_engine.data.scenes import split_scenes

MAX_LENGTH = 2.0    # bound of the length weight a
MAX_SMOOTH = 0.001  # bound of the smoothness weight b (its (T−1)³ factor is large)


def _mlp(n_in: int, width: int, depth: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(n_in if i == 0 else width, width), nn.SiLU()]
    layers.append(nn.Linear(width if depth else n_in, 1))
    return nn.Sequential(*layers)


class PathCost(nn.Module):
    """``E_θ(x | scene)`` of the module docstring.

    Parameters
    ----------
    width, depth : int
        Hidden units and hidden layers of ``φ_θ`` and ``ψ_θ``.
    """

    def __init__(self, width: int = 64, depth: int = 2):
        super().__init__()
        self.obstacle = _mlp(2, width, depth)
        self.free = _mlp(3, width, depth)
        self.length_weight = nn.Parameter(torch.tensor(0.0))
        self.smooth_weight = nn.Parameter(torch.tensor(0.0))

    def weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The length and smoothness weights ``(a, b)``."""
        return (MAX_LENGTH * torch.sigmoid(self.length_weight),
                MAX_SMOOTH * torch.sigmoid(self.smooth_weight))

    def point_cost(self, points: torch.Tensor, tau: torch.Tensor, scenes: torch.Tensor
                   ) -> torch.Tensor:
        """``c_θ`` at ``(N, P, 2)`` points, times ``tau`` ``(P,)`` or ``(N, P)``, ``(N, P)``."""
        start, goal, _, _ = split_scenes(scenes)
        n, p = points.shape[:2]
        tau = tau.expand(n, p)
        ends = torch.stack([(points - start[:, None]).norm(dim=-1),
                            (points - goal[:, None]).norm(dim=-1), tau], -1)
        return self.free(ends).squeeze(-1) + self.obstacle_cost(points, scenes)

    def obstacle_cost(self, points: torch.Tensor, scenes: torch.Tensor) -> torch.Tensor:
        """The obstacle term ``Σ_k φ_θ`` at ``(N, P, 2)`` points, ``(N, P)``."""
        _, _, centres, radii = split_scenes(scenes)
        if not centres.shape[1]:
            return points.new_zeros(points.shape[:2])
        gap = (points[:, :, None] - centres[:, None]).norm(dim=-1) - radii[:, None]  # (N,P,M)
        feats = torch.stack([gap, radii[:, None].expand_as(gap)], -1)
        return (self.obstacle(feats).squeeze(-1) * (radii[:, None] > 0)).sum(-1)

    def forward(self, paths: torch.Tensor, scenes: torch.Tensor) -> torch.Tensor:
        """Energies ``(N,)`` of ``(N, T, 2)`` paths in their ``(N, K)`` scenes."""
        t = paths.shape[1]
        probes = torch.cat([paths, (paths[:, 1:] + paths[:, :-1]) / 2], 1)
        times = torch.linspace(0, 1, t, device=paths.device, dtype=paths.dtype)
        tau = torch.cat([times, (times[1:] + times[:-1]) / 2])
        # positions and midpoints share the per-point cost; halve so a path's
        # cost does not depend on how finely it is probed
        cost = self.point_cost(probes, tau, scenes).sum(1) / 2
        step = paths[:, 1:] - paths[:, :-1]
        bend = paths[:, 2:] - 2 * paths[:, 1:-1] + paths[:, :-2]
        a, b = self.weights()
        return (cost + a * (t - 1) * step.pow(2).sum((1, 2))
                + b * (t - 1) ** 3 * bend.pow(2).sum((1, 2)))

    def cost_map(self, scenes: torch.Tensor, extent: tuple[float, float, float, float],
                 size: int = 48) -> torch.Tensor:
        """The obstacle term on a ``size × size`` grid over ``extent`` for each scene,
        ``(N, size, size)`` (rows go up in ``y``; see the module docstring)."""
        xmin, xmax, ymin, ymax = extent
        ys, xs = torch.meshgrid(torch.linspace(ymin, ymax, size), torch.linspace(xmin, xmax, size),
                                indexing="ij")
        grid = torch.stack([xs, ys], -1).reshape(1, -1, 2).to(scenes)
        grid = grid.expand(scenes.shape[0], -1, -1)
        with torch.no_grad():
            return self.obstacle_cost(grid, scenes).reshape(-1, size, size)
