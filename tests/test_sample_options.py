"""``ebm sample --option``: only the knobs a trained model's sampling reads.

A knob only training reads (``data_noise``, ``lr_end``, learning rates) was
accepted and did nothing; it is refused with the knobs that do something.
The knobs' ``sampling`` flags are checked against what sampling really reads.
"""

from __future__ import annotations

import pytest

from ebm_engine.cli import main
from ebm_engine.learning.loading import load_model

#: one zoo model per learning method
ONE_PER_METHOD = ("digits-ml", "digits-coopnets", "digits-class-conditional-conditional-coop",
                  "digits-inpainting-conditional-coop", "digits-handwritten-typeset-cycle-coop",
                  "digits-divergence-triangle", "digits-fce", "frame-texture-frame",
                  "navigation-ioc-ioc", "digits-jem", "digits-latent-ebm",
                  "grammar-text-controlled-latent-seq", "crowd-prediction-lbebm",
                  "digits-multigrid", "digits-multistage", "single-image-patchwise",
                  "digits-recovery", "digits-semi-supervised-symbol-vector")


@pytest.mark.parametrize("zoo, option, says", [
    ("digits-ml", "data_noise=0.1",
     "never reads train.options.data_noise (training or evaluation reads it); sample --option "
     "can change none of its knobs"),
    ("digits-recovery", "level_weight=inverse_sigma",
     "can change schedule, sigma_min, sigma_max, steps_per_level, step_scale, step_ref"),
    ("digits-fce", "flow_lr_scale=2", "can change refine_steps, resample"),
    # read by inpainting models only
    ("digits-class-conditional-conditional-coop", "mask_min=0.2",
     "this conditional_coop model never reads train.options.mask_min; sample"),
    # a one-pixel-wide strip
    ("single-image-patchwise", "aspect=0.01", "aspect must be >= 0.25"),
])
def test_a_knob_sampling_never_reads_is_refused(tmp_path, capsys, zoo, option, says):
    out = tmp_path / "x.png"
    assert main(["sample", "--run", f"zoo:{zoo}", "--n", "2", "--steps", "1", "--option",
                 option, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


class _Reads:
    """A method's options that note every knob read."""

    def __init__(self, opts, seen: set[str]):
        self._opts, self._seen = opts, seen

    def __getattr__(self, name):
        self._seen.add(name)
        return getattr(self._opts, name)


@pytest.mark.parametrize("zoo", ONE_PER_METHOD)
def test_every_live_knob_sampling_reads_is_declared(zoo):
    """What sampling reads of the options (what ``configure`` derives included) is
    declared ``sampling``: else ``--option`` refuses a knob that does something."""
    m = load_model(f"zoo:{zoo}", "cpu").method
    seen: set[str] = set()
    m.opts = _Reads(m.opts, seen)
    m.reconfigured()
    assert m.sample_steps >= 0
    frames = list(m.sample(2, n_steps=1))
    assert len(frames[-1].x) == 2
    live = {k.name for k in m.knobs() if k.spec.live}
    assert seen & live <= set(m.sampling_knobs(m.opts._opts))


def test_attr_guidance_without_an_attribute_is_said_not_ignored(tmp_path, capsys):
    """A molecule model has no attribute: --option attr_guidance=5 did nothing silently.
    It is a warning, not a refusal, so that a run saved with it still loads."""
    assert main(["sample", "--run", "zoo:molecules-latent-seq", "--n", "2", "--option",
                 "attr_guidance=5", "--out", str(tmp_path / "m.smi")]) == 0
    assert "no attribute to guide by, so it does nothing" in capsys.readouterr().err
