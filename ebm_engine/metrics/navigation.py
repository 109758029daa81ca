"""Planning quality on held-out scenes: the learned cost against two baselines.

For paths planned in scenes the learner did not see, against the expert's
path in each scene (``navigation-ioc``, :mod:`ebm_engine.data.navigation`):

- ``success``: the share of paths that end within ``GOAL_TOLERANCE`` of the
  goal and whose segments never enter an obstacle;
- ``cost_ratio``: the median over scenes of hidden cost / expert's hidden
  cost (1 = as good as the expert; the hidden cost is the one the experts
  were planned with, never shown to the learner);
- ``ade``: the mean distance to the expert's position at the same step.

Each is reported for the EBM (no suffix), the straight line (``_line``),
and a behaviour-cloning regressor (``_bc``): an MLP from the scene to the
path's offsets from the straight line, with as many parameters as the
energy network, trained by mean squared error on the same expert paths in
the same evaluation (``BC_ITERATIONS`` Adam steps). The experts' own
``success_expert`` is a sanity check.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ebm_engine.data.navigation import hidden_cost, straight_paths
from ebm_engine.data.scenes import segment_clearance, split_scenes

GOAL_TOLERANCE = 0.1
BC_ITERATIONS = 2000
BETTER = {f"{m}{s}": b for m, b in (("success", "higher"), ("cost_ratio", "lower"), ("ade", "lower"))
          for s in ("", "_line", "_bc")} | {"bc_params": "reference", "ebm_params": "reference"}
# the experts' own paths score 0 and 1 by construction: a sanity check, not a score
BETTER |= {f"{m}_expert": "reference" for m in ("success", "cost_ratio", "ade")}


def path_scores(paths: np.ndarray, scenes: np.ndarray, experts: np.ndarray) -> dict[str, float]:
    """``success``, ``cost_ratio``, ``ade`` of ``(N, T, 2)`` paths (module docstring)."""
    _, goal, centres, radii = split_scenes(scenes)
    reach = np.linalg.norm(paths[:, -1] - goal, axis=1) < GOAL_TOLERANCE
    clear = segment_clearance(paths, centres, radii) >= 0
    sc = torch.from_numpy(np.asarray(scenes, np.float32))
    cost = hidden_cost(torch.from_numpy(np.asarray(paths, np.float32)), sc)
    ref = hidden_cost(torch.from_numpy(np.asarray(experts, np.float32)), sc)
    return {"success": float((reach & clear).mean()),
            "cost_ratio": float(torch.median(cost / ref.clamp_min(1e-6))),
            "ade": float(np.linalg.norm(paths - experts, axis=-1).mean())}


class BehaviourCloning(nn.Module):
    """Scene → offsets of the path's inner positions from the straight line."""

    def __init__(self, scene_size: int, horizon: int, width: int):
        super().__init__()
        self.horizon = horizon
        self.net = nn.Sequential(nn.Linear(scene_size, width), nn.SiLU(), nn.Linear(width, width),
                                 nn.SiLU(), nn.Linear(width, (horizon - 2) * 2))

    def forward(self, scenes: torch.Tensor) -> torch.Tensor:
        line = straight_paths(scenes, self.horizon)
        offset = self.net(scenes).view(-1, self.horizon - 2, 2)
        return torch.cat([line[:, :1], line[:, 1:-1] + offset, line[:, -1:]], 1)


def width_for(n_params: int, scene_size: int, horizon: int) -> int:
    """Hidden width giving a :class:`BehaviourCloning` net about ``n_params`` parameters."""
    out = (horizon - 2) * 2
    # params(w) = w² + w (scene_size + out + 2) + out
    b = scene_size + out + 2
    return max(1, int(round((-b + np.sqrt(b * b + 4 * max(n_params - out, 1))) / 2)))


def train_bc(scenes: np.ndarray, experts: np.ndarray, n_params: int, seed: int,
             iterations: int = BC_ITERATIONS) -> BehaviourCloning:
    """A :class:`BehaviourCloning` regressor of about ``n_params`` parameters, fitted by MSE."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    horizon = experts.shape[1]
    model = BehaviourCloning(scenes.shape[1], horizon, width_for(n_params, scenes.shape[1], horizon))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.from_numpy(np.asarray(scenes, np.float32))
    y = torch.from_numpy(np.asarray(experts, np.float32))
    for _ in range(iterations):
        idx = torch.randint(len(x), (64,), generator=gen)
        loss = (model(x[idx]) - y[idx]).pow(2).sum((1, 2)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def evaluate_navigation(method, dataset, n: int, seed: int,
                        bc_iterations: int = BC_ITERATIONS) -> dict[str, float]:
    """The module's metrics on up to ``n`` held-out scenes of ``dataset``."""
    scenes = np.asarray(dataset.meta["test_scenes"])[:n]
    experts = np.asarray(dataset.meta["test_experts"])[:n]
    method.rng.manual_seed(seed)
    frames = list(method.plan(torch.from_numpy(scenes)))
    n_params = sum(p.numel() for p in method.net.parameters())
    bc = train_bc(np.asarray(dataset.meta["scenes"]), dataset.items.numpy(), n_params, seed,
                  bc_iterations)
    with torch.no_grad():
        bc_paths = bc(torch.from_numpy(scenes)).numpy()
    out: dict[str, float] = {}
    for suffix, paths in (("", frames[-1].x), ("_line", straight_paths(scenes)),
                          ("_bc", bc_paths), ("_expert", experts)):
        out.update({k + suffix: v for k, v in path_scores(paths, scenes, experts).items()})
    out["bc_params"] = float(sum(p.numel() for p in bc.parameters()))
    out["ebm_params"] = float(n_params)
    out["scored"] = float(len(scenes))  # the held-out scenes there are, up to n
    return out
