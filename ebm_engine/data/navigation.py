"""``navigation-ioc``: 2D scenes and the expert paths an optimiser plans in them.

A scene is a start and a goal on opposite sides of a circle of radius 0.9,
and 1–3 circular obstacles, the first one near the middle of the straight
line (so the straight path is usually blocked). The expert path (``T``
positions, start and goal included) minimises a hidden cost that the
learner never sees::

    C(x) = w_len (T−1) Σ_t |x_{t+1} − x_t|²                 (length; even spacing)
         + w_obs Σ_t Σ_k max(0, r_k + margin − |x̄_t − c_k|)²  (clearance)
         + w_smooth (T−1)³ Σ_t |x_{t+1} − 2 x_t + x_{t−1}|²  (smoothness)

(``x̄_t``: the positions and the segment midpoints). The optimiser runs
Adam on the inner positions from three starts, the straight line and two
detours bent either side of the first obstacle, and keeps the cheapest.
Items are the expert paths; ``meta["scenes"]`` their scenes
(:mod:`ebm_engine.data.scenes`); ``meta["test_scenes"]`` /
``meta["test_experts"]`` are held-out scenes for evaluation.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from ebm_engine.config import DataConfig
from ebm_engine.data._collect import int_option
from ebm_engine.data.catalogue import demo
from ebm_engine.data.dataset import Dataset
from ebm_engine.data.scenes import make_scenes, split_scenes

HORIZON = 20          # positions per path, start and goal included
MAX_OBSTACLES = 3
EXTENT = (-1.2, 1.2, -1.2, 1.2)
N_TRAIN, N_TEST = 512, 64
#: Most held-out scenes ``data.options.test_items`` plans (about 30 ms each).
MAX_TEST = 2000
TEST_SEED = 7919  # test scenes: seed + TEST_SEED
#: The hidden cost's weights and clearance margin (the expert's, never the learner's).
HIDDEN = {"w_len": 1.0, "w_obs": 60.0, "w_smooth": 0.0005, "margin": 0.1}


def random_scenes(n: int, seed: int) -> np.ndarray:
    """``n`` scenes ``(n, 4 + 3·MAX_OBSTACLES)``, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * np.pi, n)
    back = angle + np.pi + rng.uniform(-0.5, 0.5, n)
    start = 0.9 * np.stack([np.cos(angle), np.sin(angle)], 1)
    goal = 0.9 * np.stack([np.cos(back), np.sin(back)], 1)
    centres = np.zeros((n, MAX_OBSTACLES, 2))
    radii = np.zeros((n, MAX_OBSTACLES))
    line = goal - start
    normal = np.stack([-line[:, 1], line[:, 0]], 1) / np.linalg.norm(line, axis=1, keepdims=True)
    centres[:, 0] = (start + rng.uniform(0.35, 0.65, (n, 1)) * line
                     + rng.uniform(-0.12, 0.12, (n, 1)) * normal)
    radii[:, 0] = rng.uniform(0.18, 0.3, n)
    count = rng.integers(1, MAX_OBSTACLES + 1, n)
    for i in range(n):
        for k in range(1, count[i]):
            for _ in range(20):  # away from the start, the goal and the other obstacles
                c, r = rng.uniform(-0.75, 0.75, 2), rng.uniform(0.1, 0.22)
                ends = min(np.linalg.norm(c - start[i]), np.linalg.norm(c - goal[i]))
                others = np.linalg.norm(centres[i, :k] - c, axis=1) - radii[i, :k]
                if ends > r + 0.2 and (others > r + 0.05).all():
                    centres[i, k], radii[i, k] = c, r
                    break
    return make_scenes(start, goal, centres, radii)


def hidden_cost(paths: torch.Tensor, scenes: torch.Tensor, weights: dict | None = None
                ) -> torch.Tensor:
    """The expert's cost ``C(x)`` of ``(N, T, 2)`` paths in their scenes, ``(N,)``."""
    w = {**HIDDEN, **(weights or {})}
    _, _, centres, radii = split_scenes(scenes)
    t = paths.shape[1]
    step = paths[:, 1:] - paths[:, :-1]
    length = (t - 1) * step.pow(2).sum((1, 2))
    bend = paths[:, 2:] - 2 * paths[:, 1:-1] + paths[:, :-2]
    smooth = (t - 1) ** 3 * bend.pow(2).sum((1, 2))
    probes = torch.cat([paths, (paths[:, 1:] + paths[:, :-1]) / 2], 1)      # (N, P, 2)
    dist = (probes[:, :, None] - centres[:, None]).norm(dim=-1)               # (N, P, M)
    inside = torch.relu(radii[:, None] + w["margin"] - dist) * (radii[:, None] > 0)
    return w["w_len"] * length + w["w_obs"] * inside.pow(2).sum((1, 2)) + w["w_smooth"] * smooth


