"""Rebuild a trained model from a run folder or a checkpoint (sampling only)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from ebm_engine.config import RunConfig
from ebm_engine.errors import CheckpointError, ConfigError
from ebm_engine.learning.saved_config import saved_config
from ebm_engine.learning.trainer import build_method, resolve_device
from ebm_engine.methods.base import DataSpec, LearningMethod
from ebm_engine.runs import zoo
from ebm_engine.runs.checkpoint import (
    Checkpoint,
    load_checkpoint,
    restore_network,
    shared_tensors,
)
from ebm_engine.runs.rundir import RunDir


@dataclass
class LoadedModel:
    """A method rebuilt from a checkpoint, ready to sample."""

    method: LearningMethod
    cfg: RunConfig
    spec: DataSpec
    checkpoint: Checkpoint
    #: why ``checkpoint`` is not the run's latest (a damaged one was passed over), or ""
    note: str = ""


def find_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder from a run folder (its latest), a checkpoint folder or ``zoo:NAME``."""
    path = zoo.resolve(path)
    run = RunDir(path)
    if run.exists() and (path / "checkpoints").is_dir():
        latest = run.latest_checkpoint()
        if latest is None:
            raise CheckpointError(f"{path}: run has no checkpoint yet")
        return latest
    return path


def readable_checkpoint(path: str | Path) -> Path:
    """The checkpoint folder :func:`load_model` would load: a run's newest that reads
    (a damaged latest is passed over with a warning), or the checkpoint folder given."""
    run = RunDir(zoo.resolve(path))
    if run.exists() and run.checkpoints.is_dir():
        ckpt, note = run.load_latest()
        if note:
            warnings.warn(note, stacklevel=2)
        return ckpt.path
    return find_checkpoint(path)


def load_model(path: str | Path, device: str = "auto") -> LoadedModel:
    """Load the networks of the run or checkpoint at ``path``.

    Parameters
    ----------
    path : path
        A run folder (its latest checkpoint is used), a checkpoint folder or
        ``zoo:NAME`` (a pretrained model, see :mod:`ebm_engine.runs.zoo`).
    device : str
        ``auto``, ``cpu``, ``cuda`` or ``mps``.
    """
    run = RunDir(zoo.resolve(path))
    if run.exists() and run.checkpoints.is_dir():  # the newest that reads, said if not the latest
        ckpt, note = run.load_latest()
        if note:
            warnings.warn(note, stacklevel=2)
    else:
        ckpt, note = load_checkpoint(find_checkpoint(path)), ""
    try:
        cfg = saved_config(ckpt.state["config"])
        spec = DataSpec.from_dict(ckpt.state["data"])
    except ConfigError as exc:  # there, but a value this version refuses
        raise CheckpointError(f"{ckpt.path}: its settings are refused ({exc})") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{ckpt.path}: state.json lacks the config or data spec ({exc})") from None
    method, _ = build_method(cfg, spec, None, resolve_device(device))
    for name, net in method.networks().items():
        restore_network(ckpt, name, net)
        net.eval()
    # rank 0's chains (a torchrun run's other ranks' are for resuming it)
    state = {k: v for k, v in shared_tensors(ckpt.tensors).items()
             if not k.startswith(("rng.", "schedule."))}
    method.load_state_tensors(state)
    return LoadedModel(method, cfg, spec, ckpt, note)


def persistent_chains(loaded: LoadedModel) -> int:
    """How many persistent chains a draw from ``loaded`` continues.

    Parameters
    ----------
    loaded : LoadedModel
        A model from :func:`load_model`.

    Returns
    -------
    int
        The chains (0: chains start afresh, so any number of samples differ).
        Draws beyond it repeat those chains.
    """
    if loaded.cfg.sampler.init != "persistent":
        return 0
    return max((len(b) for b in loaded.method.buffers()), default=0)
