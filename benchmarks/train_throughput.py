"""Training throughput: the engine's maximum-likelihood iteration against a hand-written loop.

One iteration of short-run maximum likelihood (Xie et al. 2016; Nijkamp et
al. 2019) on the digits demo: draw a data batch, start chains from uniform
noise, run clamped Langevin, take the contrastive loss
``mean E(x) − mean E(x̃) + energy_l2 · mean(E(x)² + E(x̃)²)`` and an Adam step.

- **ours**: :class:`ebm_engine.learning.trainer.Trainer` without a run folder
  (what ``ebm train`` and the app's worker iterate, less the file writes),
  pulled one :class:`TrainStep` at a time; it also computes the gradient
  norm, the divergence check, the metrics and the undo state of every step.
- **plain**: the loop an informed user writes for the same computation, in
  the same process on the same data, same network (same initial weights),
  optimiser, steps and threads: frozen parameters and channels-last input
  and weights while sampling, the chain updated in place with a preallocated
  contiguous noise buffer, the data as float32 tensors prepared once.

``--snapshots``: both also hand a picture to a viewer every iteration (ours:
``train.sample_every 1``, ``train.record_every 5``, snapshot of 64; plain:
the first 8 chains copied to numpy every 5 steps, 64 final samples and their
energies at the end), the path the app's live view takes.

The variants are timed round-robin (the order alternates every repeat), each
timing ``--iterations`` iterations after one untimed warm-up call. The ratio
is ``plain time / our time`` of the same repeat (> 1: ours is faster);
reported are its median and min–max.

    python -m benchmarks.train_throughput [--quick] [--repeats N] [--threads N] [--snapshots]
"""

from __future__ import annotations

import argparse
import json
import statistics

import torch

from benchmarks.common import machine
from benchmarks.langevin_throughput import _WEIGHT_LAYOUT, _fast_layout, alternate_many
from ebm_engine.learning.events import TrainStep
from ebm_engine.learning.trainer import Trainer
from ebm_engine.presets import config_for

#: The digits preset's network and sampler, with noise starts (a replay buffer and
#: the weight average are bookkeeping a plain loop would have to copy line by line).
SETTINGS = (
    ("train.device", "cpu"), ("train.precision", "fp32"), ("train.checkpoint_every", 0),
    ("train.iterations", 10**9), ("train.seed", 0), ("train.options", {}),
    ("sampler.init", "noise"), ("sampler.init_noise", "uniform"),
)


def config(snapshots: bool, batch: int | None = None, steps: int | None = None):
    cfg = config_for("digits", overrides=list(SETTINGS))
    cfg = cfg.with_value("train.sample_every", 1 if snapshots else 10**9)
    cfg = cfg.with_value("train.record_every", 5 if snapshots else 0)
    if batch is not None:
        cfg = cfg.with_value("train.batch_size", batch)
    if steps is not None:
        cfg = cfg.with_value("sampler.n_steps", steps)
    return cfg


def engine_iterations(cfg):
    """A callable running ``n`` of the Trainer's iterations per call."""
    trainer = Trainer(cfg, None)
    events = trainer.events()

    def run(n: int) -> None:
        done = 0
        for event in events:
            if isinstance(event, TrainStep):
                done += 1
                if done == n:
                    return

    return trainer, run


