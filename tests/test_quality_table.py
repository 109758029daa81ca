"""The quality benchmark's measured minutes reach the catalogue and ``ebm demos``."""

from __future__ import annotations

import pytest

from benchmarks import quality
from ebm_engine.data import measured


def _result(label: str, values: list[float], goal: float | None, met_at: float | None) -> dict:
    return {"label": label, "data": label, "headline": "digits_fd", "better": "lower",
            "goal": goal, "goal_met_minutes": met_at, "budget_minutes": 8.0,
            "points": [{"minutes": 2.0 * (i + 1), "iteration": 10 * i,
                        "metrics": {"digits_fd": v}} for i, v in enumerate(values)]}


def test_settled_minutes_prefers_the_goal_then_convergence():
    assert quality.settled_minutes(_result("digits", [90, 40, 25, 20], 30, 6.0)) == 6.0
    # No goal met: the metric is within 10 % of its final value from the third scoring on.
    assert quality.settled_minutes(_result("digits", [400, 200, 105, 100], 30, None)) == 6.0
    assert quality.settled_minutes(_result("digits", [400, 300, 200, 100], 30, None)) == 8.0


@pytest.fixture
def resources(tmp_path, monkeypatch):
    monkeypatch.setattr("ebm_engine.resources.resources_dir", lambda: tmp_path)
    monkeypatch.setattr(measured, "resources_dir", lambda: tmp_path)
    measured.measurements.cache_clear()
    yield tmp_path
    measured.measurements.cache_clear()


def test_measured_minutes_replace_the_guess(resources):
    from ebm_engine.commands.demos import demo_lines
    from ebm_engine.data import demos
    from ebm_engine.presets import demo_minutes

    guess = demos()["digits"].expected_minutes
    multigrid = _result("digits-multigrid", [900, 800, 700], 30, None)
    quality.update_measured([_result("digits", [90, 40, 25, 20], 30, 6.0),
                             multigrid | {"data": "digits", "preset": "digits-multigrid"},
                             multigrid | {"label": "stray", "data": "digits", "preset": "x"}])
    measured.measurements.cache_clear()
    table = measured.measurements()
    assert set(table) == {"digits", "digits-multigrid"}  # by demo, and by a method's preset
    assert demos()["digits"].expected_minutes == 6.0 != guess  # the demo's own preset's time
    assert demo_minutes("digits") == 6.0 and demo_minutes("digits", "multigrid") == 6.0
    lines = demo_lines()
    line = next(x for x in lines if x.startswith("digits "))
    # the figure of those minutes: a cut-short run's later 20 would promise more than ~6 min give
    assert "~6 min" in line and "measured: digits_fd 25 (goal met)" in line
    # under the demo, each method with a preset of its own, with its own time and figure
    line = next(x for x in lines if x.strip().startswith("--method multigrid"))
    assert "~6 min" in line and "[preset: digits-multigrid]" in line
    assert "measured: digits_fd 700" in line and "goal met" not in line
    assert lines.index(line) > next(i for i, x in enumerate(lines) if x.startswith("digits "))
    # and where the figures come from, since `ebm zoo` scores other runs of the same presets
    assert lines[-1].startswith("[measured: …] is the quality benchmark's own training run")
    assert "`ebm zoo`" in lines[-1]


def test_unreadable_measurements_fall_back_to_the_guess(resources):
    from ebm_engine.data import demos

    (resources / measured.MEASURED_FILE).write_text("{not json", encoding="utf-8")
    assert measured.measurements() == {}
    assert demos()["digits"].expected_minutes > 0


