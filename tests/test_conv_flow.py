"""Two-scale conv RealNVP: squeeze, invertibility, exact log-determinants, FCE wiring."""

from __future__ import annotations

import pytest
import torch

from ebm_engine.errors import ConfigError
from ebm_engine.models.conv_flow import ConvRealNVP, channel_mask, squeeze, unsqueeze


def _randomised(seed: int = 0) -> ConvRealNVP:
    flow = ConvRealNVP((1, 8, 8), n_layers=4, width=8).double()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in flow.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.2)
    return flow


def test_squeeze_is_a_permutation_of_2x2_blocks():
    x = torch.arange(2 * 16, dtype=torch.float32).view(1, 2, 4, 4)
    s = squeeze(x)
    assert s.shape == (1, 8, 2, 2)
    assert torch.equal(unsqueeze(s), x)
    # channel 0..3 of the first input channel: the 2×2 block's (0,0), (0,1), (1,0), (1,1)
    assert s[0, :4, 0, 0].tolist() == [0.0, 1.0, 4.0, 5.0]
    assert channel_mask(4, 0).tolist() == [0, 1, 0, 1] and channel_mask(4, 3).tolist() == [1, 1, 0, 0]


def test_round_trip_and_logdet_match_autograd_jacobian():
    flow = _randomised()
    x = torch.randn(3, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    z, ld = flow(x)
    back, ld_inv = flow.inverse(z)
    assert torch.allclose(back, x, atol=1e-10) and torch.allclose(ld, -ld_inv, atol=1e-10)
    assert (z - x.flatten(1)).abs().max() > 0.1  # far from the identity
    jac = torch.autograd.functional.jacobian(lambda v: flow(v.view(1, 1, 8, 8))[0][0], x[0].flatten())
    assert abs(float(torch.linalg.slogdet(jac)[1]) - float(ld[0].detach())) < 1e-8
    xs, logq = flow.sample(4, generator=torch.Generator().manual_seed(2))
    assert xs.shape == (4, 1, 8, 8) and torch.allclose(flow.log_prob(xs), logq, atol=1e-8)


def test_conv_flow_needs_images_divisible_by_4():
    with pytest.raises(ConfigError, match="divisible by 4"):
        ConvRealNVP((2,))
    with pytest.raises(ConfigError, match="divisible by 4"):
        ConvRealNVP((1, 6, 6))
