"""Every reported metric says which way it improves, and a fact or a
description is never called a score ("lower is better" on a data mean)."""

from __future__ import annotations

import json

from ebm_engine.methods import method_class
from ebm_engine.metrics.direction import REFERENCE, hint
from ebm_engine.metrics.evaluate import declared, format_table
from ebm_engine.runs import zoo


def test_the_table_states_the_side_only_where_one_was_declared():
    result = {"data": "d", "kind": "image", "n": 2, "steps": 1, "checkpoint": "c",
              "metrics": {"fd": 3.0, "acc": 0.9, "1nna": 0.6, "chance": 0.1, "new_metric": 1.0},
              "better": {"fd": "lower", "acc": "higher", "1nna": "0.5", "chance": REFERENCE}}
    lines = dict(line.split(None, 1) for line in format_table(result).splitlines()[1:])
    assert lines["fd"].endswith("(lower is better)")
    assert lines["acc"].endswith("(higher is better)")
    assert lines["1nna"].endswith("(best 0.5)")
    assert lines["chance"].endswith("(for reference)")
    assert lines["new_metric"].endswith("(for reference)")  # never a guessed side
    assert hint("nonsense") == "for reference"
    assert format_table(result).startswith("d (image), 2 samples,")
    # a task's own metrics read --n as a budget (64 scenes when 100 are asked): no "N samples",
    # and no "--n" the user never typed
    own = format_table({**result, "own_metrics": True}).splitlines()[0]
    assert "the task's own metrics," in own and "samples" not in own and "--n" not in own


def test_descriptive_metrics_are_declared_as_references():
    molecules = declared(method_class("latent_seq"))
    for name in ("logp_mean", "logp_data_mean", "qed_mean", "mw_data_mean", "attr_chance"):
        assert molecules[name] == REFERENCE, name
    assert molecules["logp_w1"] == "lower" and molecules["valid"] == "higher"
    navigation = declared(method_class("ioc"))
    assert navigation["bc_params"] == navigation["ebm_params"] == REFERENCE
    assert navigation["success_bc"] == "higher"
    conditional = declared(method_class("conditional_coop"))
    assert conditional["chance"] == conditional["heldout"] == REFERENCE
    assert declared(method_class("cycle_coop"))["judge_accuracy_a"] == REFERENCE


def test_every_shipped_metric_is_declared_and_labelled_as_declared():
    """A metric added to a method without a side fails here (it would read "for
    reference" in `ebm eval` and could never be a zoo headline)."""
    for entry in zoo.entries().values():
        evaluation = json.loads((entry.path / "eval.json").read_text())
        labels = declared(method_class(evaluation["method"]))
        for name in evaluation["metrics"]:
            assert name in labels, (entry.name, name)
            assert evaluation["better"][name] == labels[name], (entry.name, name)
        assert labels.get(entry.metric) in ("lower", "higher", "0.5"), entry.name


def test_the_zoo_headline_is_the_first_score_not_a_reference(tmp_path, monkeypatch):
    monkeypatch.setattr(zoo, "zoo_dir", lambda: tmp_path)
    entry = tmp_path / "x"
    entry.mkdir()
    (entry / "config.json").write_text(json.dumps({"train": {"method": "ml"}}))
    (entry / "eval.json").write_text(json.dumps({
        "kind": "molecule", "metrics": {"logp_data_mean": 2.2, "valid": 0.9},
        "better": {"logp_data_mean": REFERENCE, "valid": "higher"}}))
    found = zoo.entries()["x"]
    assert (found.metric, found.better) == ("valid", "higher")
    assert found.metric_text() == "valid 0.9 (higher is better)"
