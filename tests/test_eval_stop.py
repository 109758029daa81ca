"""Ctrl-C during ``ebm eval`` says what it left, as ``ebm train``'s stop does.

It said only "ebm: interrupted", whether the run's ``eval.json`` had been
replaced or not.
"""

from __future__ import annotations

import shutil

from ebm_engine import atomic
from ebm_engine.cli import main
from ebm_engine.metrics import evaluate
from ebm_engine.runs.zoo import zoo_dir


def _ctrl_c(*_args, **_kwargs):
    raise KeyboardInterrupt


def test_ctrl_c_during_eval_says_what_was_written(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    shutil.copytree(zoo_dir() / "8gaussians-ml", run)  # a run folder with an earlier eval.json
    scores = run / "eval.json"
    earlier = scores.read_bytes()
    monkeypatch.setattr(evaluate, "score_method", _ctrl_c)  # while sampling or scoring
    assert main(["eval", "--run", str(run)]) == 130
    assert capsys.readouterr().err == (
        "ebm: evaluation stopped before its scores were complete: nothing was written; "
        f"{scores} keeps the scores of an earlier evaluation\n")
    assert scores.read_bytes() == earlier
    assert main(["eval", "--run", "zoo:8gaussians-ml"]) == 130  # read-only: nothing to keep
    assert capsys.readouterr().err.endswith("complete: nothing was written\n")

    monkeypatch.undo()
    write = atomic.write_text

    def written_then_ctrl_c(*args, **kwargs):
        write(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic, "write_text", written_then_ctrl_c)
    assert main(["eval", "--run", str(run), "--n", "64"]) == 130
    assert capsys.readouterr().err == ("ebm: evaluation stopped after its scores were written "
                                       f"to {scores}\n")
    assert b'"n": 64' in scores.read_bytes()


def test_sigterm_during_eval_exits_143_and_says_terminated(tmp_path, capsys, monkeypatch):
    """Eval's own Ctrl-C path caught the SIGTERM too: a scheduler's kill exited 130."""
    import os
    import signal

    run = tmp_path / "run"
    assert main(["train", "--data", "8gaussians", "--steps", "2", "--out", str(run), "--quiet",
                 "--set", "sampler.n_steps=2"]) == 0

    def killed(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM was not delivered")

    monkeypatch.setattr(evaluate, "score_method", killed)
    capsys.readouterr()
    assert main(["eval", "--run", str(run), "--n", "8"]) == 143
    assert capsys.readouterr().err.startswith("ebm: evaluation terminated before its scores")
