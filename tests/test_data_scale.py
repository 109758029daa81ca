"""Raw point coordinates far from where the chains start get one warning line."""

from __future__ import annotations

import numpy as np
import pytest

from ebm_engine.cli import main
from ebm_engine.learning.data_scale import scale_warning


@pytest.mark.parametrize("centre, spread, warned", [
    (0.0, 1.0, False), (2.0, 1.0, False),      # the demos' scale
    (1000.0, 300.0, True), (10.0, 1.0, True),  # far away
    (0.0, 0.01, True),                          # a speck inside the start
])
def test_points_far_from_the_start_are_said(centre, spread, warned):
    x = np.random.default_rng(0).normal(centre, spread, size=(400, 2))
    line = scale_warning(x, 4.5)
    assert (line is not None) == warned, line
    if warned:
        assert "sampler.init_scale" in line and "standardise" in line


def test_training_on_far_points_warns_once(tmp_path, capsys):
    data = tmp_path / "far.npy"
    np.save(data, (np.random.default_rng(0).normal(size=(300, 2)) * 300 + 1000).astype(np.float32))
    assert main(["train", "--data", str(data), "--steps", "2", "--out", str(tmp_path / "r"),
                 "--quiet", "--set", "sampler.n_steps=1"]) == 0
    err = capsys.readouterr().err
    assert err.count("while the chains start in [-4.5, 4.5]") == 1
    # chains started at the data do not start at init_scale: nothing to say
    assert main(["train", "--data", str(data), "--steps", "1", "--out", str(tmp_path / "d"),
                 "--quiet", "--set", "sampler.n_steps=1", "--set", "sampler.init=data"]) == 0
    assert "chains start" not in capsys.readouterr().err
    assert main(["train", "--data", "moons", "--steps", "1", "--out", str(tmp_path / "m"),
                 "--quiet", "--set", "sampler.n_steps=1"]) == 0
    assert "chains start" not in capsys.readouterr().err
