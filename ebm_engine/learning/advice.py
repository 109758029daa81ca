"""What to say when training diverges: which iteration failed, and what to lower.

:class:`~ebm_engine.learning.events.Diverged` carries the iterations completed;
the step that failed is the next one. Before any update (0 completed) the
learning rate cannot be the cause: the chains' start or step is out of scale.
"""

from __future__ import annotations


def failed_iteration(completed: int) -> int:
    """The iteration whose step diverged.

    Parameters
    ----------
    completed : int
        Complete iterations (:attr:`Diverged.iteration`).

    Returns
    -------
    int
        ``completed + 1``.
    """
    return completed + 1


def divergence_advice(method: str, completed: int) -> str:
    """What to lower after a divergence.

    Parameters
    ----------
    method : str
        ``train.method`` (its ``step_advice`` names its own step knob).
    completed : int
        Complete iterations before the failing step.

    Returns
    -------
    str
        ``lower train.lr or sampler.step_size`` (the method's step knob), or,
        before any update, ``lower sampler.init_scale or …``.
    """
    from ebm_engine.errors import EBMError
    from ebm_engine.methods import method_class

    try:
        step = method_class(method).step_advice
    except EBMError:
        step = "sampler.step_size"
    first = "sampler.init_scale" if completed == 0 else "train.lr"
    return f"lower {first} or {step}"
