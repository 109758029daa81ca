"""Pedestrian tracks: rows of ``(frame, agent, x, y)`` and the fixed-length windows cut from them.

The crowd simulator (:mod:`ebm_engine.data.crowd_sim`) and the reader of the
common pedestrian text format (:mod:`ebm_engine.data.trajectory_files`) both
produce a :class:`TrackTable`; :func:`windows` turns it into the items of a
``trajectory`` dataset: one agent's positions over ``length`` consecutive
frames, ``(length, 2)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ebm_engine.data.dataset import Dataset

#: Observed and predicted frames of the prediction task (the ETH/UCY protocol).
OBSERVED, PREDICTED = 8, 12
WINDOW = OBSERVED + PREDICTED


@dataclass(frozen=True)
class TrackTable:
    """Rows of a tracking file, in file order.

    Attributes
    ----------
    frame, agent : ndarray of int64, ``(R,)``
    xy : ndarray of float64, ``(R, 2)``
    line : ndarray of int64, ``(R,)``
        Line number each row came from (1-based; ``0`` for generated rows),
        so that errors found later still name the line.
    """

    frame: np.ndarray
    agent: np.ndarray
    xy: np.ndarray
    line: np.ndarray | None = None

    @classmethod
    def empty(cls) -> TrackTable:
        z = np.zeros(0, np.int64)
        return cls(z, z, np.zeros((0, 2)), z)

    def __len__(self) -> int:
        return len(self.frame)

    def lines(self) -> np.ndarray:
        return self.line if self.line is not None else np.zeros(len(self), np.int64)

    def frame_step(self) -> int:
        """The frame spacing of consecutive positions of one agent (the most common one)."""
        order = np.lexsort((self.frame, self.agent))
        same = self.agent[order][1:] == self.agent[order][:-1]
        gaps = np.diff(self.frame[order])[same]
        gaps = gaps[gaps > 0]
        if not len(gaps):
            return 1
        values, counts = np.unique(gaps, return_counts=True)
        return int(values[np.argmax(counts)])

    def segments(self) -> list[tuple[int, np.ndarray]]:
        """Per agent, runs of positions one frame step apart: ``[(agent, row indices)]``
        (an agent that leaves and comes back gives two runs)."""
        step = self.frame_step()
        order = np.lexsort((self.frame, self.agent))
        out: list[tuple[int, np.ndarray]] = []
        start = 0
        for i in range(1, len(order) + 1):
            end = i == len(order)
            if end or self.agent[order[i]] != self.agent[order[start]] or \
                    self.frame[order[i]] - self.frame[order[i - 1]] != step:
                out.append((int(self.agent[order[start]]), order[start:i]))
                start = i
        return out


def windows(table: TrackTable, length: int = WINDOW, stride: int = 1,
            agents: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every ``length``-frame window of every agent's runs, ``stride`` frames apart.

    Parameters
    ----------
    table : TrackTable
    length, stride : int
    agents : array, optional
        Only these agent ids.

    Returns
    -------
    items : ndarray ``(N, length, 2)`` float32
    agent : ndarray ``(N,)`` int64
        Agent id of each window.
    start : ndarray ``(N,)`` int64
        First frame of each window.
    """
    items, who, first = [], [], []
    for agent, rows in table.segments():
        if agents is not None and agent not in agents:
            continue
        for s in range(0, len(rows) - length + 1, stride):
            items.append(table.xy[rows[s:s + length]])
            who.append(agent)
            first.append(table.frame[rows[s]])
    if not items:
        return np.zeros((0, length, 2), np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64)
    return (np.stack(items).astype(np.float32), np.asarray(who, np.int64),
            np.asarray(first, np.int64))


def split_agents(table: TrackTable, heldout_share: float, seed: int = 0
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Agent ids for training and held out (a fixed random ``heldout_share`` of them)."""
    ids = np.unique(table.agent)
    rng = np.random.default_rng(seed)
    n_held = int(round(len(ids) * heldout_share))
    held = np.sort(rng.choice(ids, n_held, replace=False)) if n_held else ids[:0]
    return np.setdiff1d(ids, held), held


def trajectory_dataset(name: str, table: TrackTable, *, stride: int = 1,
                       heldout_share: float = 0.0, heldout: TrackTable | None = None,
                       extent: tuple[float, float, float, float] | None = None,
                       source: str = "", max_heldout: int = 2000) -> Dataset:
    """A ``trajectory`` dataset for prediction: items are the :data:`PREDICTED`
    future positions of a :data:`WINDOW`-frame window, ``meta["observed"]``
    the :data:`OBSERVED` positions before them (the condition, see
    :mod:`ebm_engine.data.scenes`).

    Held-out windows (``meta["heldout"]`` futures and
    ``meta["heldout_observed"]`` pasts, what ``ebm eval`` scores) come from
    the ``heldout`` table (other agents, e.g. another simulation), or from a
    fixed ``heldout_share`` of the table's agents when there are at least 10
    of them. ``meta["extent"]`` is the region views show (``extent`` or the
    data's bounding box with a margin).
    """
    from ebm_engine.errors import DataError

    train_ids = None
    if heldout is None and heldout_share > 0 and len(np.unique(table.agent)) >= 10:
        train_ids, held_ids = split_agents(table, heldout_share)
        held, _, _ = windows(table, WINDOW, stride, held_ids)
    elif heldout is not None:
        held, _, _ = windows(heldout, WINDOW, stride)
    else:
        held = np.zeros((0, WINDOW, 2), np.float32)
    held = held[:max_heldout]
    full, agent, start = windows(table, WINDOW, stride, train_ids)
    if not len(full):
        raise DataError(f"{name}: no agent has {WINDOW} consecutive frames (observe + predict)")
    if extent is None:
        lo, hi = table.xy.min(0), table.xy.max(0)
        pad = 0.05 * float(max(hi - lo)) + 1e-3
        extent = (lo[0] - pad, hi[0] + pad, lo[1] - pad, hi[1] + pad)
    meta: dict = {
        "observed": full[:, :OBSERVED].copy(), "conditions": ("observed",),
        "heldout": held[:, OBSERVED:].copy(), "heldout_observed": held[:, :OBSERVED].copy(),
        "agent": agent, "start_frame": start, "frame_step": table.frame_step(),
        "extent": tuple(float(v) for v in extent), "source": source or name}
    return Dataset(name, "trajectory", full[:, OBSERVED:].copy(), None, meta)
