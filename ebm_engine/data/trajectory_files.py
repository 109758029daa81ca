"""Users' pedestrian tracks: the common text format of the ETH/UCY benchmarks.

One position per line, ``frame agent x y``, separated by white space (tabs)
or commas; ``#`` starts a comment; a first line of column names
(``frame,agent,x,y``) is skipped. Frames and agent ids are integers
(``780.0`` is accepted: the ETH files write them so).

Every bad input is one line naming the file and line: a line without four
numbers, a NaN or infinite coordinate, an agent twice in one frame, an
agent with fewer frames than observe + predict (unless
``data.options.short_agents=skip``), or no usable window at all.

A ``.txt`` file is read with this reader when its first lines all hold four
numbers (:func:`looks_like_tracks`); otherwise it is a sentence file
(:mod:`ebm_engine.data.text`). ``--set data.options.reader=trajectories``
forces it.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from ebm_engine import atomic
from ebm_engine.config import DataConfig
from ebm_engine.data._collect import choice_option, int_option
from ebm_engine.data.catalogue import reader
from ebm_engine.data.dataset import Dataset
from ebm_engine.data.text import read_text
from ebm_engine.data.tracks import WINDOW, TrackTable, trajectory_dataset
from ebm_engine.errors import DataError

_SPLIT = re.compile(r"[,\s]+")
#: Lines :func:`looks_like_tracks` reads before deciding.
SNIFF_LINES = 20
#: Share of agents held out for ``ebm eval`` (when there are enough of them).
HELDOUT_SHARE = 0.2


def _fields(line: str) -> list[str]:
    return [f for f in _SPLIT.split(line.strip()) if f]


def _integer(text: str) -> int | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if math.isfinite(value) and value == int(value) else None


def parse_tracks(path: str | Path) -> TrackTable:
    """The rows of a pedestrian text file.

    Raises
    ------
    DataError
        One line naming the file and line: unreadable or binary file,
        a line without exactly four numbers, a NaN/infinite coordinate,
        the same agent twice in a frame, or no rows at all.
    """
    path = Path(path)
    text = read_text(path, "text lines 'frame agent x y'")
    frames, agents, xs, ys, lines = [], [], [], [], []
    seen: dict[tuple[int, int], int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0]
        fields = _fields(line)
        if not fields:
            continue
        if not frames and _is_header(fields):
            continue
        if len(fields) != 4:
            raise DataError(f"{path}: line {number}: expected 4 values 'frame agent x y', "
                            f"got {len(fields)}: {line.strip()[:60]!r}")
        frame, agent = _integer(fields[0]), _integer(fields[1])
        if frame is None or agent is None:
            raise DataError(f"{path}: line {number}: frame and agent must be integers, "
                            f"got {fields[0]!r} {fields[1]!r}")
        try:
            x, y = float(fields[2]), float(fields[3])
        except ValueError:
            raise DataError(f"{path}: line {number}: x and y must be numbers, "
                            f"got {fields[2]!r} {fields[3]!r}") from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise DataError(f"{path}: line {number}: position is not finite ({fields[2]} {fields[3]})")
        if (frame, agent) in seen:
            raise DataError(f"{path}: line {number}: agent {agent} appears twice in frame {frame} "
                            f"(first on line {seen[frame, agent]})")
        seen[frame, agent] = number
        frames.append(frame)
        agents.append(agent)
        xs.append(x)
        ys.append(y)
        lines.append(number)
    if not frames:
        raise DataError(f"{path}: no positions, expected lines 'frame agent x y'")
    return TrackTable(np.asarray(frames, np.int64), np.asarray(agents, np.int64),
                      np.stack([xs, ys], 1).astype(np.float64), np.asarray(lines, np.int64))


def _is_header(fields: list[str]) -> bool:
    """Column names: four fields, none of them a number."""
    def number(f: str) -> bool:
        try:
            float(f)
        except ValueError:
            return False
        return True

    return len(fields) == 4 and not any(number(f) for f in fields)


def write_tracks(path: str | Path, table: TrackTable, sep: str = "\t") -> None:
    """Write ``table`` in the pedestrian format (atomically; coordinates exact:
    :func:`parse_tracks` reads back the same float64 values)."""
    rows = (f"{f}{sep}{a}{sep}{x!r}{sep}{y!r}" for f, a, (x, y) in
            zip(table.frame.tolist(), table.agent.tolist(), table.xy.tolist()))
    atomic.write_text(path, "\n".join(rows) + "\n")


def looks_like_tracks(path: str | Path) -> bool:
    """Whether a text file is pedestrian tracks: its first non-comment lines
    (up to :data:`SNIFF_LINES`, a header allowed) all hold four numbers with
    integer frame and agent. A sentence file never does."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8192)
    except OSError:
        return False
    lines = head.decode("utf-8", "replace").splitlines()
    if len(head) == 8192:
        lines = lines[:-1]  # maybe cut mid-line
    checked = 0
    for line in lines:
        fields = _fields(line.split("#", 1)[0])
        if not fields:
            continue
        if checked == 0 and _is_header(fields):
            continue
        if len(fields) != 4 or _integer(fields[0]) is None or _integer(fields[1]) is None:
            return False
        try:
            float(fields[2]), float(fields[3])
        except ValueError:
            return False
        checked += 1
        if checked >= SNIFF_LINES:
            break
    return checked > 0


def check_lengths(path: Path, table: TrackTable, length: int, skip_short: bool) -> TrackTable:
    """``table`` without agents that have no run of ``length`` frames (``skip_short``),
    or the error naming the first such agent's first line."""
    longest: dict[int, int] = {}
    for agent, rows in table.segments():
        longest[agent] = max(longest.get(agent, 0), len(rows))
    short = [a for a, n in longest.items() if n < length]
    if short and not skip_short:
        first = {a: int(table.lines()[table.agent == a].min()) for a in short}
        agent = min(short, key=first.__getitem__)
        raise DataError(f"{path}: line {first[agent]}: agent {agent} has only {longest[agent]} "
                        f"consecutive frames, {length} are needed (observe + predict); "
                        f"{len(short)} agent(s) are this short: drop them with "
                        "--set data.options.short_agents=skip")
    if len(short) == len(longest):
        raise DataError(f"{path}: line {int(table.lines().min())}: nothing usable, no agent has "
                        f"{length} consecutive frames (observe + predict)")
    keep = ~np.isin(table.agent, short)
    return TrackTable(table.frame[keep], table.agent[keep], table.xy[keep], table.lines()[keep])


@reader("trajectories", (".txt", ".csv"), label="pedestrian tracks", folder_extensions=(),
        auto=False, options=("short_agents", "stride"))
def read_tracks_file(path: Path, cfg: DataConfig) -> Dataset:
    """Windows of ``observe + predict`` frames of each agent (stride
    ``data.options.stride``, default 1): items are the predicted frames,
    ``meta["observed"]`` the observed ones (:func:`~ebm_engine.data.tracks.trajectory_dataset`);
    a fixed share of the agents is held out for ``ebm eval``."""
    short = choice_option(cfg.options, "short_agents", "error", ("error", "skip"))
    stride = int_option(cfg.options, "stride", 1, 1, 10_000)
    table = check_lengths(path, parse_tracks(path), WINDOW, short == "skip")
    return trajectory_dataset(str(path), table, stride=stride, heldout_share=HELDOUT_SHARE,
                              source=str(path))
