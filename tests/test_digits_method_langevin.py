"""The digits presets of the Langevin-based pyramid methods sample as the digits preset does.

The digits preset moved to a gradient step of 10 (``grad_scale · δ²/2``, IGEBM's
convention) when step 1 left its chains too slow to learn from; multigrid and
multistage kept step 1 and reached digits FD 450 / 170 where the digits preset
reaches 15 (benchmarks/results/quality_digits_methods_a.md). This keeps them
in step with it.
"""

from __future__ import annotations

import pytest

from ebm_engine.presets import load_preset


def _langevin(preset: str) -> tuple[float, float]:
    s = load_preset(preset)["sampler"]
    return s["grad_scale"] * s["step_size"] ** 2 / 2, s.get("noise_scale", 1.0) * s["step_size"]


@pytest.mark.parametrize("preset", ["digits-multigrid", "digits-multistage"])
def test_pyramid_presets_take_the_digits_gradient_step(preset):
    assert _langevin(preset) == pytest.approx(_langevin("digits"))
