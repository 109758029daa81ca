"""``ebm eval`` of conditional learning (method ``conditional_coop``), with same-run baselines.

Every number compares the Langevin solver's answers with the fast
initializer's own guesses (the same ``z``, the same conditions), on held-out
conditions when the demo has a test split (``heldout`` = 1):

- ``mask`` (inpainting): PSNR of the completed images (visible pixels kept),
  ``psnr_langevin`` vs ``psnr_initializer`` vs ``psnr_mean_fill`` (the hole
  filled with the training data's mean image), and the mean energies;
- ``label``: accuracy of the outputs under the shipped digits classifier
  (``accuracy_langevin`` / ``accuracy_initializer`` vs ``chance``) and their
  digits FD (for the digits layout, 1×16×16); other labelled data is judged by
  a classifier fitted to the run's own pictures (:mod:`ebm_engine.metrics.label_judge`),
  whose accuracy on held-out real pictures is ``judge_accuracy``; ``spread_*`` is the
  variety within a class (mean per-pixel standard deviation) of the outputs and of the
  data (``spread_data``): outputs that are one picture per class score near 0;
- ``image`` (saliency): CC, KLD and AUC of the mean of ``eval_draws``
  sampled maps against the ground truth (``_langevin``, ``_initializer``)
  vs the centre-bias map (``_centre_bias``), and the draws' diversity on
  ambiguous vs unambiguous scenes (:mod:`ebm_engine.metrics.saliency`).
  Where the scenes' odd items are known (``saliency-popout``): ``hit_rate_*``,
  how often the mean map's peak lands on the odd item of a one-odd scene
  (overall and per odd feature: ``hit_colour``, ``hit_orientation``,
  ``hit_size``), vs ``hit_rate_chance`` (a random item of the 4×4 grid), and
  ``both_found_ambiguous``: the fraction of two-odd scenes whose draws peak
  on each of the two items at least once (a generative model's choices).
"""

from __future__ import annotations

import numpy as np
import torch

from ebm_engine.metrics import saliency

CHUNK = 256  # chains per Langevin call (memory)
DATA_ITEMS = 4000  # training items a label evaluation reads (its judge, the data's spread)


def _solve_chunks(method, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(initializer outputs, Langevin outputs)`` for conditions ``c``."""
    inits, solved = [], []
    for cc in c.split(CHUNK):
        with torch.no_grad():
            init = method.initialize(cc)
        inits.append(init)
        solved.append(method.solve(cc, init))
    return torch.cat(inits), torch.cat(solved)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean PSNR (dB) of images in ``[-1, 1]`` (peak 1 after mapping to ``[0, 1]``)."""
    mse = ((a - b) / 2).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return float((-10 * torch.log10(mse)).mean())


def evaluate_conditional(method, dataset, n: int, seed: int) -> dict[str, float]:
    """The metrics of ``method``'s condition (see the module docstring)."""
    from ebm_engine.methods.conditional_coop import SPLIT_DEMOS

    for net in method.networks().values():
        net.eval()
    kind = method.opts.condition
    if kind == "label":
        return _label(method, dataset if dataset is not None else method.heldout(), n, seed)
    data = method.heldout()
    m = min(n, len(data))
    items = data.take(torch.arange(m)).to(method.device)
    # a demo's test split; on the user's own data heldout() is the training data again
    # (loaded anew, so never the same object: identity said "held-out" for it)
    out = {"heldout": float(method.cfg.data.source in SPLIT_DEMOS), "scored": float(m)}
    if kind == "mask":
        return {**out, **_inpainting(method, dataset, items)}
    return {**out, **_image(method, data, items)}


def _inpainting(method, dataset, items: torch.Tensor) -> dict[str, float]:
    c, y, _ = method.prepare(items)
    keep = (c[:, -1:] + 1) / 2
    init, solved = _solve_chunks(method, c)
    mean = dataset.items.mean(0, keepdim=True).to(y)

    def paste(out: torch.Tensor) -> torch.Tensor:
        return y * keep + out * (1 - keep)

    energy = method.energy_given(c)
    with torch.no_grad():
        e_init, e_solved = energy(init).mean(), energy(solved).mean()
    return {"psnr_langevin": psnr(paste(solved), y), "psnr_initializer": psnr(paste(init), y),
            "psnr_mean_fill": psnr(paste(mean.expand_as(y)), y),
            "energy_initializer": float(e_init), "energy_langevin": float(e_solved)}


def _label(method, dataset, n: int, seed: int) -> dict[str, float]:
    from ebm_engine.data.conditional_demos import glyph_labels

    k = method.opts.n_classes
    c, _ = method.conditions(n)
    labels = torch.arange(n) % k
    init, solved = _solve_chunks(method, c)
    # the data's classes from at most DATA_ITEMS items (only those are decoded)
    index = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))
    _, y, real = method.prepare(dataset.take(index[:DATA_ITEMS]).to(method.device))
    truth = glyph_labels(real[:, :1].float(), k)
    out = {"chance": 1.0 / k}
    # variety within a class, against the data's: every draw of a class the same digit
    # scores an accuracy of (classes right) / k and a spread near 0
    for name, x, of in (("langevin", solved, labels), ("initializer", init, labels),
                        ("data", y, truth)):
        out[f"spread_{name}"] = within_class_spread(x, of, k)
    if tuple(solved.shape[1:]) == (1, 16, 16) and k == 10:
        from ebm_engine.metrics.digits import classifier, digits_fd

        net = classifier()
        with torch.no_grad():
            for name, x in (("langevin", solved), ("initializer", init)):
                pred = net(x.detach().cpu().float().clamp(-1, 1)).argmax(1)
                out[f"accuracy_{name}"] = float((pred == labels).float().mean())
                out[f"digits_fd_{name}"] = digits_fd(x.cpu())
        return out
    from ebm_engine.metrics.label_judge import fit_judge

    # the user's own labels: a judge fitted to the run's pictures, scored on real ones
    predict, out["judge_accuracy"] = fit_judge(y, truth, k, seed)
    for name, x in (("langevin", solved), ("initializer", init)):
        out[f"accuracy_{name}"] = float((predict(x) == labels).float().mean())
    return out


