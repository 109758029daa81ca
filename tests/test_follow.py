"""Following a run folder another process writes (:mod:`ebm_engine.runs.follow`): the
files are written here by hand, so each case is exact and instant."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ebm_engine import atomic
from ebm_engine.config import RunConfig
from ebm_engine.errors import CheckpointError
from ebm_engine.learning.events import Finished, Rewound, TrainStep, Warned
from ebm_engine.runs.follow import RunFollower
from ebm_engine.runs.rundir import RunDir
from ebm_engine.session import RunState, Session


def _run(tmp_path: Path) -> RunDir:
    return RunDir(tmp_path / "run").create(RunConfig())


def _rows(run: RunDir, its, loss: float = 1.0) -> None:
    for it in its:
        run.append_metrics({"iteration": it, "wall_time": 0.5 * it, "loss": loss})


def _steps(events) -> list[tuple[int, float]]:
    return [(e.iteration, e.metrics["loss"]) for e in events if isinstance(e, TrainStep)]


def test_a_metrics_file_replaced_and_grown_past_the_old_size_is_read_again(tmp_path: Path):
    """A resume or a rollback replaces metrics.csv (kept rows, atomically), then appends:
    a poll after the new file outgrew the old one read on at the old offset, inside
    other rows (rows lost, a bogus "iteration 2" made of the tail of "52", or a NaN
    iteration that ended following with a ValueError)."""
    run = _run(tmp_path)
    _rows(run, range(1, 11))
    follower = RunFollower(run.path)
    assert [it for it, _ in _steps(follower.events())] == list(range(1, 11))
    run.truncate_metrics(4)  # the job went back to its checkpoint at 4 ...
    _rows(run, range(5, 31), loss=2.0)  # ... and trained on before the next poll
    events = follower.events()
    assert isinstance(events[0], Rewound) and events[0].iteration == 0
    assert _steps(events) == [(i, 1.0) for i in range(1, 5)] + [(i, 2.0) for i in range(5, 31)]
    _rows(run, [31], loss=2.0)  # and goes on from there
    assert _steps(follower.events()) == [(31, 2.0)]


def test_a_metrics_file_rewritten_in_place_is_read_again(tmp_path: Path):
    """Same inode, same or larger size: the bytes before the offset tell."""
    run = _run(tmp_path)
    _rows(run, range(1, 6))
    follower = RunFollower(run.path)
    follower.events()
    text = run.metrics_path.read_text()
    with open(run.metrics_path, "r+") as fh:  # not atomic: the inode stays
        fh.write(text.replace(",1\n", ",3\n"))
    events = follower.events()
    assert isinstance(events[0], Rewound) and [loss for _, loss in _steps(events)] == [3.0] * 5


def test_a_metric_first_recorded_later_extends_the_header(tmp_path: Path):
    """A run resumed by a version that records a new metric (FCE's nce_accuracy) wrote
    it nowhere: the first row fixed the columns and later keys were dropped. Now the
    header grows, the earlier rows keep their values with the new cell empty, and a
    follower reads the rewritten file again."""
    run = _run(tmp_path)
    _rows(run, range(1, 4))
    follower = RunFollower(run.path)
    assert len(_steps(follower.events())) == 3
    resumed = RunDir(run.path)  # a new writer, as a resume makes
    resumed.append_metrics({"iteration": 4, "wall_time": 2.0, "loss": 1.0, "nce_accuracy": 0.75})
    resumed.append_metrics({"iteration": 5, "wall_time": 2.5, "loss": 1.0, "nce_accuracy": 0.5})
    rows = resumed.read_metrics()
    assert [r["iteration"] for r in rows] == [1, 2, 3, 4, 5]
    assert [r["loss"] for r in rows] == [1.0] * 5
    assert [r["nce_accuracy"] for r in rows[3:]] == [0.75, 0.5]
    assert all(r["nce_accuracy"] != r["nce_accuracy"] for r in rows[:3])  # empty: NaN
    assert run.metrics_path.read_text().splitlines()[0].endswith(",loss,nce_accuracy")
    events = follower.events()
    assert isinstance(events[0], Rewound)
    assert [e.metrics.get("nce_accuracy") for e in events if isinstance(e, TrainStep)][-2:] == [0.75, 0.5]


def test_a_malformed_row_is_skipped_and_following_goes_on(tmp_path: Path):
    """A row with no whole iteration (glued to a torn one, or garbage) is not the run's:
    it is passed over, never the end of following; a row cut mid-write waits."""
    run = _run(tmp_path)
    _rows(run, [1])
    follower = RunFollower(run.path)
    assert [it for it, _ in _steps(follower.events())] == [1]
    with open(run.metrics_path, "a", newline="") as fh:
        fh.write("nan,1.0,1.0\n-3,1.0,1.0\n2.5,1.0,1.0\nx,y,z\n2,1.0")  # the last one torn
    assert _steps(follower.events()) == []
    with open(run.metrics_path, "a", newline="") as fh:
        fh.write(",1.5\n")
    assert _steps(follower.events()) == [(2, 1.5)]


def test_metrics_rows_end_in_lf_before_and_after_a_resume(tmp_path: Path):
    """Appended rows ended in CRLF, rows a resume kept in LF: each resume shrank the file,
    and it held both. Rows end in LF now; a file with CRLF rows still reads."""
    run = _run(tmp_path)
    _rows(run, range(1, 5))
    run.truncate_metrics(2)
    _rows(run, range(3, 6))
    data = run.metrics_path.read_bytes()
    assert b"\r" not in data and data.count(b"\n") == 6
    assert [r["iteration"] for r in run.read_metrics()] == [1, 2, 3, 4, 5]
    run.metrics_path.write_bytes(data.replace(b"\n", b"\r\n"))  # an older run's file
    assert [r["iteration"] for r in run.read_metrics()] == [1, 2, 3, 4, 5]
    assert [it for it, _ in _steps(RunFollower(run.path).events())] == [1, 2, 3, 4, 5]
    run.truncate_metrics(3)
    assert run.metrics_path.read_bytes() == b"".join(data.splitlines(keepends=True)[:4])


def test_a_replaced_file_keeps_the_rows_appended_after_it(tmp_path: Path):
    """The follower's view of the file is the file: after a rewrite it holds what the
    file holds, whatever the interleaving of polls and writes."""
    run = _run(tmp_path)
    follower = RunFollower(run.path)
    seen: list[tuple[int, float]] = []

    def poll() -> None:
        for event in follower.events():
            if isinstance(event, Rewound):
                seen[:] = [s for s in seen if s[0] <= event.iteration]
            elif isinstance(event, TrainStep):
                seen.append((event.iteration, event.metrics["loss"]))

    for it in range(1, 41):
        _rows(run, [it], loss=float(it > 20))
        if it == 20:
            poll()
            atomic.write_text(run.metrics_path, run.metrics_path.read_text())  # same bytes
        if it in (25, 33):
            run.truncate_metrics(it - 3)
        if it % 7 == 0:
            poll()
    poll()
    assert seen == [(int(r["iteration"]), r["loss"]) for r in run.read_metrics()]


@pytest.mark.parametrize("spec", ["zoo:8gaussians-ml", "copy"])
def test_a_trained_model_that_nothing_trains_is_refused_at_once(tmp_path: Path, monkeypatch,
                                                                spec: str):
    """``zoo:NAME`` was "not a run folder", and the zoo folder itself (or a copy of a
    pretrained model) sat at "following iteration 0" until the 3-minute silence note."""
    import shutil

    import ebm_engine.session as session_module
    from ebm_engine.runs import zoo

    monkeypatch.setattr(session_module, "FOLLOW_SILENT_SECONDS", 0.05)
    if spec == "copy":
        shutil.copytree(zoo.resolve("zoo:8gaussians-ml"), tmp_path / "copy")
        spec = str(tmp_path / "copy")
    session = Session()
    with pytest.raises(CheckpointError, match="nothing trains it") as caught:
        for event in session.follow(spec, poll_seconds=0.01):
            if isinstance(event, Warned):  # the silence note: it was followed
                session.stop()
    assert "\n" not in str(caught.value) and session.state == RunState.IDLE
    # a run that is only starting (no checkpoint yet, still loading data) is followed
    assert RunFollower(_run(tmp_path).path).poll().rows == []


@pytest.mark.parametrize("how", ["deleted", "renamed"])
def test_a_followed_folder_deleted_or_moved_ends_following_at_the_next_poll(
        tmp_path: Path, monkeypatch, how: str):
    """It was noticed only by the silence note, 180 s on ("may have stopped")."""
    import shutil

    import ebm_engine.session as session_module

    monkeypatch.setattr(session_module, "FOLLOW_SILENT_SECONDS", 0.5)
    run = _run(tmp_path)
    _rows(run, range(1, 4))
    session = Session()
    seen = []
    for event in session.follow(run.path, poll_seconds=0.01):
        seen.append(event)
        if isinstance(event, TrainStep) and event.iteration == 3:
            shutil.rmtree(run.path) if how == "deleted" else run.path.rename(tmp_path / "moved")
        elif isinstance(event, Warned):
            session.stop()  # without the check: the silence note
    said = [e.message for e in seen if isinstance(e, Warned)]
    assert len(said) == 1 and f"{run.path} is gone" in said[0], said
    assert isinstance(seen[-1], Finished) and (seen[-1].iteration, seen[-1].reason) == (3, "gone")


def test_a_mount_that_drops_for_a_moment_does_not_end_following(tmp_path: Path, monkeypatch):
    """sshfs answering ENOTCONN (or NFS ESTALE) for a poll raised out of following, and
    one poll without config.json counted as the run gone."""
    import errno

    import ebm_engine.session as session_module

    run = _run(tmp_path)
    _rows(run, range(1, 4))
    config = str(run.config_path)
    real_stat = os.stat
    drops = {"left": 4}

    def flaky_stat(path, *args, **kwargs):
        if str(path) == config and drops["left"] > 0:
            drops["left"] -= 1
            if drops["left"] == 0:  # the mount is back, and the run wrote on meanwhile
                _rows(run, range(4, 6))
            raise OSError(errno.ENOTCONN if drops["left"] % 2 else errno.ENOENT, "dropped")
        return real_stat(path, *args, **kwargs)

    session = Session()
    seen = []
    events = session.follow(run.path, poll_seconds=0.01)
    seen.append(next(events))  # started: the config is read before the mount drops
    monkeypatch.setattr(session_module.os, "stat", flaky_stat)
    for event in events:
        seen.append(event)
        if isinstance(event, TrainStep) and event.iteration == 5:
            session.stop()
    assert not [e for e in seen if isinstance(e, Warned)]
    assert [e.iteration for e in seen if isinstance(e, TrainStep)] == [1, 2, 3, 4, 5]
    assert (seen[-1].reason, seen[-1].iteration) == ("stopped", 5)
