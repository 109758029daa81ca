"""The Qt-free session: edits accepted/refused once, pause/step/stop gates,
divergence policies, and one event stream for live and followed runs."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from ebm_engine.config import RunConfig
from ebm_engine.learning.events import (
    Checkpointed,
    Diverged,
    Finished,
    KnobApplied,
    RolledBack,
    RunStarted,
    SamplesReady,
    TargetSet,
    TrainStep,
    Warned,
)
from ebm_engine.learning.rollback import RollbackPolicy
from ebm_engine.presets import config_for
from ebm_engine.session import Accepted, Refused, RunState, Session, StopOnDivergence


def tiny(**train) -> RunConfig:
    cfg = RunConfig.from_dict({
        "model": {"width": 16, "depth": 2},
        "sampler": {"n_steps": 5, "step_size": 0.1},
        "train": {"batch_size": 16, "iterations": 6, "checkpoint_every": 3, "sample_every": 2,
                  **train},
    })
    return cfg


UNSTABLE = {"lr": 1e4}


def unstable() -> RunConfig:
    return RunConfig.from_dict({
        "model": {"width": 16, "depth": 2},
        "sampler": {"n_steps": 3, "step_size": 1.0},
        "train": {"lr": 100.0, "batch_size": 32, "iterations": 5, "checkpoint_every": 0},
    })


def test_idle_edit_is_accepted_parsed_and_in_force():
    session = Session(tiny())
    result = session.edit("sampler.step_size", "0.02")
    assert isinstance(result, Accepted) and result.value == 0.02 and not result.pending
    assert session.config.sampler.step_size == 0.02


@pytest.mark.parametrize(("key", "value", "reason"), [
    ("sampler.step_size", -1, "sampler.step_size must be > 0"),
    ("sampler.step_size", "1e400", "must be a finite number"),
    ("train.lr", float("nan"), "train.lr must be a number"),
    ("sampler.stepsize", 0.1, "did you mean 'sampler.step_size'"),
])
def test_bad_edit_is_refused_with_reason_and_current_value(key, value, reason):
    session = Session(tiny())
    result = session.edit(key, value)
    assert isinstance(result, Refused) and reason in result.reason
    expected = {"sampler.step_size": 0.1, "train.lr": tiny().train.lr, "sampler.stepsize": None}
    assert result.current == expected[key]  # what an editor reverts to
    assert session.config == tiny()  # nothing changed


def test_mid_run_edits_follow_the_live_flags(tmp_path: Path):
    session = Session(tiny(iterations=4))
    events = session.train(tmp_path / "run")
    assert isinstance(next(events), RunStarted)
    fixed = session.edit("model.width", 32)
    seed = session.edit("train.seed", 3)
    live = session.edit("sampler.n_steps", 7)
    assert isinstance(fixed, Refused) and "cannot change during a run" in fixed.reason
    assert fixed.current == 16 and isinstance(seed, Refused)
    assert isinstance(live, Accepted) and live.pending
    rest = list(events)
    applied = [e for e in rest if isinstance(e, KnobApplied)]
    assert [(e.key, e.old, e.new) for e in applied] == [("sampler.n_steps", 5, 7)]
    assert session.trainer.cfg.sampler.n_steps == 7 and session.trainer.cfg.model.width == 16
    assert RunConfig.load(tmp_path / "run" / "config.json").sampler.n_steps == 7
    assert session.state == RunState.FINISHED


def test_method_knobs_are_live_or_fixed_by_their_declaration(tmp_path: Path):
    cfg = config_for("8gaussians", "toy2d-coopnets", overrides=[
        ("train.batch_size", 16), ("train.iterations", 2), ("sampler.n_steps", 3),
        ("train.checkpoint_every", 0)])
    session = Session(cfg)
    events = session.train(None)
    next(events)
    assert isinstance(session.edit("train.options.z_dim", 4), Refused)
    ok = session.edit("train.options.gen_lr", 5e-4)
    assert isinstance(ok, Accepted)
    bogus = session.edit("train.options.gen_lrr", 1e-3)
    assert isinstance(bogus, Refused) and "did you mean 'gen_lr'" in bogus.reason
    list(events)
    assert session.trainer.method.gen_opt.param_groups[0]["lr"] == pytest.approx(5e-4)


def test_pause_step_and_stop_gates(tmp_path: Path):
    session = Session(tiny(iterations=50, checkpoint_every=0))
    events = session.train(tmp_path / "run", paused=True, steps=2)
    assert session.state == RunState.PAUSED
    seen: list = []
    done = threading.Event()

    def consume():
        for event in events:
            seen.append(event)
        done.set()

    worker = threading.Thread(target=consume)
    worker.start()
    # exactly the two allowed iterations run, then the gate holds
    deadline = 30.0
    while not [e for e in seen if isinstance(e, TrainStep) and e.iteration == 2]:
        assert not done.wait(0.05) and (deadline := deadline - 0.05) > 0
    assert not done.wait(0.5)
    assert [e.iteration for e in seen if isinstance(e, TrainStep)] == [1, 2]
    session.step()
    while not [e for e in seen if isinstance(e, TrainStep) and e.iteration == 3]:
        assert not done.wait(0.05)
    session.stop()
    worker.join(30)
    assert done.is_set()
    its = [e.iteration for e in seen if isinstance(e, TrainStep)]
    assert its == [1, 2, 3]
    assert isinstance(seen[-1], Finished) and seen[-1].reason == "stopped"
    assert any(isinstance(e, Checkpointed) and e.iteration == 3 for e in seen)
    assert session.state == RunState.FINISHED


def test_app_policy_pauses_at_a_divergence():
    session = Session(unstable())
    events = session.train(None)
    for event in events:
        if isinstance(event, Diverged):
            break
    assert session.state == RunState.PAUSED
    session.stop()
    rest = list(events)
    assert isinstance(rest[-1], Finished) and rest[-1].reason == "stopped"


def test_rollback_policy_yields_a_typed_event(tmp_path: Path):
    session = Session(unstable(), on_diverge=RollbackPolicy(max_rollbacks=1, extra_steps=2))
    seen = list(session.train(tmp_path / "run"))
    rolled = [e for e in seen if isinstance(e, RolledBack)]
    assert len(rolled) == 1 and rolled[0].iteration == 0
    assert rolled[0].changes["train.lr"] == [100.0, 50.0]
    assert rolled[0].changes["sampler.n_steps"] == [3, 5]
    assert session.config.train.lr == 50.0  # the session's config follows the rollback
    assert isinstance(seen[-1], Finished) and seen[-1].reason == "diverged"


def test_stop_policy_ends_as_diverged():
    seen = list(Session(unstable(), on_diverge=StopOnDivergence()).train(None))
    assert not any(isinstance(e, RolledBack) for e in seen)
    assert seen[-1].reason == "diverged"


def test_follower_yields_the_same_events_as_the_live_run(tmp_path: Path):
    run = tmp_path / "run"
    live = Session(tiny())
    events = live.train(run)
    next(events)
    live.edit("sampler.n_steps", 4)
    live_events = list(events)
    followed = list(Session().follow(run, poll_seconds=0.01))
    kinds = (TrainStep, KnobApplied, Checkpointed, Finished)

    def digest(seq):
        out = []
        for e in seq:
            if isinstance(e, TrainStep):
                out.append(("step", e.iteration, round(e.metrics["loss"], 4)))
            elif isinstance(e, KnobApplied):
                out.append(("knob", e.key, e.old, e.new))
            elif isinstance(e, Checkpointed):
                out.append(("ckpt", e.iteration))
            elif isinstance(e, Finished):
                out.append(("end", e.iteration, e.reason))
        return out

    assert isinstance(followed[0], RunStarted)
    assert all(type(e) in (*kinds, RunStarted, SamplesReady, TargetSet) for e in followed)
    # metrics come before the log lines in a poll; compare each kind in order
    for kind in ("step", "knob", "ckpt", "end"):
        assert [d for d in digest(followed) if d[0] == kind] == \
               [d for d in digest(live_events) if d[0] == kind]
    samples = [e for e in followed if isinstance(e, SamplesReady)]
    assert samples and samples[-1].iteration == 6 and samples[-1].origin == "follow"


def test_set_config_replaces_everything_and_is_refused_mid_run(tmp_path: Path):
    session = Session(tiny())
    session.edit("sampler.step_size", 0.3)
    fresh = config_for("digits")
    session.set_config(fresh)
    assert session.config == fresh
    events = session.train(None, paused=True)
    next(events)
    with pytest.raises(Exception, match="Stop the current run"):
        session.set_config(tiny())
    session.stop()
    list(events)


def test_sample_session_yields_samples_from_a_run(tmp_path: Path):
    run = tmp_path / "run"
    list(Session(tiny()).train(run))
    seen = list(Session(display=True).sample(run, n=12))
    samples = [e for e in seen if isinstance(e, SamplesReady)]
    assert samples[0].samples.shape == (12, 2) and samples[0].origin == "sample"
    assert samples[0].landscape is not None  # 2D data: the view's heatmap comes along
    # and the training points for the view's data layer, as in a training run; the
    # heatmap spans them and the samples, so strays are in view
    data = samples[0].data_points
    assert data is not None and data.shape[1] == 2 and len(data) >= 1000
    x0, x1, y0, y1 = samples[0].landscape.bounds
    for pts in (data, samples[0].samples):
        assert x0 <= pts[:, 0].min() and pts[:, 0].max() <= x1
        assert y0 <= pts[:, 1].min() and pts[:, 1].max() <= y1
    assert seen[-1].reason == "sampled"


def test_each_sample_press_draws_fresh_chains_unless_a_seed_is_given(tmp_path: Path):
    """Loading re-seeds from the run's training seed; without a fresh seed every
    press of Sample only would show the very same samples."""
    run = tmp_path / "run"
    list(Session(tiny()).train(run))

    def drawn(seed=None) -> np.ndarray:
        return next(e for e in Session().sample(run, n=8, seed=seed)
                    if isinstance(e, SamplesReady)).samples

    assert not np.allclose(drawn(), drawn())
    np.testing.assert_array_equal(drawn(seed=3), drawn(seed=3))


def test_a_model_with_few_persistent_chains_draws_each_once(tmp_path: Path):
    """Drawing 12 from 4 persistent chains would show each three times (a dynamic
    texture's 16 cells were 4 clips repeated): 4 are drawn and the log says why."""
    run = tmp_path / "run"
    cfg = tiny(batch_size=4).with_value("sampler.init", "persistent") \
        .with_value("sampler.buffer_size", 4)
    list(Session(cfg).train(run))
    seen = list(Session().sample(run, n=12))
    samples = next(e for e in seen if isinstance(e, SamplesReady)).samples
    assert len(samples) == 4 and len(np.unique(samples.round(5), axis=0)) == 4
    said = [e for e in seen if isinstance(e, Warned) and "4 persistent chains" in e.message]
    assert said and said[0].note  # worth knowing, not wrong: no warning sign in the app


def test_display_sessions_snapshot_the_first_iteration(tmp_path: Path):
    """A viewer's first picture comes after one iteration, whatever sample_every
    says; the run's config is not touched (the CLI keeps its cadence)."""
    cfg = tiny(iterations=12, sample_every=10)
    shown = [e.iteration for e in Session(cfg, display=True).train(tmp_path / "a")
             if isinstance(e, SamplesReady)]
    cli = [e.iteration for e in Session(cfg).train(tmp_path / "b")
           if isinstance(e, SamplesReady)]
    assert shown == [1, 10, 12] and cli == [10, 12]
    assert RunConfig.load(tmp_path / "a" / "config.json").train.sample_every == 10


def test_a_method_refuses_data_it_cannot_learn(tmp_path: Path):
    """ml on token ids would crash inside a matmul: one line naming the methods that can."""
    text = tmp_path / "s.txt"
    text.write_text("the cat sees the dog\nthe dog sees a cat\n", encoding="utf-8")
    cfg = tiny().with_value("data.source", str(text))
    with pytest.raises(Exception, match="method 'ml' cannot learn text data; use --method"):
        list(Session(cfg).train(None))


def test_a_live_edit_of_iterations_moves_the_runs_end(tmp_path: Path):
    """Accepted, logged and marked, train.iterations must also end the run there."""
    session = Session(tiny(iterations=40, checkpoint_every=0))
    events = session.train(tmp_path / "run", paused=True)
    next(events)  # RunStarted: the trainer is built
    assert isinstance(session.edit("train.iterations", 7), Accepted)
    session.resume_run()
    steps = [e.iteration for e in events if isinstance(e, TrainStep)]
    assert steps[-1] == 7
    assert RunConfig.load(tmp_path / "run" / "config.json").train.iterations == 7


def test_following_a_silent_run_says_its_writer_may_have_stopped(tmp_path: Path, monkeypatch):
    """A writer killed with kill -9 writes no "finished": say so once, keep following."""
    import ebm_engine.session as session_module
    from ebm_engine.runs.rundir import RunDir

    monkeypatch.setattr(session_module, "FOLLOW_SILENT_SECONDS", 0.05)
    RunDir(tmp_path / "run").create(tiny())  # a run whose writer is gone
    session = Session()
    events = session.follow(tmp_path / "run", poll_seconds=0.01)
    seen = []
    for event in events:
        seen.append(event)
        if isinstance(event, Warned):
            session.stop()
    said = [e for e in seen if isinstance(e, Warned)]
    assert len(said) == 1 and "may have stopped" in said[0].message
    assert isinstance(seen[-1], Finished) and seen[-1].reason == "stopped"


def test_following_a_run_that_was_stopped_and_resumed_follows_it_live(tmp_path: Path):
    """Each job of a cluster chain writes "finished" and the next resumes: following such
    a run ended at the first "finished" in its history, showing "finished" while it
    trained. Only a "finished" after the last "resumed" ends it now."""
    run = tmp_path / "run"
    list(Session(tiny()).train(run))  # finished at 6
    live = Session().resume(run, iterations=4)
    for event in live:
        if isinstance(event, TrainStep) and event.iteration == 8:
            break  # the resumed run is live, at iteration 8
    follower = Session()
    seen = []
    for event in follower.follow(run, poll_seconds=0.01):
        seen.append(event)
        if isinstance(event, TrainStep) and event.iteration == 8:
            follower.stop()
    assert [e.reason for e in seen if isinstance(e, Finished)] == ["stopped"]  # by Stop
    list(live)
    followed = list(Session().follow(run, poll_seconds=0.01))
    ended = followed[-1]
    assert isinstance(ended, Finished) and (ended.iteration, ended.reason) == (10, "completed")
    # the resumed job went past the config's 6: the follower learns its new total
    assert [(e.iteration, e.target) for e in followed if isinstance(e, TargetSet)][-1] == (6, 10)


def test_a_followed_run_that_diverged_or_stopped_is_given_time_to_go_on(tmp_path: Path,
                                                                       monkeypatch):
    """`--on-diverge rollback` writes "finished … diverged", then "rollback"; the app's Go
    back "finished … stopped", then "resumed". A follower that polled in between ended
    there while the run went on: it now waits a moment for the line that goes on."""
    import ebm_engine.session as session_module
    from ebm_engine.runs.rundir import RunDir

    monkeypatch.setattr(session_module, "FOLLOW_ROLLBACK_SECONDS", 0.3)
    run = RunDir(tmp_path / "run").create(tiny())
    run.append_event("checkpoint", iteration=3, path="x")
    run.append_event("finished", iteration=4, reason="diverged")
    session = Session()
    seen = []
    for event in session.follow(run.path, poll_seconds=0.01):
        seen.append(event)
        if isinstance(event, Checkpointed) and event.iteration == 3:
            # read in the same poll as the "finished"; the run goes on in a later one
            run.append_event("rollback", iteration=3, diverged_at=4)
            run.append_event("checkpoint", iteration=5, path="x")
            run.append_event("finished", iteration=6, reason="stopped")
        elif isinstance(event, Checkpointed) and event.iteration == 5:
            run.append_event("resumed", iteration=5, checkpoint="iter_0000005")
            run.append_event("finished", iteration=7, reason="completed")
    ends = [(e.iteration, e.reason) for e in seen if isinstance(e, Finished)]
    assert ends == [(7, "completed")] and any(isinstance(e, RolledBack) for e in seen)


def test_a_followed_2d_run_shows_its_data_and_landscape(tmp_path: Path):
    """As a run trained or sampled here: the view's data layer and heat map come along."""
    run = tmp_path / "run"
    list(Session(tiny()).train(run))
    shown = [e for e in Session(display=True).follow(run, poll_seconds=0.01)
             if isinstance(e, SamplesReady)]
    assert shown and shown[-1].landscape is not None
    assert shown[-1].data_points is not None and shown[-1].data_points.shape[1] == 2
    plain = [e for e in Session().follow(run, poll_seconds=0.01) if isinstance(e, SamplesReady)]
    assert plain[-1].landscape is None  # the CLI's follower needs no picture


def _lr_1e4_at_4(session: Session, run: Path, on_diverged) -> list:
    """Train ``session`` into ``run``: four steps, then train.lr 1e4 (its first update is
    applied, finite; a later one diverges); ``on_diverged(event)`` at each divergence.
    Returns every event."""
    events = session.train(run, paused=True)
    next(events)
    for _ in range(4):
        session.step()
    seen, edited = [], False
    for event in events:
        seen.append(event)
        if isinstance(event, TrainStep) and event.iteration == 4 and not edited:
            edited = True
            assert isinstance(session.edit("train.lr", 1e4), Accepted)
            session.resume_run()
        elif isinstance(event, Diverged):
            on_diverged(event)
    return seen


def test_a_run_an_edit_broke_rolls_back_to_before_the_edit(tmp_path: Path):
    """lr 1e4 mid-run: its first update is applied (finite), the next diverges; Resume
    would diverge again. roll_back() goes back to the checkpoint written just before
    the edit, with the settings of then, and the run completes."""
    run = tmp_path / "run"
    session = Session(tiny(iterations=12, checkpoint_every=0))
    rolled = []

    def go_back(_event) -> None:
        if not rolled:
            assert session.can_roll_back() == 4  # written before the edit was applied
            rolled.append(True)
            session.roll_back()

    seen = _lr_1e4_at_4(session, run, go_back)
    back = [e for e in seen if isinstance(e, RolledBack)]
    assert back and back[0].iteration == 4 and back[0].changes["train.lr"][1] != 1e4
    assert isinstance(seen[-1], Finished) and seen[-1].reason == "completed"
    assert seen[-1].iteration == 12
    assert RunConfig.load(run / "config.json").train.lr == back[0].changes["train.lr"][1]


def test_an_edit_can_be_undone_past_a_checkpoint_written_after_it(tmp_path: Path):
    """A checkpoint every iteration (one kept): lr 1e4 set at 4, iteration 5 is applied
    and checkpointed (damaged), 6 diverges. The latest checkpoint (5) would diverge
    again; the state before the edit (4) is still there and is offered too."""
    from ebm_engine.errors import EBMError
    from ebm_engine.runs.rundir import RunDir

    run = tmp_path / "run"
    session = Session(tiny(iterations=12, checkpoint_every=1, keep_checkpoints=1))
    choices = []

    def go_back(_event) -> None:
        if choices:  # went back to a damaged state: end, not hang
            session.stop()
            return
        choices.extend(session.roll_back_choices())
        with pytest.raises(EBMError, match="cannot go back to iteration 3"):
            session.roll_back(3)  # pruned: not a choice
        session.roll_back(choices[-1][0])

    seen = _lr_1e4_at_4(session, run, go_back)
    assert choices == [(5, "the latest checkpoint"), (4, "before your edit of train.lr")]
    back = [e for e in seen if isinstance(e, RolledBack)]
    assert len(back) == 1 and back[0].iteration == 4
    assert back[0].changes["train.lr"] == [1e4, tiny().train.lr]
    assert isinstance(seen[-1], Finished) and seen[-1].reason == "completed"
    assert seen[-1].iteration == 12
    assert RunDir(run).latest_checkpoint().name == "iter_0000012"
    assert session.trainer.edit_points == []  # the edit it went back past is undone


def test_resuming_an_older_checkpoint_makes_it_the_latest(tmp_path: Path):
    """Going on from an older checkpoint of the run: a crash before the next checkpoint
    must resume there, not from the abandoned newer one."""
    from ebm_engine.learning.trainer import Trainer
    from ebm_engine.runs.rundir import RunDir

    run = tmp_path / "run"
    list(Session(tiny(iterations=6, checkpoint_every=3)).train(run))
    assert RunDir(run).latest_checkpoint().name == "iter_0000006"
    trainer = Trainer.resume(run, RunDir(run).checkpoint_path(3))
    assert trainer.iteration == 3
    assert RunDir(run).latest_checkpoint().name == "iter_0000003"


def test_a_rollback_to_the_latest_checkpoint_sets_nothing_aside(tmp_path: Path):
    """A divergence's rollback resumes the run's latest checkpoint, named: no branch
    is left behind, so no metrics.csv.abandoned and no "went back" (every rollback
    wrote one, -2, -3 … and said it)."""
    from ebm_engine.learning.rollback import RollbackPolicy, roll_back
    from ebm_engine.learning.trainer import Trainer
    from ebm_engine.runs.rundir import RunDir

    run = tmp_path / "run"
    trainer = Trainer(tiny(iterations=7, checkpoint_every=4), run)
    trainer._final_checkpoint = False  # as a diverged run: its latest stays iter_4
    list(trainer.events(6))
    fresh = roll_back(trainer, RollbackPolicy(), "diverged")
    assert fresh.iteration == 4
    assert not any("went back" in w.message for w in fresh._write_warnings)
    assert not (run / "metrics.csv.abandoned").exists()
    assert "set_aside" not in [e["event"] for e in RunDir(run).read_events()]
    fresh.release_run_folder()


def test_going_back_sets_the_newer_checkpoints_aside(tmp_path: Path):
    """Going back to iteration 4 of a run checkpointed at 4 and 6 (two kept): iter_6 stayed
    an iter_N, so pruning at 5 counted it among the newest two and deleted iter_4, the
    state gone back to. It is renamed aside now (said, logged), and nothing prunes it."""
    from ebm_engine.learning.events import Warned
    from ebm_engine.learning.trainer import Trainer
    from ebm_engine.runs.rundir import RunDir

    run = tmp_path / "run"
    list(Session(tiny(iterations=6, checkpoint_every=2, keep_checkpoints=2)).train(run))
    checkpoints = RunDir(run).checkpoints
    assert [p.name for p in sorted(checkpoints.glob("iter_*"))] == ["iter_0000004",
                                                                   "iter_0000006"]
    trainer = Trainer.resume(run, RunDir(run).checkpoint_path(4))
    seen = list(trainer.events(5))
    trainer.release_run_folder()
    assert sorted(p.name for p in checkpoints.iterdir() if p.is_dir()) == [
        "iter_0000004", "iter_0000005", "iter_0000006.abandoned"]
    assert (checkpoints / "iter_0000006.abandoned" / "state.json").is_file()
    assert RunDir(run).latest_checkpoint().name == "iter_0000005"
    said = [e.message for e in seen if isinstance(e, Warned)]
    assert any("went back to iter_0000004: the 1 newer checkpoint is kept aside" in m
               and "iter_0000006.abandoned" in m for m in said), said
    aside = [e for e in RunDir(run).read_events() if e["event"] == "set_aside"]
    assert aside and aside[0]["checkpoints"] == ["iter_0000006"]
    # the curves of the branch gone back past stay readable beside the run's own
    assert aside[0]["metrics"] == "metrics.csv.abandoned"
    kept = [int(r["iteration"]) for r in RunDir(run).read_metrics()]
    assert kept == [1, 2, 3, 4, 5], kept
    header, *rows = (run / "metrics.csv.abandoned").read_text().splitlines()
    assert header == (run / "metrics.csv").read_text().splitlines()[0]
    assert [int(r.split(",")[0]) for r in rows] == [5, 6]
    assert any("their curves in metrics.csv.abandoned" in m for m in said), said
