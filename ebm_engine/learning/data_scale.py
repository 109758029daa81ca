"""A warning when raw point coordinates are far from the scale the chains start at.

Points (``(N, D)`` vectors) are used as given: a user's data centred at 1000
with a spread of 300 trains a model whose chains start in the preset's
``[-init_scale, init_scale]`` and take steps of ``step_size``: they never reach
the data, and ``kl_samples`` is as bad as it gets, with nothing said.
"""

from __future__ import annotations

import numpy as np

#: The data's centre may lie this many start half-widths from the origin.
AWAY = 2.0
#: A spread over this many start half-widths is off scale (the 2D demos' is 0.5 of
#: the toy preset's start, and 2.1 of the default start of 1).
WIDE = 5.0
#: A spread under the start's half-width divided by this is a speck inside the start.
NARROW = 10.0


def scale_warning(items: np.ndarray, init_scale: float) -> str | None:
    """Whether raw points suit chains started at ``init_scale``.

    Parameters
    ----------
    items : np.ndarray
        ``(N, D)`` points as the model sees them.
    init_scale : float
        ``sampler.init_scale``: the chains' start spreads this far from 0.

    Returns
    -------
    str or None
        One line when the points are centred far from the start, or far wider
        or narrower than it, with what to do; else ``None``.
    """
    x = np.asarray(items, dtype=np.float64).reshape(len(items), -1)
    if not len(x) or init_scale <= 0:
        return None
    centre = float(np.abs(x.mean(0)).max())
    spread = float(x.std(0).mean())
    if centre <= AWAY * init_scale and init_scale / NARROW <= spread <= WIDE * init_scale:
        return None
    lo, hi = float(x.min()), float(x.max())
    reach = max(abs(lo), abs(hi))
    return (f"the points lie in [{lo:.4g}, {hi:.4g}] (spread {spread:.3g}) while the chains "
            f"start in [-{init_scale:g}, {init_scale:g}]: standardise the data, (x - mean) / "
            f"std, or set sampler.init_scale near {reach:.3g} and sampler.step_size to its scale")
