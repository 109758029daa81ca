"""A run remembers what data it was trained on; resuming, forking or evaluating it on
other data says so (pictures deleted or added, an array overwritten)."""

from __future__ import annotations

import json

import numpy as np

from ebm_engine.cli import main
from ebm_engine.runs.rundir import RunDir


def test_resume_fork_and_eval_on_changed_data_say_so(tmp_path, capsys):
    data = tmp_path / "points.npy"
    rng = np.random.default_rng(0)
    np.save(data, rng.normal(size=(200, 2)).astype(np.float32))
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--steps", "2", "--out", str(run), "--quiet",
                 "--set", "sampler.n_steps=1"]) == 0
    record = json.loads((run / "data.json").read_text())
    assert record["items"] == 200 and record["item_shape"] == [2]
    # the same data: nothing said
    assert main(["train", "--resume", str(run), "--steps", "1", "--quiet"]) == 0
    assert "not what this run was trained on" not in capsys.readouterr().err
    np.save(data, rng.normal(size=(200, 2)).astype(np.float32))  # same count, other items
    assert main(["train", "--resume", str(run), "--steps", "1", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "is not what this run was trained on (the same 200 items in number" in err
    assert any(e["event"] == "data_changed" for e in RunDir(run).read_events())
    np.save(data, rng.normal(size=(150, 2)).astype(np.float32))
    assert main(["eval", "--run", str(run), "--n", "16", "--json", "--no-write"]) == 0
    out = capsys.readouterr()
    assert "(200 items then, 150 now)" in json.loads(out.out)["data_changed"]
    assert main(["train", "--resume", str(run), "--out", str(tmp_path / "fork"), "--steps",
                 "1", "--quiet"]) == 0
    assert "(200 items then, 150 now)" in capsys.readouterr().err
