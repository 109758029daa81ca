"""Data-parallel training under ``torchrun``: setup, gradient all-reduce, teardown.

``torchrun --nproc_per_node K -m ebm_engine train …`` starts K copies of the
same command; each reads ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` from the
environment. Every rank builds the same networks (same seed; rank 0's weights
are broadcast to be sure), runs its own Langevin chains (its trainer RNG, and
so its persistent buffer and batches, are seeded per rank) and, after
``train_step`` and before ``apply_update``, the gradients of every parameter
of ``method.networks()`` are averaged across ranks. Averaging gradients
instead of wrapping modules in ``DistributedDataParallel`` works for every
learning method, whatever its networks and optimisers:

    g ← (1/K) Σ_k g_k        (the gradient of the loss averaged over K·batch items)

Step metrics are averaged too, so every rank takes the same divergence
decision. Only rank 0 writes the run folder; at a checkpoint it gathers what
differs between ranks (their chains and random streams, :func:`gather_tensors`)
so that a resume with as many processes goes on exactly. Backends: NCCL on CUDA,
gloo on CPU. Outside ``torchrun`` (no ``WORLD_SIZE`` > 1) nothing here does anything.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
from torch import nn

from ebm_engine.errors import ConfigError

#: Added (times the rank) to the trainer RNG seed of ranks > 0; rank 0 keeps
#: the single-process seed, so a 1-process run is bit-identical to a plain one.
RANK_SEED_STRIDE = 1_000_003


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in a ``torchrun`` job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_info() -> DistInfo:
    """Rank, world size and local rank from ``torchrun``'s environment (or 0, 1, 0)."""
    try:
        return DistInfo(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                        int(os.environ.get("LOCAL_RANK", 0)))
    except ValueError as exc:
        raise ConfigError(f"bad torchrun environment (RANK/WORLD_SIZE/LOCAL_RANK): {exc}") from None


def setup(device: str = "auto", timeout_s: float = 600.0) -> DistInfo:
    """Join the process group when launched by ``torchrun`` with more than one process.

    Parameters
    ----------
    device : str
        ``train.device``; CUDA (``auto`` with a GPU, or ``cuda``) selects NCCL
        and pins this rank to GPU ``LOCAL_RANK``, otherwise gloo.
    timeout_s : float
        How long a collective waits for the other ranks.

    Returns
    -------
    DistInfo
        This process's rank; world size 1 when not under ``torchrun``.
    """
    info = env_info()
    if info.world_size <= 1 or dist.is_initialized():
        return current()
    use_cuda = device in ("auto", "cuda") and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(info.local_rank)
    dist.init_process_group("nccl" if use_cuda else "gloo", timeout=timedelta(seconds=timeout_s))
    return current()


def teardown() -> None:
    """Leave the process group (no-op when not in one)."""
    if dist.is_available() and dist.is_initialized():
        # Leave together: a rank that tears gloo down while another still
        # talks to it can abort ("terminate called without an active exception").
        try:
            dist.barrier()
        except RuntimeError:  # a peer already gone: nothing left to wait for
            pass
        dist.destroy_process_group()


def current() -> DistInfo:
    """This process's place in the initialised process group (0, 1, 0 if none)."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), env_info().local_rank)
    return DistInfo()


def world_size() -> int:
    return current().world_size


def barrier() -> None:
    """Wait for every rank (nothing to wait for outside a process group)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def rank() -> int:
    return current().rank


def is_main() -> bool:
    """Whether this process writes files (rank 0, or not distributed)."""
    return current().is_main


def rank_seed(seed: int, rank_: int) -> int:
    """The trainer RNG seed of ``rank_`` (rank 0: ``seed`` itself)."""
    return seed + RANK_SEED_STRIDE * rank_


def _params(networks: dict[str, nn.Module] | Iterable[nn.Module]) -> list[nn.Parameter]:
    modules = networks.values() if isinstance(networks, dict) else networks
    seen: set[int] = set()
    out = []
    for module in modules:
        for p in module.parameters():
            if p.requires_grad and id(p) not in seen:  # shared parameters once
                seen.add(id(p))
                out.append(p)
    return out


def allreduce_grads(networks: dict[str, nn.Module] | Iterable[nn.Module]) -> None:
    """Average the gradients of every parameter of ``networks`` over all ranks.

    One flat buffer per call (one collective). A parameter without a gradient
    on some rank counts as zero there; it gets a gradient if any rank had one,
    so every rank's optimiser sees the same parameters.
    """
    k = world_size()
    if k <= 1:
        return
    params = _params(networks)
    if not params:
        return
    ref = params[0]
    parts, present = [], []
    for p in params:
        g = p.grad
        present.append(0.0 if g is None else 1.0)
        parts.append(torch.zeros(p.numel(), device=ref.device, dtype=torch.float32) if g is None
                     else g.detach().reshape(-1).to(ref.device, torch.float32))
    flat = torch.cat([*parts, torch.tensor(present, device=ref.device, dtype=torch.float32)])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= k
    offset = 0
    for i, p in enumerate(params):
        n = p.numel()
        if float(flat[-len(params) + i]) > 0:
            avg = flat[offset:offset + n].view_as(p).to(p.dtype)
            if p.grad is None:
                p.grad = avg.clone()
            else:
                p.grad.copy_(avg)
        offset += n


