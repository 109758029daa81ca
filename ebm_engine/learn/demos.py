"""The Learn panel's live demonstrations: one generator of frames per Part I concept.

Each trains a small 2D energy model on ``8gaussians`` with the engine's own
pieces (:mod:`ebm_engine.learn.toy`) and yields a :class:`LearnFrame` after
its first iteration and then every ``every`` iterations. Sizes are chosen so
that something meaningful shows within ~20 s of one CPU thread. A consumer
stops a demo by closing the generator or, inside a Langevin chain, through
:func:`ebm_engine.sampling.interrupt.stop_on`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ebm_engine.data.toy2d import toy_points
from ebm_engine.learn.frames import Curve, Heat, LearnFrame, Plot, Points
from ebm_engine.learn.toy import BOUNDS, History, ToyEBM, labelled_8gaussians, points, sampler
from ebm_engine.metrics.density2d import grid_divergences

N_DATA = 2000
BATCH = 128
ITERATIONS = "iteration"
SHORT_RUN_GRAD = 10.0  # chains from noise need the stronger drift (see toy.sampler)


def _due(it: int, every: int) -> bool:
    return it == 1 or it % every == 0


def kl_divergence(iterations: int = 500, every: int = 10, seed: int = 0) -> Iterator[LearnFrame]:
    """Maximum likelihood as minimum KL: KL(p_data ‖ p_θ) on a grid falls while the
    data and sample energies, the two terms of the gradient, meet."""
    data = toy_points("8gaussians", N_DATA, seed)
    # lr 6e-3: the modes separate by ~300 iterations (~450 at 3e-3), ~7 CPU seconds
    model, cfg, hist = ToyEBM(data, seed, lr=6e-3), sampler(40, "persistent"), History()
    kls = History()
    for it in range(1, iterations + 1):
        x_synth, _ = model.synthesize(BATCH, cfg)
        hist.add(it, **model.update(model.batch(BATCH)[1], x_synth))
        if _due(it, every):
            kl = grid_divergences(data, energy_fn=model.energy, bins=32)["kl_model"]
            kls.add(it, kl=kl)
            e = {k: hist.last(k) for k in ("energy_data", "energy_sample")}
            yield LearnFrame(it, iterations, (
                Plot("p_θ ∝ exp(−E): data and samples",
                     (model.heat(), model.shown_data(), points("samples", x_synth)), span=(2, 1), bounds=BOUNDS),
                Plot("KL(p_data ‖ p_θ), nats", kls.curves("kl"), 0, 1, plane=False,
                     x_label=ITERATIONS),
                Plot("energy_data vs energy_sample", hist.curves("energy_data", "energy_sample"),
                     1, 1, plane=False, x_label=ITERATIONS),
            ), f"iteration {it}: KL(p_data ‖ p_θ) = {kl:.2f} nats; energy_data {e['energy_data']:.2f}, "
               f"energy_sample {e['energy_sample']:.2f}", {"kl": kl, **e})


def analysis_by_synthesis(iterations: int = 300, every: int = 10, strip_every: int = 50,
                          seed: int = 0) -> Iterator[LearnFrame]:
    """Synthesis by Langevin from noise (the chains' paths), analysis of synthesis vs data
    (the update), and the synthesised samples over the learning iterations."""
    data = toy_points("8gaussians", N_DATA, seed)
    model, cfg, hist = ToyEBM(data, seed), sampler(30, "noise", SHORT_RUN_GRAD), History()
    strip: list[tuple[int, np.ndarray]] = []
    for it in range(1, iterations + 1):
        x_synth, frames = model.synthesize(BATCH, cfg, record_every=3 if _due(it, every) else 0)
        hist.add(it, **model.update(model.batch(BATCH)[1], x_synth))
        if it == 1 or it % strip_every == 0:
            strip = strip + [(it, x_synth.numpy().copy())]
            strip = strip[:1] + strip[-4:] if len(strip) > 5 else strip  # the start, the latest
        if _due(it, every):
            paths = np.stack([f.x[:16] for f in frames], 1)  # (chains, steps, 2)
            paths = np.concatenate([paths, np.full((16, 1, 2), np.nan, np.float32)], 1).reshape(-1, 2)
            plots = [
                Plot("synthesis: Langevin paths from noise",
                     (model.heat(), model.shown_data(), Curve("chains", paths[:, 0], paths[:, 1]),
                      points("samples", x_synth[:16])), span=(2, 3), bounds=BOUNDS),
                Plot("analysis: mean E(data) vs mean E(synthesis)",
                     hist.curves("energy_data", "energy_sample"), 0, 3, (1, 5), plane=False,
                     x_label=ITERATIONS),
            ]
            plots += [Plot(f"iteration {k}", (Points("samples", x),), 1, 3 + col,
                           bounds=BOUNDS) for col, (k, x) in enumerate(strip)]
            yield LearnFrame(it, iterations, tuple(plots),
                             f"iteration {it}: {BATCH} samples synthesised from noise in "
                             f"{cfg.n_steps} Langevin steps, compared with {BATCH} data points")


# Iterations the self-critic's caption averages its margin over.
MARGIN_MEAN = 50


def self_critic(iterations: int = 800, every: int = 10, seed: int = 0) -> Iterator[LearnFrame]:
    """The energy as its own critic (it scores data low, samples high) and, through
    Langevin, its own generator; at equilibrium the critic cannot tell them apart."""
    data = toy_points("8gaussians", N_DATA, seed)
    # Persistent chains never restarted, and a light energy penalty: at equilibrium the
    # margin goes to 0 (restarts from noise and a strong penalty would keep it open).
    model, hist = ToyEBM(data, seed, energy_l2=0.01), History()
    cfg = dataclasses.replace(sampler(40, "persistent"), reinit_prob=0.0)
    for it in range(1, iterations + 1):
        x_synth, _ = model.synthesize(BATCH, cfg)
        m = model.update(model.batch(BATCH)[1], x_synth)
        hist.add(it, **m, margin=m["energy_sample"] - m["energy_data"])
        if _due(it, every):
            # one iteration's margin swings by ±0.2: the caption says a steadier mean
            margin = float(np.mean(hist.series["margin"][1][-MARGIN_MEAN:]))
            yield LearnFrame(it, iterations, (
                Plot("critic E(x) with data and the generator's samples",
                     (model.heat(), model.shown_data(), points("samples", x_synth)), span=(2, 1), bounds=BOUNDS),
                Plot("critic's score: energy_data vs energy_sample",
                     hist.curves("energy_data", "energy_sample"), 0, 1, plane=False,
                     x_label=ITERATIONS),
                Plot("margin E(samples) − E(data)", hist.curves("margin"), 1, 1, plane=False,
                     x_label=ITERATIONS),
            ), f"iteration {it}: the critic's margin {margin:+.2f}, mean of the last "
               f"{min(it, MARGIN_MEAN)} iterations (0 = it can no longer tell its samples "
               "from data)", {"margin": margin})


# Cells per axis of the short-run demo's KL grid (cells of 0.34 resolve modes of std 0.25).
KL_BINS = 24


def sample_kl_floor(data: np.ndarray, n: int, seed: int, draws: int = 8) -> float:
    """What ``n`` fresh ``8gaussians`` points score as ``KL(p_data ‖ samples)`` on the grid.

    A histogram of a few hundred points leaves cells empty where the data have
    mass, so even perfect samples score well above 0 (about 1 nat for 256 points
    on 24 × 24 cells): the curves of sample sets can only come down to this.

    Parameters
    ----------
    data : np.ndarray
        ``(N, 2)`` training points (they set the grid).
    n : int
        Points per fresh set, as many as the samples it is compared with.
    seed : int
        The fresh sets are drawn with seeds ``seed + 1 …``, never the data's own.
    draws : int
        Fresh sets averaged (one set's score varies by about ±0.05).

    Returns
    -------
    float
        The mean ``kl_samples`` of the fresh sets, in nats.
    """
    kls = [grid_divergences(data, toy_points("8gaussians", n, seed + 1 + k), bins=KL_BINS)["kl_samples"]
           for k in range(draws)]
    return float(np.mean(kls))


def short_run_vs_persistent(iterations: int = 300, every: int = 10, steps: int = 20,
                            seed: int = 0) -> Iterator[LearnFrame]:
    """Two equal models (same seed, net, Langevin steps per iteration, iterations) trained
    side by side: one with short-run chains from noise, one with persistent chains. Their
    samples' KL from the data is drawn with the :func:`sample_kl_floor` it comes down to."""
    data = toy_points("8gaussians", N_DATA, seed)
    runs = {"short-run": (ToyEBM(data, seed, lr=6e-3), sampler(steps, "noise", SHORT_RUN_GRAD)),
            "persistent": (ToyEBM(data, seed, lr=6e-3),
                           sampler(steps, "persistent", SHORT_RUN_GRAD))}
    floor = sample_kl_floor(data, 2 * BATCH, seed)
    kls = History()
    for it in range(1, iterations + 1):
        latest = {}
        for role, (model, cfg) in runs.items():
            x_synth, _ = model.synthesize(2 * BATCH, cfg)
            model.update(model.batch(2 * BATCH)[1], x_synth)
            latest[role] = x_synth
        if _due(it, every):
            kl = {role: grid_divergences(data, x.numpy(), bins=KL_BINS)["kl_samples"]
                  for role, x in latest.items()}
            kls.add(it, **kl, floor=floor)
            plots = tuple(
                Plot(f"{role}: {'from noise' if role == 'short-run' else 'replay buffer'}, "
                     f"{steps} steps", (model.heat(), model.shown_data(), points(role, latest[role])),
                     0, col, (2, 1), bounds=BOUNDS)
                for col, (role, (model, _)) in enumerate(runs.items()))
            yield LearnFrame(it, iterations, plots + (
                Plot("KL(p_data ‖ samples), nats", kls.curves(*runs, "floor"), 0, 2, (2, 1),
                     plane=False, x_label=ITERATIONS),
            ), f"iteration {it}: KL of samples, short-run {kl['short-run']:.2f}, "
               f"persistent {kl['persistent']:.2f} nats ({2 * BATCH} fresh data points score "
               f"{floor:.2f})", {**kl, "floor": floor})


def classifier(iterations: int = 400, every: int = 10, seed: int = 0) -> Iterator[LearnFrame]:
    """JEM: one network's logits read as a classifier ``p(y|x) ∝ exp(−E(x, y))`` and as an
    energy ``E(x) = −log Σ_y exp(−E(x, y))``; trained on both readings at once."""
    data, labels = labelled_8gaussians(N_DATA, seed)
    held_x, held_y = (torch.from_numpy(a) for a in labelled_8gaussians(500, seed + 1))
    model, cfg, hist = ToyEBM(data, seed, n_classes=8), sampler(20, "persistent"), History()
    y_all = torch.from_numpy(labels)
    for it in range(1, iterations + 1):
        idx, xb = model.batch(BATCH)
        x_synth, _ = model.synthesize(BATCH, cfg)
        ce = F.cross_entropy(model.net.logits(xb), y_all[idx])
        hist.add(it, **model.update(xb, x_synth, extra=ce), cross_entropy=float(ce.detach()))
        if _due(it, every):
            with torch.no_grad():
                acc = float((model.net.logits(held_x).argmax(1) == held_y).float().mean())
            hist.add(it, accuracy=acc)
            yield LearnFrame(it, iterations, (
                Plot("classifier: argmax_y p(y|x)", (_regions(model), model.shown_data(labels)),
                     span=(2, 1), bounds=BOUNDS),
                Plot("generative: E(x) = −log Σ_y exp(−E(x, y))",
                     (model.heat(), points("samples", x_synth)), 0, 1, (2, 1), bounds=BOUNDS),
                Plot("held-out accuracy", hist.curves("accuracy"), 0, 2, plane=False,
                     x_label=ITERATIONS),
                Plot("energy_data vs energy_sample", hist.curves("energy_data", "energy_sample"),
                     1, 2, plane=False, x_label=ITERATIONS),
            ), f"iteration {it}: held-out accuracy {acc:.0%} (chance 12.5%); samples from "
               "the same network", {"accuracy": acc})


def _regions(model: ToyEBM, resolution: int = 64) -> Heat:
    """The classifier's decision per grid cell, faded where p(y|x) is unsure."""
    xs = np.linspace(BOUNDS[0], BOUNDS[1], resolution, dtype=np.float32)
    ys = np.linspace(BOUNDS[2], BOUNDS[3], resolution, dtype=np.float32)
    gx, gy = np.meshgrid(xs, ys)  # row i ↔ y_i, as the energy heat map
    with torch.no_grad():
        prob = model.net.logits(torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], 1))).softmax(1)
    conf, cls = prob.max(1)
    shape = (resolution, resolution)
    return Heat(cls.numpy().reshape(shape), BOUNDS, "classes", conf.numpy().reshape(shape))
