"""Checkpoints: one folder of safetensors + JSON for every model and method.

::

    NAME/model.safetensors      every network, keys "<net>.<param>"
    NAME/optimizer.safetensors  optimiser tensors, keys "<opt>.<param#>.<field>"
    NAME/state.safetensors      chain state (buffers) and RNG states
    NAME/state.json             iteration, config, data spec, optimiser layout

A torchrun run's checkpoint also holds, in ``state.safetensors``, the chain
state and RNG states of each rank R > 0 under ``rankR.<key>`` (what equals
rank 0's is stored once, as rank 0's), and ``state.json["rank_states"]`` says
how many ranks it holds: a resume with that many processes gives each rank its
own (:func:`rank_tensors`). Readers that know nothing of them ignore them.

A folder is written under a temporary name and renamed into place, so a
reader (or a resumed run after ``kill -9``) never sees half a checkpoint.
Folders and files get the modes a normal ``mkdir`` / ``open`` gives under the
user's umask (see :mod:`ebm_engine.atomic`), so colleagues can read them.
Loading reads tensors and JSON only: no pickle, no code from the file.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ebm_engine import atomic
from ebm_engine.errors import CheckpointError

FORMAT = "ebm-studio-checkpoint"
FORMAT_VERSION = 1
#: ``state.json["optimizer_state"]`` of a checkpoint shipped without its
#: optimiser tensors (a zoo entry, see ``benchmarks/build_zoo.py``): resuming
#: it starts fresh optimisers at the saved learning rates.
OPTIMIZER_DROPPED = "dropped"
FILES = ("model.safetensors", "optimizer.safetensors", "state.safetensors", "state.json")
_PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".bin")
#: ``state.json`` key: how many torchrun ranks' state the checkpoint holds (absent: rank 0's).
RANK_STATES = "rank_states"
_RANK_KEY = re.compile(r"rank([1-9][0-9]*)\.")


def rank_key(rank: int, key: str) -> str:
    """The name of rank ``rank``'s ``key`` in ``state.safetensors`` (``rank1.rng.trainer``)."""
    return f"rank{rank}.{key}"


