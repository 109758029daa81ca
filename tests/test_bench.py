"""Benchmark smoke tests: tiny sizes, the numbers are well-formed, the loops agree."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch

# benchmarks/ is a top-level folder of the checkout, not an installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import flops, langevin_throughput, memory, run_all, train_throughput
from benchmarks.langevin_throughput import Case, engine_langevin, naive_langevin, smart_langevin
from ebm_engine.config import ModelConfig
from ebm_engine.models import build_model

TINY = Case("convnet 8² (test)", "convnet", (1, 8, 8), 4, 1, 3, 2)


def positive(value: object) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value > 0


@pytest.mark.parametrize("channels", [1, 3])
def test_hand_loops_and_engine_compute_the_same_chain(channels):
    # Same network, start and global RNG stream → the same samples: the
    # benchmark compares implementations of one computation (bf16 only
    # approximately: the network runs in bf16, the chain stays fp32). With 3
    # channels the chains are channels-last: the noise must still be drawn in
    # the standard layout by every loop.
    torch.manual_seed(0)
    net = build_model(ModelConfig(name="convnet", width=4, depth=1), (channels, 8, 8))
    x0 = torch.randn(3, channels, 8, 8)
    chains = {}
    for name, fn in (("ours", engine_langevin), ("smart", smart_langevin), ("naive", naive_langevin)):
        torch.manual_seed(1)
        chains[name] = fn(net, x0, 5, 0.1)
    torch.manual_seed(1)
    bf16 = engine_langevin(net, x0, 5, 0.1, "bf16")
    assert torch.allclose(chains["ours"], chains["smart"], atol=1e-5)
    assert torch.allclose(chains["ours"], chains["naive"], atol=1e-5)
    assert bf16.dtype == torch.float32 and torch.allclose(chains["ours"], bf16, atol=1e-3)
    assert all(p.requires_grad for p in net.parameters())  # frozen() and the smart loop restored them


def test_smart_loop_holds_conv_weights_channels_last_as_the_engine_does():
    # The reference must not pay oneDNN's per-call weight re-layout that the
    # engine's frozen() avoids: both run the conv weights channels-last and
    # give the network back in its own layout.
    torch.manual_seed(0)
    net = build_model(ModelConfig(name="convnet", width=4, depth=1), (3, 8, 8))
    seen = {}

    def record(name):
        def hook(module, args):
            seen.setdefault(name, []).append(module.weight.is_contiguous(memory_format=torch.channels_last))
        return hook

    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    for conv in convs:
        conv.register_forward_pre_hook(record("smart"))
    smart_langevin(net, torch.randn(2, 3, 8, 8), 2, 0.1)
    assert seen["smart"] and all(seen["smart"])
    assert all(c.weight.is_contiguous() for c in convs) and all(p.requires_grad for p in net.parameters())


def test_training_loops_run_the_same_network_passes():
    # The hand-written training loop does the engine's work, no less: as many
    # forward passes per iteration (Langevin steps + data + samples), and both train.
    cfg = train_throughput.config(False, batch=4, steps=3)
    trainer, ours = train_throughput.engine_iterations(cfg)
    net = train_throughput._clone(trainer.method.net)
    data = trainer.dataset.decode(trainer.items).float()
    plain = train_throughput.plain_iterations(cfg, net, data, False, trainer.spec.value_range)
    calls = {"ours": 0, "plain": 0}
    trainer.method.net.register_forward_hook(lambda *a: calls.__setitem__("ours", calls["ours"] + 1))
    net.register_forward_hook(lambda *a: calls.__setitem__("plain", calls["plain"] + 1))
    before = [p.detach().clone() for p in net.parameters()]
    ours(2)
    plain(2)
    assert calls["ours"] == calls["plain"] == 2 * (3 + 2)
    assert trainer.iteration == 2
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
    assert all(p.requires_grad and p.is_contiguous() for p in net.parameters())


def test_round_robin_rotates_the_order():
    calls = []
    fns = {k: (lambda k=k: calls.append(k)) for k in "abc"}
    seconds = langevin_throughput.alternate_many(fns, repeats=3, warmup=0)
    assert calls == list("abc" "bca" "cab") and all(len(v) == 3 for v in seconds.values())


def test_langevin_case_and_flops_rows_are_well_formed():
    row = langevin_throughput.run_case(TINY, repeats=2)
    for variant in langevin_throughput.VARIANTS:
        assert positive(row[f"{variant}_steps_per_s"]) and positive(row[f"{variant}_s"])
    for key in ("fp32_vs_smart", "bf16_vs_smart", "fp32_vs_naive", "bf16_vs_naive"):
        assert positive(row[key]) and row[f"{key}_min"] <= row[key] <= row[f"{key}_max"]
    assert isinstance(row["bf16_native"], bool)
    missing = langevin_throughput.run_case(Case("x", "no-such-net", (2,), 4, 1, 2, 1))
    assert "skipped" in missing
    assert flops.step_flops(TINY) > 0
    util = flops.utilisation([], peak={"fp32": 1e9, "bf16": 2e9})
    assert util["rows"] == [] and util["matmul_gflop_per_s"] == pytest.approx({"fp32": 1.0, "bf16": 2.0})


def test_utilisation_holds_each_precision_to_its_own_peak():
    quick = langevin_throughput.QUICK_CASES[0]
    row = {"case": quick.name, **{f"{v}_steps_per_s": 10.0 for v in langevin_throughput.VARIANTS}}
    util = flops.utilisation([row], peak={"fp32": 1e9, "bf16": 4e9})
    (out,) = util["rows"]
    achieved = flops.step_flops(quick) * 10.0
    assert out["ours_fp32_utilisation"] == pytest.approx(achieved / 1e9)
    assert out["ours_bf16_utilisation"] == pytest.approx(achieved / 4e9)
    assert out["smart_fp32_utilisation"] == pytest.approx(achieved / 1e9)


def test_matmul_peaks_are_measured_per_precision():
    peak = flops.peaks((64,), repeats=2)
    assert set(peak) == {"fp32", "bf16"} and all(positive(v) for v in peak.values())


def test_memory_child_measures_a_training_run():
    row = memory.child("8gaussians")
    # ru_maxrss (the high-water mark) is updated lazily by Linux: allow a small lag.
    assert row["batch"] == 32 and row["peak_rss_mib"] >= 0.9 * row["rss_before_mib"] > 0


def test_results_are_written_as_json_and_markdown(tmp_path):
    results = {
        "started": "2026-01-01T00:00:00", "quick": True, "total_seconds": 1.0,
        "machine": {"processor": "cpu", "cpus": 2, "torch": "x", "torch_threads": 2,
                    "load_average_1min": 1.0, "load_average_1min_end": 1.0},
        "langevin": [langevin_throughput.run_case(TINY, repeats=1), {"case": "pointnet", "skipped": "n/a"}],
        "flops": {"matmul_gflop_per_s": {"fp32": 10.0, "bf16": 20.0}, "rows": []},
        "training": train_throughput.run(quick=True, repeats=1, cases=(True,)),
        "gui": {"skipped": "app not importable"},
        "memory": [{"demo": "8gaussians", "skipped": "failed"}],
    }
    js, md = run_all.write(results, tmp_path)
    assert json.loads(js.read_text())["langevin"][0]["case"] == TINY.name
    text = md.read_text()
    assert "| convnet 8² (test) | 3 |" in text and "skipped: app not importable" in text
    assert "bf16 vs smart" in text and "fp32 20.0" not in text and "bf16 20.0 GFLOP/s" in text
    assert "**GUI ratio per demo**" in text and "**First frame**" in text
    assert "| digits ML + snapshot every iteration | 8 | 5 |" in text and "plain ÷ ours" in text


def test_markdown_shows_gui_rows_per_demo_and_first_frame():
    base = {"started": "t", "total_seconds": 1.0, "langevin": [], "memory": [],
            "machine": {"processor": "cpu", "cpus": 2, "torch": "x", "torch_threads": 2}}
    demos = [{"demo": "digits", "gui_over_headless": 0.97, "train_to_first_frame_s": 2.5},
             {"demo": "shapes-points", "gui_over_headless": 0.96, "train_to_first_frame_s": 1.5}]
    text = run_all.to_markdown({**base, "gui": {"demos": demos}})
    assert "| digits | **0.97** |" in text and "| shapes-points | – s | **1.50 s** |" in text
    text = run_all.to_markdown({**base, "gui": demos[0], "first_frame": [
        {"demo": "digits", "train_to_first_frame_s": 2.0, "train_to_first_frame_s_min": 1.9,
         "train_to_first_frame_s_max": 2.2}]})
    assert "**2.00 s (1.90–2.20)**" in text
    assert "not measured in this run" in run_all.to_markdown(base)


def test_memory_3d_only_matching_nothing_fails_and_writes_nothing(capsys):
    """``--only`` with no matching case wrote ``"cases": []`` over the committed
    results and exited 0."""
    from benchmarks import memory_3d

    before = memory_3d.RESULTS.read_bytes()
    assert memory_3d.main(["--only", "no such case"]) == 2
    assert "no case matches" in capsys.readouterr().err
    assert memory_3d.RESULTS.read_bytes() == before
