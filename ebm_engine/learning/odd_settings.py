"""Settings that are allowed but make a run learn nothing useful, said when a run starts
or when a live edit sets them.

Zero or millions of Langevin steps and a data noise larger than the data's own range are
typable (0 steps is a fine ``ebm sample --steps 0``; noise is a real knob),
so they are not refused; a run that would quietly train to noise says why.
"""

from __future__ import annotations

from ebm_engine.methods.base import DataSpec, LearningMethod

#: Langevin steps per iteration above which a run is told it may crawl.
LONG_CHAINS = 5000


def odd_settings(method: LearningMethod, spec: DataSpec) -> list[str]:
    """One sentence per setting of ``method`` that defeats its learning.

    Parameters
    ----------
    method : LearningMethod
        The run's method, built (its options parsed).
    spec : DataSpec
        The training data's kind, shape and value range.

    Returns
    -------
    list of str
        What to say at the run's start (empty: nothing).
    """
    said = []
    if method.learns_from_chains and method.sample_steps == 0:
        said.append("sampler.n_steps is 0: the Langevin chains never move, so the EBM learns "
                    "the data against its chains' starting noise and its samples stay noise; "
                    "set it above 0 (the preset's value is a good start)")
    if method.learns_from_chains and method.sample_steps > LONG_CHAINS:
        said.append(f"sampler.n_steps is {method.sample_steps}: every iteration runs that many "
                    "Langevin steps (the presets use at most 120), so one iteration may "
                    "take hours before the first curve point; stopping (Stop, or Ctrl-C) "
                    "keeps a checkpoint")
    guidance = getattr(method.opts, "attr_guidance", 1.0)
    if spec.symbols is not None and not spec.symbols.attribute and guidance != 1.0:
        # said, not refused: a run saved with it must still load
        said.append(f"train.options.attr_guidance is {guidance:g}, but this data has no "
                    "attribute to guide by, so it does nothing (an attribute: "
                    "grammar-text-controlled)")
    noise = float(getattr(method.opts, "data_noise", 0.0) or 0.0)
    if spec.value_range is not None:
        low, high = spec.value_range
        if noise > high - low:
            said.append(f"train.options.data_noise {noise:g} is larger than the data's whole "
                        f"range ({low:g} to {high:g}): the noise drowns the data, so the EBM "
                        "learns noise; a few hundredths of the range is usual")
    return said
