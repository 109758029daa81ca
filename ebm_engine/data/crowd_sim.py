"""A small social-force crowd simulator (Helbing & Molnár 1995), deterministic by seed.

Pedestrians enter a rectangular plaza through one of a few gates and walk to
another gate. Each one is pushed by three forces (per unit mass)::

    f_goal      = (v₀ e_goal − v) / τ                     relax to the desired velocity
    f_agent_ij  = A exp((r_i + r_j − d_ij) / B) n_ij      keep away from other agents
    f_obstacle  = A_o exp((r_i + R_k − d_ik) / B_o) n_ik  keep away from pillars

and a slowly wandering heading (an Ornstein–Uhlenbeck angle, about 8° rms) makes paths less
straight than the forces alone. Positions are recorded every
:data:`FRAME_DT` seconds (2.5 frames/s, the rate of the ETH/UCY pedestrian
benchmarks), so "observe 8, predict 12" is 3.2 s of past and 4.8 s of future.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ebm_engine.data.tracks import TrackTable

#: Seconds between recorded frames; the integration runs SUBSTEPS steps per frame.
FRAME_DT = 0.4
SUBSTEPS = 4
#: The plaza: x in [0, WIDTH], y in [0, HEIGHT] (metres).
WIDTH, HEIGHT = 16.0, 12.0
#: Gates agents enter and leave by (on the border).
GATES = np.array([[0.0, 3.0], [0.0, 9.0], [16.0, 3.0], [16.0, 9.0], [8.0, 0.0], [8.0, 12.0]])
#: The wall each gate is in (agents never leave by the wall they came in by).
WALL = np.array([0, 0, 1, 1, 2, 3])
#: Static pillars: centre x, centre y, radius (metres).
OBSTACLES = np.array([[5.5, 6.0, 0.8], [10.5, 6.0, 0.8], [8.0, 4.0, 0.5], [8.0, 8.5, 0.5]])
AGENT_RADIUS = 0.3
# Force constants (per unit mass), close to Helbing's published values.
TAU, A_AGENT, B_AGENT, A_OBST, B_OBST = 0.5, 2.1, 0.3, 6.0, 0.2
#: Agents within this distance of their goal gate leave the plaza.
ARRIVAL = 0.6


@dataclass(frozen=True)
class Scene:
    """What a view draws around the trajectories (arrays in metres)."""

    bounds: tuple[float, float, float, float]  # x0, y0, x1, y1
    obstacles: np.ndarray  # (K, 3) centre x, centre y, radius
    goals: np.ndarray  # (G, 2) gate positions

    def to_meta(self) -> dict[str, np.ndarray]:
        return {"bounds": np.asarray(self.bounds, np.float32),
                "obstacles": self.obstacles.astype(np.float32),
                "goals": self.goals.astype(np.float32)}


PLAZA = Scene((0.0, 0.0, WIDTH, HEIGHT), OBSTACLES, GATES)


def simulate(frames: int, seed: int, spawn_rate: float = 0.9, max_agents: int = 28) -> TrackTable:
    """Run the plaza for ``frames`` recorded frames.

    Parameters
    ----------
    frames : int
        Frames to record (``FRAME_DT`` seconds each).
    seed : int
        Everything random (arrivals, gates, speeds, wandering) follows from it.
    spawn_rate : float
        Mean new agents per frame (Poisson), while fewer than ``max_agents`` walk.

    Returns
    -------
    TrackTable
        One row per agent and frame it was in the plaza.
    """
    rng = np.random.default_rng(seed)
    dt = FRAME_DT / SUBSTEPS
    pos = np.zeros((0, 2))
    vel = np.zeros((0, 2))
    goal = np.zeros((0, 2))
    speed = np.zeros(0)
    wander = np.zeros(0)
    ids = np.zeros(0, dtype=np.int64)
    next_id = 0
    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for frame in range(frames):
        # Arrivals: enter at a gate (jittered along the wall), head for another gate.
        for _ in range(rng.poisson(spawn_rate)):
            if len(ids) >= max_agents:
                break
            g_in = int(rng.integers(len(GATES)))
            g_out = int(rng.choice(np.flatnonzero(WALL != WALL[g_in])))  # across the plaza
            start = GATES[g_in] + _along_wall(GATES[g_in], rng.uniform(-1.0, 1.0))
            start = start + 0.3 * _inward(GATES[g_in])
            if len(pos) and np.min(np.linalg.norm(pos - start, axis=1)) < 2 * AGENT_RADIUS:
                continue  # the gate is busy: this one does not come in
            # Aim a little beyond the wall: agents walk through the gate and out.
            target = GATES[g_out] + _along_wall(GATES[g_out], rng.uniform(-0.8, 0.8))
            target = target - 0.8 * _inward(GATES[g_out])
            pos = np.vstack([pos, start])
            v0 = float(np.clip(rng.normal(1.3, 0.2), 0.8, 1.8))
            heading = (target - start) / np.linalg.norm(target - start)
            vel = np.vstack([vel, v0 * heading])
            goal = np.vstack([goal, target])
            speed = np.append(speed, v0)
            wander = np.append(wander, 0.0)
            ids = np.append(ids, next_id)
            next_id += 1
        for _ in range(SUBSTEPS):
            if not len(ids):
                break
            wander += -wander * dt / 2.0 + 0.2 * np.sqrt(dt) * rng.standard_normal(len(ids))
            force = _goal_force(pos, vel, goal, speed, wander) + _agent_force(pos)
            force += _obstacle_force(pos)
            vel = vel + dt * force
            too_fast = np.linalg.norm(vel, axis=1) / (1.3 * speed)
            vel = vel / np.maximum(too_fast, 1.0)[:, None]
            pos = pos + dt * vel
        if len(ids):
            rows.append((np.full(len(ids), frame), ids.copy(), pos.copy()))
        # Departures: reached the goal gate, or pushed out of the plaza.
        leave = np.linalg.norm(pos - goal, axis=1) < ARRIVAL
        leave |= (pos[:, 0] < -0.3) | (pos[:, 0] > WIDTH + 0.3)
        leave |= (pos[:, 1] < -0.3) | (pos[:, 1] > HEIGHT + 0.3)
        keep = ~leave
        pos, vel, goal, speed = pos[keep], vel[keep], goal[keep], speed[keep]
        wander, ids = wander[keep], ids[keep]
    if not rows:
        return TrackTable.empty()
    frame_col = np.concatenate([r[0] for r in rows]).astype(np.int64)
    agent_col = np.concatenate([r[1] for r in rows]).astype(np.int64)
    xy = np.concatenate([r[2] for r in rows]).astype(np.float64)
    return TrackTable(frame_col, agent_col, xy)


def _along_wall(gate: np.ndarray, offset: float) -> np.ndarray:
    """A displacement along the wall the gate is in."""
    on_side = gate[0] in (0.0, WIDTH)
    return np.array([0.0, offset]) if on_side else np.array([offset, 0.0])


def _inward(gate: np.ndarray) -> np.ndarray:
    """Unit vector from the gate into the plaza."""
    centre = np.array([WIDTH / 2, HEIGHT / 2])
    d = centre - gate
    axis = 0 if abs(d[0]) * HEIGHT > abs(d[1]) * WIDTH else 1
    out = np.zeros(2)
    out[axis] = np.sign(d[axis])
    return out


def _goal_force(pos, vel, goal, speed, wander) -> np.ndarray:
    to_goal = goal - pos
    e = to_goal / np.maximum(np.linalg.norm(to_goal, axis=1, keepdims=True), 1e-6)
    c, s = np.cos(wander), np.sin(wander)
    e = np.stack([c * e[:, 0] - s * e[:, 1], s * e[:, 0] + c * e[:, 1]], 1)
    return (speed[:, None] * e - vel) / TAU


def _agent_force(pos: np.ndarray) -> np.ndarray:
    diff = pos[:, None, :] - pos[None, :, :]
    dist = np.linalg.norm(diff, axis=2)
    np.fill_diagonal(dist, np.inf)
    push = A_AGENT * np.exp((2 * AGENT_RADIUS - dist) / B_AGENT)
    return (push[:, :, None] * diff / np.maximum(dist, 1e-6)[:, :, None]).sum(1)


def _obstacle_force(pos: np.ndarray) -> np.ndarray:
    diff = pos[:, None, :] - OBSTACLES[None, :, :2]
    dist = np.linalg.norm(diff, axis=2)
    push = A_OBST * np.exp((AGENT_RADIUS + OBSTACLES[None, :, 2] - dist) / B_OBST)
    return (push[:, :, None] * diff / np.maximum(dist, 1e-6)[:, :, None]).sum(1)