def plain_iterations(cfg, net: torch.nn.Module, data: torch.Tensor, snapshots: bool,
                     value_range: tuple[float, float]):
    """A callable running ``n`` hand-written iterations per call (see the module docstring)."""
    s, t = cfg.sampler, cfg.train
    opt = torch.optim.Adam(net.parameters(), lr=t.lr, betas=(t.beta1, t.beta2),
                           weight_decay=t.weight_decay)
    drift, noise_std = s.grad_scale * s.step_size**2 / 2, s.noise_scale * s.step_size
    lo, hi = value_range
    shape = (t.batch_size, *data.shape[1:])
    noise = torch.empty(shape)
    params = list(net.parameters())
    convs = [p for p in params if p.dim() in _WEIGHT_LAYOUT]

    def iteration() -> None:
        batch = data[torch.randint(len(data), (t.batch_size,))]
        # clone, not .contiguous(): a 1-channel batch counts as channels-last already, but
        # only channels-last strides (a clone's) make the convolutions run channels-last
        x = ((torch.rand(shape) * 2 - 1) * s.init_scale).clone(memory_format=_fast_layout(batch))
        for p in params:
            p.requires_grad_(False)
        originals = [p.data for p in convs]
        for p in convs:
            p.data = p.data.contiguous(memory_format=_WEIGHT_LAYOUT[p.dim()])
        frames = []
        for step in range(s.n_steps):
            x.requires_grad_(True)
            energy = -net(x)
            (g,) = torch.autograd.grad(energy.sum(), x)
            x.requires_grad_(False)
            if snapshots and step % 5 == 0:
                frames.append((x[:8].numpy().copy(), energy[:8].detach().numpy().copy()))
            x.add_(g, alpha=-drift).add_(noise.normal_(), alpha=noise_std).clamp_(lo, hi)
        for p, original in zip(convs, originals, strict=True):
            p.data = original
        for p in params:
            p.requires_grad_(True)
        x = x.contiguous()
        e_data, e_synth = -net(batch), -net(x)
        loss = e_data.mean() - e_synth.mean() + t.energy_l2 * (e_data.pow(2).mean() + e_synth.pow(2).mean())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if t.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, t.grad_clip)
        opt.step()
        if snapshots:
            frames.append((x[:64].numpy().copy(), e_synth[:64].detach().numpy().copy()))
        float(loss.detach())  # what any loop prints or logs

    def run(n: int) -> None:
        for _ in range(n):
            iteration()

    return run


def run_case(snapshots: bool, iterations: int, repeats: int, batch: int | None = None,
             steps: int | None = None) -> dict[str, object]:
    cfg = config(snapshots, batch, steps)
    trainer, ours = engine_iterations(cfg)
    # The same network and starting weights, its own copy: the two loops train apart.
    net = _clone(trainer.method.net)
    data = trainer.dataset.decode(trainer.items).float()
    plain = plain_iterations(cfg, net, data, snapshots, trainer.spec.value_range)
    seconds = alternate_many({"ours": lambda: ours(iterations), "plain": lambda: plain(iterations)},
                             repeats)
    ratios = [p / o for p, o in zip(seconds["plain"], seconds["ours"], strict=True)]
    return {
        "case": "digits ML" + (" + snapshot every iteration" if snapshots else ""),
        "batch": cfg.train.batch_size, "langevin_steps": cfg.sampler.n_steps,
        "iterations_per_repeat": iterations, "repeats": repeats,
        "torch_threads": torch.get_num_threads(),
        "ours_it_per_s": iterations / statistics.median(seconds["ours"]),
        "plain_it_per_s": iterations / statistics.median(seconds["plain"]),
        "plain_over_ours": statistics.median(ratios),
        "plain_over_ours_min": min(ratios), "plain_over_ours_max": max(ratios),
    }


def _clone(net: torch.nn.Module) -> torch.nn.Module:
    import copy

    return copy.deepcopy(net)


def run(quick: bool = False, repeats: int | None = None, iterations: int = 5,
        cases: tuple[bool, ...] = (False, True)) -> list[dict[str, object]]:
    """One row per case (without and with a snapshot every iteration); ``quick``:
    batch 8, 5 Langevin steps, 2 iterations per call, 2 repeats."""
    size = {"batch": 8, "steps": 5} if quick else {}
    return [run_case(snap, 2 if quick else iterations, repeats or (2 if quick else 8), **size)
            for snap in cases]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="batch 8, 5 Langevin steps, 2 repeats")
    p.add_argument("--repeats", type=int)
    p.add_argument("--iterations", type=int, default=5, help="iterations per timed call")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--snapshots", action="store_true", help="only the case with a snapshot every iteration")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = run(args.quick, args.repeats, args.iterations, (True,) if args.snapshots else (False, True))
    m = machine()
    for row in rows:
        if args.json:
            print(json.dumps(row))
        else:
            print(f"{row['case']:>42}: plain/ours {row['plain_over_ours']:.2f}× "
                  f"({row['plain_over_ours_min']:.2f}–{row['plain_over_ours_max']:.2f}); "
                  f"ours {row['ours_it_per_s']:.2f} it/s, plain {row['plain_it_per_s']:.2f} it/s")
    print(f"({m['processor']}, {m['torch_threads']} threads, 1-min load {m['load_average_1min']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