def shared_tensors(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``tensors`` without the ranks' own (:func:`rank_key`): rank 0's state, the one
    every reader takes (sampling, a resume with another number of processes)."""
    return {k: v for k, v in tensors.items() if not _RANK_KEY.match(k)}


def rank_tensors(tensors: dict[str, torch.Tensor], rank: int) -> dict[str, torch.Tensor]:
    """Rank ``rank``'s state in ``tensors``: rank 0's, with what rank ``rank`` saved of its
    own in its place (a rank stores only what differs from rank 0's)."""
    prefix = rank_key(rank, "")
    own = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    return {**shared_tensors(tensors), **own}


def with_rank_tensors(tensors: dict[str, torch.Tensor],
                      ranks: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """``tensors`` (rank 0's state) and, under :func:`rank_key`, what each rank of
    ``ranks[1:]`` holds otherwise (``ranks[r]``: rank ``r``'s state, e.g. from
    :func:`ebm_engine.distributed.gather_tensors`; ``ranks[0]`` is not read).

    A tensor equal to rank 0's (same dtype, shape and values: a method's fixed data
    statistics) is stored once; :func:`rank_tensors` gives it back to every rank.
    """
    out = dict(tensors)
    for r, state in enumerate(ranks[1:], start=1):
        for key, value in state.items():
            mine = tensors.get(key)
            if not (mine is not None and mine.dtype == value.dtype and mine.shape == value.shape
                    and torch.equal(mine.cpu(), value.cpu())):
                out[rank_key(r, key)] = value
    return out


@dataclass
class Checkpoint:
    """A checkpoint read back from disk (tensors on the CPU)."""

    path: Path
    state: dict[str, Any]
    model: dict[str, torch.Tensor]
    optimizer: dict[str, torch.Tensor]
    tensors: dict[str, torch.Tensor]

    @property
    def iteration(self) -> int:
        return int(self.state["iteration"])

    @property
    def optimizer_dropped(self) -> bool:
        """Whether the optimiser state was left out (resuming starts fresh optimisers)."""
        return self.state.get("optimizer_state") == OPTIMIZER_DROPPED

    def network(self, name: str) -> dict[str, torch.Tensor]:
        """The state dict of network ``name``."""
        prefix = name + "."
        return {k[len(prefix):]: v for k, v in self.model.items() if k.startswith(prefix)}


def _flatten_optimizer(name: str, opt: torch.optim.Optimizer) -> tuple[dict, dict]:
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, pstate in sd["state"].items():
        for key, value in pstate.items():
            if torch.is_tensor(value):
                tensors[f"{name}.{pid}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _unflatten_optimizer(name: str, layout: dict, tensors: dict[str, torch.Tensor]) -> dict:
    state: dict[int, dict[str, Any]] = {}
    prefix = name + "."
    for key, value in tensors.items():
        if key.startswith(prefix):
            pid, field = key[len(prefix):].split(".", 1)
            state.setdefault(int(pid), {})[field] = value
    for pid, scalars in layout.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(scalars)
    return {"state": state, "param_groups": layout["param_groups"]}


def save_checkpoint(
    folder: str | Path,
    *,
    networks: dict[str, torch.nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    tensors: dict[str, torch.Tensor],
    state: dict[str, Any],
) -> Path:
    """Write a checkpoint folder atomically (replacing one of the same name).

    Parameters
    ----------
    folder : path
        Target folder, e.g. ``RUN/checkpoints/iter_000200``.
    networks, optimizers : dict
        Named modules and optimisers.
    tensors : dict
        Extra tensors (chain buffers, RNG states).
    state : dict
        JSON-serialisable facts (iteration, config, data spec …).
    """
    folder = Path(folder)
    parent = folder.parent
    parent.mkdir(parents=True, exist_ok=True)
    model = {
        f"{net_name}.{k}": v.detach().cpu().contiguous()
        for net_name, net in networks.items()
        for k, v in net.state_dict().items()
    }
    opt_tensors: dict[str, torch.Tensor] = {}
    layouts: dict[str, Any] = {}
    for opt_name, opt in optimizers.items():
        flat, layout = _flatten_optimizer(opt_name, opt)
        opt_tensors.update(flat)
        layouts[opt_name] = layout
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, **state, "optimizers": layouts}
    # Not tempfile.mkdtemp: its 0700 would keep colleagues out of the folder.
    tmp = atomic.temp_dir(parent, prefix=f".{folder.name}.", suffix=".tmp")
    try:
        save_file(model, str(tmp / "model.safetensors"))
        save_file(opt_tensors, str(tmp / "optimizer.safetensors"))
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()},
                  str(tmp / "state.safetensors"))
        (tmp / "state.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        # safetensors writes 0600 files (its own temp file + rename): give them
        # the mode state.json got from a plain open(), i.e. the user's umask.
        normal_mode = stat.S_IMODE((tmp / "state.json").stat().st_mode)
        for name in FILES:
            atomic.match_mode(tmp / name, normal_mode)
            with open(tmp / name, "rb") as fh:
                os.fsync(fh.fileno())
        old = None
        if folder.exists():
            old = parent / f".{folder.name}.old-{os.getpid()}"
            os.replace(folder, old)
        os.replace(tmp, folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def missing_files(folder: str | Path) -> list[str]:
    """The files of :data:`FILES` that ``folder`` lacks (all of them where it is gone).

    A checkpoint folder that a training's pruning renamed away while it was
    being read or copied lacks them all; a copy of it must not pass for one.
    """
    return [name for name in FILES if not (Path(folder) / name).is_file()]


def copy_checkpoint_folder(src: str | Path, dest: str | Path) -> Path:
    """Copy the checkpoint folder ``src`` to the new folder ``dest``, whole or not at all.

    The one copy of a checkpoint folder: a fork's into its new run
    (:func:`ebm_engine.runs.fork.fork_run`) and ``ebm export --what checkpoint``'s.
    The files are copied into a hidden folder beside ``dest``, of a name of its own
    (``.NAME.<random>.tmp``, as :func:`save_checkpoint` writes; what a killed copy
    left in a run's ``checkpoints`` is what
    :func:`ebm_engine.runs.run_lock.tidy_checkpoints` removes), then renamed to
    ``dest``: a full disk, a read-only folder or Ctrl-C leaves no half-copied
    folder under that name, and nothing in the way of the next try. Files get the
    modes the user's umask gives.

    Parameters
    ----------
    src : path
        A checkpoint folder.
    dest : path
        The folder to create; its parent must exist.

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    FileNotFoundError
        ``src`` (or one of its files) vanished while it was copied: pruned by the
        training that wrote it; the copy would lack a file of :data:`FILES`.
    OSError
        A file could not be read or written.
    """
    src, dest = Path(src), Path(dest)
    # a short prefix: a long name plus ours passed the 255-byte limit of a name
    tmp = atomic.temp_dir(dest.parent, prefix=f".{dest.name[:atomic.TEMP_NAME_CHARS]}.",
                          suffix=".tmp")
    try:
        _copy_tree(src, tmp)
        if gone := missing_files(tmp):
            raise FileNotFoundError(errno.ENOENT, "vanished while copied", str(src / gone[0]))
        os.replace(tmp, dest)
    except BaseException:  # Ctrl-C too: never a half-copied folder left over
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _copy_tree(src: Path, dst: Path) -> None:
    """Copy what ``src`` holds into the existing folder ``dst``, stopping at the first
    failure.

    Not :func:`shutil.copytree`: it goes on after a failed file and then raises one
    error listing them all (a Python list, not a reason). Files get the umask's
    mode, as a new file would.
    """
    for entry in sorted(src.iterdir()):
        if entry.is_dir():
            os.mkdir(dst / entry.name)
            _copy_tree(entry, dst / entry.name)
        else:  # a file that vanished meanwhile fails the copy
            shutil.copyfile(entry, dst / entry.name)


def load_checkpoint(folder: str | Path) -> Checkpoint:
    """Read a checkpoint folder; raise :class:`CheckpointError` if it is not one.

    Files that could carry pickled code (``.pt``, ``.pth``, ``.ckpt`` …) are
    refused without being opened.
    """
    folder = Path(folder)
    if folder.is_file() and folder.suffix.lower() in _PICKLE_SUFFIXES:
        raise CheckpointError(
            f"{folder}: refusing a pickle-based checkpoint (could run code); "
            "EBM Studio checkpoints are folders of safetensors + JSON"
        )
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: not a checkpoint folder")
    for name in FILES:
        if not (folder / name).is_file():
            raise CheckpointError(f"{folder}: not a checkpoint (missing {name})")
    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{folder / 'state.json'}: unreadable ({exc})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{folder / 'state.json'}: not an EBM Studio checkpoint")
    if int(state.get("format_version", -1)) > FORMAT_VERSION:
        raise CheckpointError(f"{folder}: written by a newer EBM Studio (format {state['format_version']})")
    tensors = []
    for name in ("model.safetensors", "optimizer.safetensors", "state.safetensors"):
        try:
            tensors.append(load_file(str(folder / name)))
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"{folder / name}: corrupt safetensors file ({exc})") from None
    # Training never saves a diverged state, so NaN/inf weights are damaged bytes (the
    # sizes intact): resume rolled back to them three times, sampling wrote NaN samples.
    spoilt = next((key for key, t in tensors[0].items()
                   if t.is_floating_point() and not bool(torch.isfinite(t).all())), None)
    if spoilt is not None:
        raise CheckpointError(f"{folder / 'model.safetensors'}: damaged (non-finite values "
                              f"in {spoilt})")
    return Checkpoint(folder, state, *tensors)


def restore_optimizer(ckpt: Checkpoint, name: str, opt: torch.optim.Optimizer) -> None:
    """Load optimiser ``name`` of ``ckpt`` into ``opt``."""
    layout = ckpt.state.get("optimizers", {}).get(name)
    if layout is None:
        raise CheckpointError(f"{ckpt.path}: has no optimiser {name!r}")
    try:
        opt.load_state_dict(_unflatten_optimizer(name, layout, ckpt.optimizer))
    except (ValueError, KeyError, RuntimeError) as exc:
        raise CheckpointError(f"{ckpt.path}: optimiser {name!r} does not fit ({exc})") from None


def restore_network(ckpt: Checkpoint, name: str, net: torch.nn.Module) -> None:
    """Load network ``name`` of ``ckpt`` into ``net`` (strict)."""
    sd = ckpt.network(name)
    if not sd:
        raise CheckpointError(f"{ckpt.path}: has no network {name!r}")
    try:
        net.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise CheckpointError(f"{ckpt.path}: network {name!r} does not fit the config ({first[-1].strip()})") from None