def test_rerunning_some_rows_keeps_the_others(tmp_path):
    out = tmp_path / "quality.md"
    (tmp_path / "quality").mkdir()
    quality._finish(_result("digits", [90, 40], 30, None) | {"method": "ml"}, out, False)
    quality._finish(_result("moons", [3.0, 1.0], None, None)
                    | {"method": "ml", "clock": "cpu", "threads": 1}, out, False)
    quality._finish(_result("digits", [50, 20], 30, 4.0) | {"method": "ml"}, out, False)
    table = out.read_text()
    rows = [line for line in table.splitlines() if line.startswith("| digits") or
            line.startswith("| moons")]
    assert len(rows) == 2 and "| 20 |" in rows[0] and "cpu ×1" in rows[1]
    assert rows[0].startswith("| digits")  # the catalogue's order, not the run's


def test_a_cut_short_run_shows_the_figure_of_the_minutes_it_shows(resources):
    """The catalogue paired the settled minutes with the figure at the end of the budget
    (dynamic-texture: ~11.3 min beside the 0.0106 measured at 15 min)."""
    quality.update_measured([_result("digits", [400, 200, 105, 100], 30, None)])
    measured.measurements.cache_clear()
    row = measured.measurements()["digits"]
    assert (row.minutes, row.value) == (6.0, 105)


def test_a_finished_preset_run_shows_its_length(resources):
    done = _result("digits", [90, 40, 25, 20], 30, 4.0) | {"preset_iterations": 30}
    quality.update_measured([done])
    measured.measurements.cache_clear()
    assert measured.measurements()["digits"].minutes == 8.0  # not the 4.0 the goal was met at


def test_table_mode_rebuilds_from_kept_rows_with_the_notes(tmp_path):
    """``--table`` trains nothing: the table comes from the kept rows, the hand-written
    notes on rows that miss their goal follow it."""
    out = tmp_path / "quality.md"
    (tmp_path / "quality").mkdir()
    quality._finish(_result("digits", [90, 40], 30, None) | {"method": "ml"}, out, False)
    out.unlink()
    (tmp_path / "quality_notes.md").write_text("## Why digits misses\nIt is unstable.\n")
    assert quality.main(["--table", "--no-times", "--out", str(out)]) == 0
    table = out.read_text()
    assert "| digits | ml |" in table and "| 40 |" in table
    assert table.index("| digits | ml |") < table.index("## Why digits misses")


def test_task_rows_show_their_metric_beside_the_same_call_baseline(tmp_path):
    """An inpainting row is judged by PSNR after Langevin (not by the first number it
    reports), with the initializer's PSNR beside it; ML on digits has the stricter goal."""
    out = tmp_path / "quality.md"
    (tmp_path / "quality").mkdir()
    metrics = {"heldout": 1.0, "psnr_langevin": 21.7, "psnr_initializer": 21.4}
    row = {"label": "digits-inpainting", "data": "digits-inpainting", "kind": "image",
           "method": "conditional_coop", "headline": "heldout", "better": "higher", "goal": None,
           "goal_met_minutes": None, "budget_minutes": 3.0,
           "points": [{"minutes": 3.0, "iteration": 500, "metrics": metrics}]}
    quality._finish(row, out, False)
    line = next(x for x in out.read_text().splitlines() if x.startswith("| digits-inpainting"))
    assert "psnr_langevin (higher)" in line and "psnr_initializer 21.4" in line
    assert quality.headline("image", {"digits_fd": 12.0}, "ml") == ("digits_fd", 10.0)
    assert quality.headline("image", {"digits_fd": 12.0}, "jem") == ("digits_fd", 30.0)


def test_a_rows_budget_is_never_below_the_time_its_demo_registered(resources):
    """A cut-short row's catalogue minutes are where its figure settled; taken as the
    next run's budget they shrank at every measurement (texture-grass 10 → 5 → 3.8)."""
    from ebm_engine.data import demos

    registered = demos(measured=False)["texture-grass"].expected_minutes
    quality.update_measured([_result("texture-grass", [0.1, 0.05, 0.04, 0.04], None, None)])
    measured.measurements.cache_clear()
    assert demos()["texture-grass"].expected_minutes < registered  # the catalogue: settled
    row = next(r for r in quality.all_rows() if r.label == "texture-grass")
    assert row.minutes == registered
