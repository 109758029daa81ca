"""Which knobs to lower when a method runs out of memory.

The out-of-memory line (:func:`ebm_engine.errors.out_of_memory`) advised
``model.width`` and ``train.batch_size`` whatever ran out: a generator made
huge by ``train.options.gen_width`` got the energy network's advice. The
objects of the failed call's frames tell which of the method's networks was
running (a forward pass); its knobs are those declared ``sizes`` it
(:class:`~ebm_engine.options.KnobSpec`), else ``model.width`` and
``model.depth``. Where no network was running (building one, a backward pass,
an optimiser step) the size knobs set above their defaults are named.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn

#: the energy network's size knobs, and those of any network no method knob sizes
MODEL_SIZE_KNOBS = ("model.width", "model.depth")


def running_network(networks: dict[str, nn.Module], objects: Iterable[object]) -> str | None:
    """The name of the network among ``networks`` that the innermost module of
    ``objects`` (the failed call's frames, outermost first) belongs to."""
    for obj in reversed(list(objects)):
        if isinstance(obj, nn.Module):
            for name, net in networks.items():
                if any(m is obj for m in net.modules()):
                    return name
    return None


def network_knobs(method, network: str) -> list[str]:
    """``key=value`` of the knobs that size ``network`` of ``method``."""
    declared = [k.name for k in method.knobs() if network in k.spec.sizes]
    if declared:
        return [f"train.options.{name}={getattr(method.opts, name)}" for name in declared]
    return [f"{key}={method.cfg.get_value(key)}" for key in MODEL_SIZE_KNOBS]


def raised_size_knobs(method) -> list[str]:
    """``key=value`` of the size knobs set above their defaults, most raised first."""
    from ebm_engine.config import RunConfig

    defaults = RunConfig()
    found = [(key, method.cfg.get_value(key), defaults.get_value(key))
             for key in MODEL_SIZE_KNOBS]
    found += [(f"train.options.{k.name}", getattr(method.opts, k.name), k.default)
              for k in method.knobs() if k.spec.sizes]
    raised = [(value / max(default, 1), f"{key}={value}") for key, value, default in found
              if value > default]
    return [text for _, text in sorted(raised, key=lambda r: -r[0])]


def memory_culprit(method, objects: Iterable[object]) -> tuple[str | None, list[str]]:
    """``(network, knobs)`` to name when ``method`` ran out of memory in a call whose
    frames hold ``objects``: the running network and its size knobs, or ``None`` and
    the raised size knobs (empty: nothing to tell)."""
    try:
        networks = method.networks()
    except AttributeError:  # mid-build: the networks after the failing one do not exist yet
        networks = {}
    network = running_network(networks, objects)
    if network is not None:
        network = network.removesuffix("_average")  # a moving average: sized as its network
        return network, network_knobs(method, network)
    return None, raised_size_knobs(method)