def average_metrics(metrics: dict[str, float], device: torch.device | str = "cpu") -> dict[str, float]:
    """The mean of each float metric over all ranks (a NaN anywhere stays NaN)."""
    k = world_size()
    keys = sorted(key for key, v in metrics.items() if isinstance(v, float))
    if k <= 1 or not keys:
        return metrics
    buf = torch.tensor([metrics[key] for key in keys], dtype=torch.float64, device=device)
    dist.all_reduce(buf, op=dist.ReduceOp.SUM)
    buf /= k
    return {**metrics, **{key: float(v) for key, v in zip(keys, buf.tolist())}}


def any_rank(flag: bool, device: torch.device | str = "cpu") -> bool:
    """Whether ``flag`` is set on any rank (so all ranks stop at the same iteration)."""
    if world_size() <= 1:
        return flag
    buf = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(buf, op=dist.ReduceOp.MAX)
    return bool(buf.item() > 0)


def gather_tensors(tensors: dict[str, torch.Tensor],
                   device: torch.device | str = "cpu") -> list[dict[str, torch.Tensor]] | None:
    """Every rank's named ``tensors``, on rank 0; a collective (every rank calls it).

    Parameters
    ----------
    tensors : dict
        This rank's tensors (any names, shapes and dtypes; they may differ by rank).
    device : torch.device or str
        Where the collective runs (the rank's CUDA device under NCCL, else the CPU).

    Returns
    -------
    list of dict or None
        On rank 0, one dict per rank in rank order (CPU tensors; its own first);
        ``None`` on the other ranks. Outside a process group, ``[tensors]``.

    Notes
    -----
    Each rank's tensors travel as one safetensors blob (not ``gather_object``'s
    pickle: rank 0 decodes bytes, never runs them), padded to the longest, in one
    ``gather``; called at checkpoints only.
    """
    own = {key: value.detach().cpu().contiguous() for key, value in tensors.items()}
    k = world_size()
    if k <= 1:
        return [own]
    blob = torch.frombuffer(bytearray(save_tensors(own)), dtype=torch.uint8)
    sizes = [torch.zeros(1, dtype=torch.int64, device=device) for _ in range(k)]
    dist.all_gather(sizes, torch.tensor([blob.numel()], dtype=torch.int64, device=device))
    longest = max(int(size.item()) for size in sizes)
    padded = torch.zeros(longest, dtype=torch.uint8, device=device)
    padded[:blob.numel()] = blob.to(device)
    main = rank() == 0
    parts = [torch.empty_like(padded) for _ in range(k)] if main else None
    dist.gather(padded, parts, dst=0)
    if not main:
        return None
    assert parts is not None
    return [own, *(load_tensors(part[:int(size.item())].cpu().numpy().tobytes())
                   for part, size in zip(parts[1:], sizes[1:]))]


def broadcast_parameters(networks: dict[str, nn.Module] | Iterable[nn.Module]) -> None:
    """Copy rank 0's parameters and buffers to every rank."""
    if world_size() <= 1:
        return
    modules = networks.values() if isinstance(networks, dict) else networks
    for module in modules:
        for t in [*module.parameters(), *module.buffers()]:
            dist.broadcast(t.data, src=0)


def tensors_digest(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 of named tensors (names and bytes)."""
    h = hashlib.sha256()
    for key, value in sorted(tensors.items()):
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def weights_digest(networks: dict[str, nn.Module]) -> str:
    """SHA-256 of every network's state dict, for comparing ranks."""
    return tensors_digest({f"{name}.{k}": v for name, net in networks.items()
                           for k, v in net.state_dict().items()})


def dump_digest(folder: str | Path, networks: dict[str, nn.Module], iteration: int,
                chains: dict[str, torch.Tensor] | None = None) -> Path:
    """Write ``folder/rank<R>.json``: this rank's weights (and chain state) digests.

    Used with ``EBM_DDP_DUMP=FOLDER`` by tests: weights must agree across
    ranks, chains (persistent buffers) must not.
    """
    info = current() if world_size() > 1 else env_info()
    path = Path(folder) / f"rank{info.rank}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"rank": info.rank, "world_size": info.world_size, "iteration": iteration,
              "digest": weights_digest(networks),
              "chains": tensors_digest(chains) if chains else None}
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    return path
