"""Moving averages of a method's networks, for sampling.

Methods whose sampler is a trained network (a generator, a flow) swing from
one checkpoint to the next: the network chases a moving EBM, and the EBM
answers. Sampling from an exponential moving average of the weights
(Polyak averaging, as GANs and diffusion models do; recovery likelihood's
own code samples from one) takes the middle of that swing. Each average
is a network of its own in the method's ``networks()`` (``NAME_average``),
so checkpoints save and restore it like any other; it takes no gradient and
training never reads it. A method sets ``self.averages`` in ``build``;
:meth:`LearningMethod.apply_update` moves the averages after every step.

The decay warms up as ``(1 + t)/(10 + t)`` (:class:`WeightAverage`), which
stays below 0.995 until step 1790: in runs of the digits presets' length
(1200–1500 steps) a decay of 0.995 or 0.999 gives the same average, about
the last tenth of the run.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class WeightAverage(nn.Module):
    """``avg ← d·avg + (1 − d)·net`` per update, with ``d = min(decay, (1 + t)/(10 + t))``.

    The warm-up ``(1 + t)/(10 + t)`` keeps the first averages from holding
    on to the random initial weights.

    Parameters
    ----------
    net : nn.Module
        The trained network; the average starts as a copy of it.
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = copy.deepcopy(net).requires_grad_(False)
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, net: nn.Module, decay: float) -> None:
        """Move the average towards ``net``'s current weights."""
        t = int(self.updates)
        d = min(decay, (1.0 + t) / (10.0 + t))
        for avg, live in zip(self.net.parameters(), net.parameters(), strict=True):
            avg.lerp_(live.detach(), 1.0 - d)
        for avg, live in zip(self.net.buffers(), net.buffers(), strict=True):
            avg.copy_(live)  # running statistics: the latest, not an average
        self.updates += 1

    def forward(self, *args, **kwargs):
        return self.net(*args, **kwargs)


class Averages:
    """The averages of some of a method's networks (none when ``decay`` is 0).

    Parameters
    ----------
    live : dict
        The trained networks to average, by their name in ``networks()``.
    decay : float
        ``d`` of :class:`WeightAverage` (0 = no averages: sampling uses the
        trained networks).

    Examples
    --------
    >>> self.averages = Averages({"generator": self.gen}, self.opts.average)
    >>> self.averages.of("generator")  # what sampling uses
    """

    def __init__(self, live: dict[str, nn.Module], decay: float):
        self.live = live
        self.decay = decay
        self.avg = {name: WeightAverage(net) for name, net in live.items()} if decay > 0 else {}

    def networks(self) -> dict[str, nn.Module]:
        """``{"NAME_average": average}``, to add to the method's ``networks()``."""
        return {f"{name}_average": avg for name, avg in self.avg.items()}

    def update(self) -> None:
        """Move every average towards its network (after each optimiser step)."""
        for name, avg in self.avg.items():
            avg.update(self.live[name], self.decay)

    def of(self, name: str) -> nn.Module:
        """The network sampling uses: the average of ``name``, or ``name`` itself."""
        avg = self.avg.get(name)
        return avg.net if avg is not None else self.live[name]
