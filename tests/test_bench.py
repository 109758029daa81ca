"""Benchmark smoke tests: tiny sizes, the numbers are well-formed, the two loops agree."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

# benchmarks/ is a top-level folder of the checkout, not an installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import flops, langevin_throughput, memory, run_all
from benchmarks.common import alternate
from benchmarks.langevin_throughput import Case, engine_langevin, plain_langevin
from ebm_engine.config import ModelConfig
from ebm_engine.models import build_model

TINY = Case("convnet 8² (test)", "convnet", (1, 8, 8), 4, 1, 3, 2)


def test_plain_loop_and_engine_compute_the_same_chain():
    # Same network, start and global RNG stream → the same samples: the
    # benchmark compares two implementations of one computation.
    torch.manual_seed(0)
    net = build_model(ModelConfig(name="convnet", width=4, depth=1), (1, 8, 8))
    x0 = torch.randn(3, 1, 8, 8)
    torch.manual_seed(1)
    ours = engine_langevin(net, x0, 5, 0.1)
    torch.manual_seed(1)
    plain = plain_langevin(net, x0, 5, 0.1)
    assert torch.allclose(ours, plain, atol=1e-5)
    assert all(p.requires_grad for p in net.parameters())  # frozen() restored them


def test_alternate_reports_median_ratio():
    calls = []
    t = alternate(lambda: calls.append("o"), lambda: calls.append("p"), repeats=3, warmup=1)
    assert calls == ["o", "p"] * 4
    assert t["repeats"] == 3 and t["ratio_min"] <= t["ratio"] <= t["ratio_max"]


def test_langevin_case_and_flops_rows_are_well_formed():
    row = langevin_throughput.run_case(TINY, repeats=1)
    assert row["ours_steps_per_s"] > 0 and row["plain_steps_per_s"] > 0 and row["ratio"] > 0
    missing = langevin_throughput.run_case(Case("x", "no-such-net", (2,), 4, 1, 2, 1))
    assert "skipped" in missing
    assert flops.step_flops(TINY) > 0
    util = flops.utilisation([], peak=1e9)
    assert util["rows"] == [] and util["matmul_gflop_per_s"] == pytest.approx(1.0)


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
        "flops": {"matmul_gflop_per_s": 10.0, "rows": []},
        "gui": {"skipped": "app not importable"},
        "memory": [{"demo": "8gaussians", "skipped": "failed"}],
    }
    js, md = run_all.write(results, tmp_path)
    assert json.loads(js.read_text())["langevin"][0]["case"] == TINY.name
    text = md.read_text()
    assert "| convnet 8² (test) | 3 |" in text and "skipped: app not importable" in text