def within_class_spread(x: torch.Tensor, labels: torch.Tensor, n_classes: int) -> float:
    """Per-pixel standard deviation within a class (``x`` in ``[-1, 1]``): the root of the
    per-pixel variance averaged over pixels and over the classes with two items or more
    (``nan`` if none has).

    The variance is Bessel-corrected and averaged before the root, so a few items per
    class (2 at ``--n 20``) read as varied as the data's ~180: the mean of per-pixel
    standard deviations read two items 0.56× as varied.
    """
    x, labels = x.detach().double().cpu().flatten(1), labels.cpu()
    variances = [x[labels == k].var(0, unbiased=True).mean() for k in range(n_classes)
                 if int((labels == k).sum()) >= 2]
    return float(torch.stack(variances).mean().sqrt()) if variances else float("nan")


def _image(method, data, items: torch.Tensor) -> dict[str, float]:
    c, y, _ = method.prepare(items)
    draws_init, draws_solved = [], []
    for _ in range(method.opts.eval_draws):
        init, solved = _solve_chunks(method, c)
        draws_init.append(((init[:, 0] + 1) / 2).clamp(0, 1).cpu().numpy())
        draws_solved.append(((solved[:, 0] + 1) / 2).clamp(0, 1).cpu().numpy())
    d_init, d_solved = np.stack(draws_init, 1), np.stack(draws_solved, 1)  # (N, K, H, W)
    m = len(items)
    gt = data.meta.get("saliency_gt")
    gt = np.asarray(gt[:m]) if gt is not None else ((y[:, 0] + 1) / 2).cpu().numpy()
    from ebm_engine.data.popout import centre_bias

    side = gt.shape[-1]
    centre = centre_bias() if side == 32 else _centre(side)
    out = {**saliency.saliency_metrics(d_solved.mean(1), gt, "_langevin"),
           **saliency.saliency_metrics(d_init.mean(1), gt, "_initializer"),
           **saliency.saliency_metrics(np.broadcast_to(centre, gt.shape), gt, "_centre_bias")}
    amb = data.meta.get("ambiguous")
    if amb is not None:
        amb = np.asarray(amb[:m], dtype=bool)
        for name, mask in (("ambiguous", amb), ("unambiguous", ~amb)):
            if mask.any():
                out[f"diversity_{name}"] = saliency.diversity(d_solved[mask])
                out[f"diversity_{name}_initializer"] = saliency.diversity(d_init[mask])
    centres = data.meta.get("odd_centres")
    if centres is not None and amb is not None:
        out.update(_hits(d_init, d_solved, np.asarray(centres[:m]), amb,
                         np.asarray(data.meta["odd_type"][:m])))
    return out


def _hits(d_init: np.ndarray, d_solved: np.ndarray, centres: np.ndarray, amb: np.ndarray,
          odd_type: np.ndarray) -> dict[str, float]:
    """Peak-on-the-odd-item rates of draws ``(N, K, H, W)`` (see the module docstring)."""
    out: dict[str, float] = {"hit_rate_chance": 1.0 / 16}
    one = ~amb
    if one.any():
        for name, d in (("langevin", d_solved), ("initializer", d_init)):
            out[f"hit_rate_{name}"] = float(saliency.hits(d[one].mean(1), centres[one, 0]).mean())
        found = saliency.hits(d_solved.mean(1), centres[:, 0])
        for kind in ("colour", "orientation", "size"):
            sel = one & (odd_type == kind)
            if sel.any():
                out[f"hit_{kind}"] = float(found[sel].mean())
    if amb.any():
        each = [saliency.hits(d_solved[amb], centres[amb, None, j]) for j in (0, 1)]  # (A, K)
        out["both_found_ambiguous"] = float((each[0].any(1) & each[1].any(1)).mean())
    return out


def _centre(side: int) -> np.ndarray:
    yy, xx = np.mgrid[0:side, 0:side] + 0.5
    r2 = (yy - side / 2) ** 2 + (xx - side / 2) ** 2
    return np.exp(-r2 / (2 * (side / 3.2) ** 2)).astype(np.float32)
