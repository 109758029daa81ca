"""The maximum-likelihood step of a latent-space EBM prior, shared by the
latent-variable methods (``latent_seq``, ``lbebm``): posterior latents are
the prior's data, prior Langevin samples its negatives
(``docs/conventions.md``)."""

from __future__ import annotations

import torch


def prior_update(method, f_pos: torch.Tensor, f_neg: torch.Tensor, e_pos: torch.Tensor,
                 e_neg: torch.Tensor) -> dict[str, float]:
    """One prior step on ``E(z⁺) − E(z⁻)`` plus ``prior_l2`` on the network outputs ``f``.

    Parameters
    ----------
    method : LearningMethod
        Holds ``prior``, its optimiser ``opt`` and ``opts.prior_l2``.
    f_pos, f_neg : torch.Tensor
        The prior network's outputs at posterior and prior latents.
    e_pos, e_neg : torch.Tensor
        Their energies (with the reference term).

    Returns
    -------
    dict
        ``loss``, ``energy_data``, ``energy_sample``, ``grad_norm``.
    """
    loss = e_pos.mean() - e_neg.mean()
    if method.opts.prior_l2 > 0:
        loss = loss + method.opts.prior_l2 * (f_pos.pow(2).mean() + f_neg.pow(2).mean())
    norm = method.backward(loss, method.opt, [method.prior])
    return {"loss": float(loss.detach()), "energy_data": float(e_pos.detach().mean()),
            "energy_sample": float(e_neg.detach().mean()), "grad_norm": norm}


def fixed_prior_metrics(e_pos: torch.Tensor, e_neg: torch.Tensor) -> dict[str, float]:
    """The same curves for a fixed N(0, I) prior (the Gaussian baseline): nothing learned."""
    return {"loss": 0.0, "energy_data": float(e_pos.mean()),
            "energy_sample": float(e_neg.mean()), "grad_norm": 0.0}