def straight_paths(scenes: np.ndarray | torch.Tensor, horizon: int = HORIZON):
    """Straight lines from start to goal, ``(N, horizon, 2)`` (numpy or torch, as given)."""
    start, goal, _, _ = split_scenes(scenes)
    s = np.linspace(0.0, 1.0, horizon, dtype=np.float32)
    if isinstance(scenes, torch.Tensor):
        s = torch.from_numpy(s).to(scenes.device)
    return start[:, None] + s[None, :, None] * (goal - start)[:, None]


def plan(scenes: np.ndarray, horizon: int = HORIZON, steps: int = 300,
         weights: dict | None = None) -> np.ndarray:
    """Expert paths: Adam on :func:`hidden_cost` from three starts, the cheapest kept."""
    sc = torch.from_numpy(np.asarray(scenes, np.float32))
    n = sc.shape[0]
    line = straight_paths(sc, horizon)
    start, goal, centres, radii = split_scenes(sc)
    d = goal - start
    normal = torch.stack([-d[:, 1], d[:, 0]], 1) / d.norm(dim=1, keepdim=True)
    bump = torch.sin(torch.linspace(0, np.pi, horizon))[None, :, None]
    amp = (radii[:, 0] + 0.25)[:, None, None]
    inits = torch.stack([line, line + amp * bump * normal[:, None], line - amp * bump * normal[:, None]], 1)
    inner = inits[:, :, 1:-1].reshape(n * 3, horizon - 2, 2).clone().requires_grad_(True)
    sc3 = sc.repeat_interleave(3, 0)
    ends = (start.repeat_interleave(3, 0)[:, None], goal.repeat_interleave(3, 0)[:, None])
    opt = torch.optim.Adam([inner], lr=0.01)
    for _ in range(steps):
        opt.zero_grad()
        cost = hidden_cost(torch.cat([ends[0], inner, ends[1]], 1), sc3, weights)
        cost.sum().backward()
        opt.step()
    with torch.no_grad():
        paths = torch.cat([ends[0], inner, ends[1]], 1)
        cost = hidden_cost(paths, sc3, weights).view(n, 3)
        best = cost.argmin(1)
        return paths.view(n, 3, horizon, 2)[torch.arange(n), best].numpy().astype(np.float32)


@functools.lru_cache(maxsize=4)
def _planned(n: int, seed: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    # planning takes seconds on a busy CPU: once per process (copies go out)
    scenes = random_scenes(n, seed)
    return scenes, plan(scenes, horizon)


def navigation_dataset(n_train: int = N_TRAIN, n_test: int = N_TEST, seed: int = 0,
                       horizon: int = HORIZON) -> Dataset:
    """The ``navigation-ioc`` dataset (see the module docstring); the test scenes come
    from their own stream, the same whatever ``n_train``."""
    scenes, experts = (a.copy() for a in _planned(n_train, seed, horizon))
    test_scenes, test_experts = (a.copy() for a in _planned(n_test, seed + TEST_SEED, horizon))
    meta = {
        "scenes": scenes, "conditions": ("scenes",), "extent": EXTENT,
        "test_scenes": test_scenes, "test_experts": test_experts,
        "hidden_cost": dict(HIDDEN), "max_obstacles": MAX_OBSTACLES,
    }
    return Dataset("navigation-ioc", "trajectory", experts, None, meta)


@demo("navigation-ioc", "trajectory",
      "Inverse optimal control: learn a path cost from expert paths around obstacles, "
      "plan by Langevin", expected_minutes=5.0, options=("test_items",))
def _load(cfg: DataConfig) -> Dataset:
    n_test = int_option(cfg.options, "test_items", N_TEST, 1, MAX_TEST)  # held-out scenes
    # data.max_items is "at most": fewer planned scenes, never more than the demo's
    return navigation_dataset(n_train=min(cfg.max_items or N_TRAIN, N_TRAIN), n_test=n_test)
