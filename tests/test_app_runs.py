"""Load (sample only / resume), follow, export, run summary, settings and recent runs."""

from __future__ import annotations

import importlib.machinery
import json
import sys
import types

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QFileDialog

from app.testing import TINY_2D, WAIT_MS, make_window

pytestmark = pytest.mark.app


def _tiny_cfg(iterations: int):
    from ebm_engine.presets import config_for

    return config_for("8gaussians", overrides=[
        ("model.width", 16), ("model.depth", 2), ("sampler.n_steps", 5),
        ("train.batch_size", 64), ("train.sample_every", 2), ("train.record_every", 1),
        ("train.checkpoint_every", 0), ("train.iterations", iterations)])


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    from ebm_engine.learning.trainer import Trainer

    path = tmp_path_factory.mktemp("runs") / "run"
    for _ in Trainer(_tiny_cfg(4), path).events():
        pass
    return path


def test_sample_only_then_export(qtbot, tmp_path, finished_run):
    from PIL import Image

    window = make_window(qtbot, tmp_path, knobs=())
    with qtbot.waitSignal(window.controller.sigSnapshot, timeout=WAIT_MS) as blocker:
        window.open_run(finished_run, "sample")
    snap = blocker.args[0]
    assert snap.origin == "sample" and snap.iteration == 4 and snap.samples.shape == (64, 2)
    assert snap.landscape is not None and len(snap.frames) > 2
    qtbot.waitUntil(lambda: window.controller.state == "finished", timeout=WAIT_MS)
    assert window.curves.rows["iteration"] == [1, 2, 3, 4]  # how it got there
    assert window.curves.note.isHidden()
    assert str(finished_run) in window.store.value("recent_runs", [])
    # the settings show exactly the opened run's config
    from ebm_engine.config import RunConfig

    assert window.current_config() == RunConfig.load(finished_run / "config.json")
    assert window.settings_panel.editors["model.width"].widget.value() == 16
    out = tmp_path / "out"
    out.mkdir()
    png = window.export("grid", out / "grid.png")
    assert Image.open(png).size[0] > 0
    gif = window.export("chain", out / "chain.gif")
    assert gif is not None, window.errors
    assert Image.open(gif).n_frames == len(snap.frames)
    csv = window.export("metrics", out / "metrics.csv")
    assert csv.read_text().splitlines()[0].startswith("iteration,wall_time")
    ckpt = window.export("checkpoint", out / "ckpt")
    assert (ckpt / "state.json").is_file()
    from ebm_engine.learning.loading import load_model

    assert load_model(ckpt).checkpoint.iteration == 4
    # a bad target folder: one sentence, nothing raised
    assert window.export("grid", tmp_path / "missing" / "x.png") is None
    assert window.errors and "\n" not in window.errors[-1]
    # the run summary shows RUN/eval.json written by `ebm eval`
    (finished_run / "eval.json").write_text(json.dumps({"mmd": 0.0123, "energy": {"data": -1.5}}))
    data = window.show_run_summary()
    assert data["mmd"] == 0.0123 and window.summary.tree.topLevelItemCount() == 2
    # an evaluation's metrics each say which way they improve; facts say "for reference"
    (finished_run / "eval.json").write_text(json.dumps({
        "metrics": {"kl_samples": 0.5, "logp_data_mean": 2.2}, "n": 64,
        "better": {"kl_samples": "lower", "logp_data_mean": "reference"}}))
    window.show_run_summary()
    scores = window.summary.tree.topLevelItem(0)
    rows = [[scores.child(i).text(c) for c in range(3)] for i in range(scores.childCount())]
    assert rows == [["kl_samples", "0.5", "lower is better"],
                    ["logp_data_mean", "2.2", "for reference"]]
    assert window.summary.tree.topLevelItem(1).text(0) == "n"  # "better" is not a row of its own
    tree = window.summary.tree  # whole names, not "logp_…"
    assert tree.columnWidth(0) > tree.fontMetrics().horizontalAdvance("logp_data_mean")
    assert "on disk" in window.summary.disk.text()
    # a checkpoint folder of the run shows the same history
    window.open_run(finished_run / "checkpoints" / "iter_0000004", "sample")
    qtbot.waitUntil(lambda: window.controller.state == "finished"
                    and window.curves.rows.get("iteration") == [1, 2, 3, 4], timeout=WAIT_MS)
    # Sample only redraws that checkpoint (not the demo's pretrained model, nor "no model")
    with qtbot.waitSignal(window.controller.sigRunStarted, timeout=WAIT_MS) as started:
        window.transport.buttons["sample"].click()
    assert started.args[0].run_dir == str(finished_run / "checkpoints" / "iter_0000004")
    qtbot.waitUntil(lambda: window.controller.state == "finished", timeout=WAIT_MS)


def test_resume_training_continues_the_run(qtbot, tmp_path, finished_run):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(finished_run, run)
    window = make_window(qtbot, tmp_path, knobs=())
    window.open_run(run, "resume")
    qtbot.waitUntil(lambda: window.controller.state == "finished", timeout=WAIT_MS)
    # the curves hold the run's history (read from metrics.csv) and then its new rows
    assert window.curves.rows["iteration"] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert window.errors == []
    assert "from iteration 4 (its checkpoint)" in window.log.toPlainText()  # where it went on


def test_bad_checkpoint_is_one_sentence(qtbot, tmp_path):
    bad = tmp_path / "ckpt"
    bad.mkdir()
    (bad / "state.json").write_text("{ not json")
    window = make_window(qtbot, tmp_path, knobs=())
    window.open_run(bad, "sample")
    qtbot.waitUntil(lambda: bool(window.errors), timeout=WAIT_MS)
    assert "\n" not in window.errors[-1] and "Internal error" not in window.errors[-1]
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=WAIT_MS)
    window.open_run(tmp_path, "resume")  # not a run folder
    assert "not a run folder" in window.errors[-1]


def test_running_out_of_memory_is_a_sentence_not_an_internal_error(qtbot, tmp_path,
                                                                    finished_run, monkeypatch):
    from ebm_engine.methods.ml import MaximumLikelihood

    def allocate(*_args, **_kwargs):  # what the CPU allocator raises on a draw too big
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: "
                           "can't allocate memory: you tried to allocate 102400000000 bytes.")
        yield

    monkeypatch.setattr(MaximumLikelihood, "sample", allocate)
    window = make_window(qtbot, tmp_path, knobs=())
    window.open_run(finished_run, "sample")
    qtbot.waitUntil(lambda: bool(window.errors), timeout=WAIT_MS)
    assert window.errors[-1].startswith("out of memory (102 GB asked for)"), window.errors[-1]
    assert "\n" not in window.errors[-1]


def test_follow_a_run_being_written(qtbot, tmp_path):
    from ebm_engine.learning.events import SamplesReady
    from ebm_engine.learning.trainer import Trainer
    from ebm_engine.runs.follow import RunFollower

    path = tmp_path / "job"
    trainer = Trainer(_tiny_cfg(12), path)
    gen = trainer.events()

    def advance_to_snapshot():
        for ev in gen:
            if isinstance(ev, SamplesReady):
                return ev

    advance_to_snapshot()
    window = make_window(qtbot, tmp_path, knobs=())
    window.follow_run(path)
    qtbot.waitUntil(lambda: window.controller.state == "following", timeout=WAIT_MS)
    assert window.status_labels["state"].text() == "following"
    qtbot.waitUntil(lambda: window.snapshot is not None, timeout=WAIT_MS)
    assert window.snapshot.origin == "follow" and window.curves.rows["iteration"][-1] == 2
    advance_to_snapshot()
    advance_to_snapshot()
    qtbot.waitUntil(lambda: window.snapshot.iteration == 6, timeout=WAIT_MS)
    assert window.curves.rows["iteration"][-1] == 6
    window.command("stop")  # stop following (the job goes on)
    qtbot.waitUntil(lambda: window.controller.state == "finished", timeout=WAIT_MS)
    assert not window.controller.busy
    for _ in gen:
        pass
    # the follower skips a torn last line until it is complete
    follower = RunFollower(path)
    assert len(follower.poll().rows) == 12
    with open(path / "metrics.csv", "a") as fh:
        fh.write("13,1.0")
    assert follower.poll().rows == []
    with open(path / "metrics.csv", "a") as fh:
        fh.write("," * (len(follower._header.split(",")) - 2) + "\n")
    assert [r["iteration"] for r in follower.poll().rows] == [13]


def test_following_a_run_that_finishes_says_finished(qtbot, tmp_path, finished_run):
    from ebm_engine.config import RunConfig

    window = make_window(qtbot, tmp_path, demo="digits", knobs=())
    window.follow_run(finished_run)
    qtbot.waitUntil(lambda: window.controller.state == "finished", timeout=20_000)
    assert window.status_labels["state"].text().startswith("finished")
    assert window.status_labels["eta"].text() == ""
    assert window.curves.rows["iteration"][-1] == 4
    # the followed run's settings, not the demo's
    assert window.current_config() == RunConfig.load(finished_run / "config.json")
    assert window.data_panel.source == "8gaussians"
    assert window.errors == []


def test_following_a_run_resumed_past_its_config_shows_its_new_total(qtbot, tmp_path,
                                                                     finished_run):
    """A job resumed with --steps 3 went to iteration 7 of a run configured for 4: the
    follower's status said "iteration 7 / 4"; it says "/ 7" now."""
    import shutil

    from ebm_engine.cli import main

    run = tmp_path / "resumed"
    shutil.copytree(finished_run, run)
    assert main(["train", "--resume", str(run), "--steps", "3", "--quiet"]) == 0
    window = make_window(qtbot, tmp_path, demo="digits", knobs=())
    window.follow_run(run)
    qtbot.waitUntil(lambda: window.controller.state == "finished", timeout=20_000)
    assert window.status_labels["iteration"].text() == "iteration 7 / 7"
    assert window.errors == []


def test_a_worker_done_before_the_state_is_read_still_shows_its_events_first(
        qtbot, tmp_path, finished_run, monkeypatch):
    """A followed run that had ended is read in full before ``follow`` returns (seen under
    load): "finished" must not be announced before the rows that came before it."""
    import threading

    window = make_window(qtbot, tmp_path, knobs=())
    seen: list[str] = []
    window.controller.sigMetrics.connect(lambda rows: seen.append("rows"))
    window.controller.sigStateChanged.connect(seen.append)

    start = threading.Thread.start

    def start_and_finish(thread):  # the worker runs to its end before start() returns
        start(thread)
        thread.join()

    monkeypatch.setattr(threading.Thread, "start", start_and_finish)
    window.follow_run(finished_run)
    assert seen.index("rows") < seen.index("finished"), seen
    assert window.controller.state == "finished"
    assert window.curves.rows["iteration"][-1] == 4


def _written_run(path, iterations: int):
    """A run folder written by hand, as a job elsewhere writes it (no training here)."""
    from ebm_engine.runs.rundir import RunDir

    run = RunDir(path).create(_tiny_cfg(iterations))
    run.append_event("target", iteration=0, target=iterations)
    return run


def _rows(run, its, loss: float = 1.0) -> None:
    for it in its:
        run.append_metrics({"iteration": it, "wall_time": 0.1 * it, "loss": loss})


def _roll_back(run, to: int, diverged_at: int) -> None:
    """What ``--on-diverge rollback`` writes: the "diverged" line, then the rewritten
    metrics.csv, then the "rollback" line."""
    run.append_event("diverged", iteration=diverged_at - 1, message="non-finite grad_norm")
    run.append_event("finished", iteration=diverged_at - 1, reason="diverged")
    run.truncate_metrics(to)
    run.append_event("resumed", iteration=to, checkpoint=f"iter_{to:07d}")
    run.append_event("rollback", iteration=to, diverged_at=diverged_at - 1, lr=[1.0, 0.5],
                     reason="non-finite grad_norm")


def _file_rows(run) -> list[tuple[int, float]]:
    return [(int(r["iteration"]), r["loss"]) for r in run.read_metrics()]


def _curve_rows(window) -> list[tuple[int, float]]:
    return list(zip(map(int, window.curves.rows["iteration"]), window.curves.rows["loss"]))


def test_following_a_run_with_a_rollback_in_its_history_keeps_every_row(qtbot, tmp_path):
    """The rows after a rollback were read before its "rollback" line, which then deleted
    them (10 of 6010 rows shown), and each followed divergence opened "Training paused …
    press Resume" for a job this app does not run. Now: a log line and a marker."""
    run = _written_run(tmp_path / "job", 30)
    _rows(run, range(1, 13))
    _roll_back(run, 10, 13)
    _rows(run, range(11, 31), loss=2.0)
    run.append_event("finished", iteration=30, reason="completed")
    window = make_window(qtbot, tmp_path, knobs=())
    window.follow_run(run.path)
    qtbot.waitUntil(lambda: window.controller.state == "finished", timeout=WAIT_MS)
    assert _curve_rows(window) == _file_rows(run)
    assert window.errors == [] and window._pause_box is None
    assert window.status_labels["iteration"].text() == "iteration 30 / 30"
    assert [m[2] for m in window.curves.markers] == ["diverged", "rollback"]
    log = window.log.toPlainText()
    assert "iteration 13 of the followed run diverged" in log and "rolled back to 10" in log


def test_following_a_run_live_through_a_rollback_ends_with_the_file_rows(qtbot, tmp_path):
    """The job rolls back while followed: its rewrite is read again, and the curves end
    holding what metrics.csv holds."""
    run = _written_run(tmp_path / "job", 30)
    _rows(run, range(1, 16))
    window = make_window(qtbot, tmp_path, knobs=())
    window.clear_views()
    window.controller.follow(run.path, poll_seconds=0.02)
    qtbot.waitUntil(lambda: window.curves.rows.get("iteration", [0])[-1] == 15, timeout=WAIT_MS)
    _roll_back(run, 10, 16)
    _rows(run, range(11, 21), loss=2.0)  # the new file outgrows the old before a poll
    qtbot.waitUntil(lambda: any(m[2] == "rollback" for m in window.curves.markers),
                    timeout=WAIT_MS)
    _rows(run, range(21, 31), loss=2.0)
    run.append_event("finished", iteration=30, reason="completed")
    qtbot.waitUntil(lambda: window.controller.state == "finished", timeout=WAIT_MS)
    assert _curve_rows(window) == _file_rows(run)
    assert window.errors == [] and window.status_labels["state"].text() == "finished"


def test_following_a_pretrained_model_says_at_once_that_nothing_trains_it(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path, knobs=())
    window.follow_run("zoo:8gaussians-ml")  # as --follow zoo:8gaussians-ml
    qtbot.waitUntil(lambda: bool(window.errors), timeout=WAIT_MS)
    assert "8gaussians-ml: a trained model" in window.errors[-1]
    assert "nothing trains it" in window.errors[-1]
    qtbot.waitUntil(lambda: window.controller.state != "following", timeout=WAIT_MS)
    window.follow_run("zoo:8gausians-ml")  # a typo: one line with a hint, nothing started
    assert "did you mean" in window.errors[-1] and not window.controller.busy


def test_open_run_question_has_a_cancel_that_starts_nothing(qtbot, tmp_path, finished_run,
                                                           monkeypatch):
    window = make_window(qtbot, tmp_path, knobs=())
    before = window.current_config()
    window.runs_root.mkdir(parents=True, exist_ok=True)
    asked = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        lambda *a, **k: asked.append(a) or str(finished_run))
    answered = []

    def answer():  # runs inside the question's own event loop
        box = QApplication.activeModalWidget()
        if box is None:
            QTimer.singleShot(10, answer)
            return
        cancel = [b for b in box.buttons() if b.text().replace("&", "") == "Cancel"]
        answered.append([b.text() for b in box.buttons()])
        cancel[0].click() if cancel else box.reject()

    QTimer.singleShot(0, answer)
    file_menu = window.menuBar().actions()[0].menu()
    next(a for a in file_menu.actions() if a.text().replace("&", "").startswith("Open run")).trigger()
    assert answered and any(t.replace("&", "") == "Cancel" for t in answered[0]), answered
    assert asked[0][2] == str(window.runs_root)  # the dialog starts among the app's runs
    assert not window.controller.busy and window.controller.state == "idle"
    assert window.current_config() == before and window.errors == []


def test_settings_and_layout_persist(qtbot, tmp_path):
    first = make_window(qtbot, tmp_path, demo="moons", knobs=(("train.lr", 0.002),))
    first.resize(first.width(), 500)
    first.close()
    from app.main_window import MainWindow

    second = MainWindow(runs_root=tmp_path / "runs")
    qtbot.addWidget(second)
    second.controller.wait()
    assert second.data_panel.source == "moons"
    assert second.settings_panel.cfg.train.lr == 0.002
    assert second.size().height() == 500
    assert "ebm-studio-settings" in second.store.fileName()


def test_self_test_flag_calls_packaging_hook(monkeypatch):
    from app.main import main

    module = types.ModuleType("app.self_test")
    module.__spec__ = importlib.machinery.ModuleSpec("app.self_test", None)
    module.run = lambda: 7
    monkeypatch.setitem(sys.modules, "app.self_test", module)
    assert main(["--self-test"]) == 7


def test_an_opened_run_sets_the_method_its_card_loads(qtbot, tmp_path):
    # The card's Load pretrained follows the opened run's method: a CoopNets run on
    # 8gaussians offers the CoopNets entry, not the ML one the panel had before.
    from ebm_engine.learning.trainer import Trainer
    from ebm_engine.presets import config_for

    cfg = config_for("8gaussians", method="coopnets", overrides=[
        ("model.width", 16), ("model.depth", 2), ("sampler.n_steps", 3),
        ("train.batch_size", 32), ("train.checkpoint_every", 0), ("train.iterations", 2)])
    run = tmp_path / "coop"
    for _ in Trainer(cfg, run).events():
        pass
    window = make_window(qtbot, tmp_path, knobs=())
    panel = window.data_panel
    assert panel.method == "ml"
    window.open_run(run, "sample")
    qtbot.waitUntil(lambda: window.controller.state == "finished", timeout=WAIT_MS)
    assert panel.method == "coopnets" and window.errors == []
    entry = panel.pretrained_entry()
    assert entry is None or entry.method == "coopnets"  # never the ML entry of the demo
    assert entry is not None or "8gaussians-coopnets" not in panel.zoo


def test_train_after_opening_a_run_continues_it_in_a_new_folder(qtbot, tmp_path, finished_run):
    """File → Open run → Sample only, then ▶ Train: it trained a new model from scratch
    beside the opened one, without a word. It now continues the opened run (its
    weights and curves) in a new run folder; the opened run is only read."""
    from ebm_engine.runs.rundir import RunDir

    window = make_window(qtbot, tmp_path, knobs=())
    with qtbot.waitSignal(window.controller.sigSnapshot, timeout=WAIT_MS):
        window.open_run(finished_run, "sample")
    window.controller.wait()
    assert "▶ Continue to train it further in a new run folder" in window.log.toPlainText()
    before = sorted(p.name for p in finished_run.rglob("*"))
    with qtbot.waitSignal(window.controller.sigFinished, timeout=WAIT_MS):
        window.transport.buttons["train"].click()
    new = window.controller.run_dir
    assert new is not None and new.parent == window.runs_root and new != finished_run
    events = (new / "events.jsonl").read_text()
    assert '"event": "forked"' in events and '"event": "resumed", "iteration": 4' in events
    assert [int(r["iteration"]) for r in RunDir(new).read_metrics()][:4] == [1, 2, 3, 4]
    assert sorted(p.name for p in finished_run.rglob("*")) == before and window.errors == []
    # Sample only of that new run, then Train: a run trained here is not "opened", so
    # Train starts a new one from scratch, and the log says so. (sigFinished comes before
    # the worker is idle: a click then found Sample only disabled and waited 90 s in CI.)
    window.controller.wait()
    qtbot.waitUntil(lambda: window.transport.buttons["sample"].isEnabled(), timeout=WAIT_MS)
    with qtbot.waitSignal(window.controller.sigSnapshot, timeout=WAIT_MS):
        window.transport.buttons["sample"].click()
    window.controller.wait()
    assert window.log.toPlainText().count("train it further in a new run folder") == 1
    with qtbot.waitSignal(window.controller.sigFinished, timeout=WAIT_MS):
        window.transport.buttons["train"].click()
    assert "a new run, from scratch" in window.log.toPlainText()
    assert not (window.controller.run_dir / "events.jsonl").read_text().count('"forked"')


def test_step_after_opening_a_run_continues_it_paused(qtbot, tmp_path, finished_run):
    """Step after opening a run to sample started a new model from scratch, where Train
    continued the opened one: Step now continues it too, one iteration, then paused."""
    window = make_window(qtbot, tmp_path, knobs=())
    with qtbot.waitSignal(window.controller.sigSnapshot, timeout=WAIT_MS):
        window.open_run(finished_run, "sample")
    window.controller.wait()
    window.transport.buttons["step"].click()
    qtbot.waitUntil(lambda: window.controller.state == "paused"
                    and window.controller.session.iteration == 5, timeout=WAIT_MS)
    new = window.controller.run_dir
    assert new is not None and new != finished_run
    assert '"event": "forked"' in (new / "events.jsonl").read_text()
    assert "continuing" in window.log.toPlainText() and window.errors == []
    window.controller.stop()
    window.controller.wait()


def test_an_edit_after_opening_a_run_makes_train_a_new_run_and_says_so(qtbot, tmp_path,
                                                                       finished_run):
    """A continuation goes on with its checkpoint's settings: an lr typed after opening
    the run was dropped without a word. Now Train starts a new run with the edit, and
    the log says so."""
    window = make_window(qtbot, tmp_path, knobs=())
    with qtbot.waitSignal(window.controller.sigSnapshot, timeout=WAIT_MS):
        window.open_run(finished_run, "sample")
    window.controller.wait()
    assert window.transport.buttons["train"].text() == "Continue"
    lr = window.controller.config.train.lr / 7
    assert not window.settings_panel.set_value("train.lr", lr).pending
    assert "train.lr edited: ▶ Train now starts a new run" in window.log.toPlainText()
    assert window.transport.buttons["train"].text() == "Train"  # seen too, not only said
    with qtbot.waitSignal(window.controller.sigFinished, timeout=WAIT_MS):
        window.transport.buttons["train"].click()
    new = window.controller.run_dir
    assert '"forked"' not in (new / "events.jsonl").read_text()
    from ebm_engine.config import RunConfig

    assert RunConfig.load(new / "config.json").train.lr == pytest.approx(lr)


def test_an_opened_checkpoint_folder_is_sampled_and_train_continues_it_in_a_new_run(
        qtbot, tmp_path, finished_run, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    import app.main_window as main_window
    from ebm_engine.runs.rundir import RunDir

    ckpt = finished_run / "checkpoints" / "iter_0000004"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *a, **k: str(ckpt)))
    asked = []
    monkeypatch.setattr(main_window, "ask_open_mode", lambda parent: asked.append(1) or "resume")
    window = make_window(qtbot, tmp_path, knobs=())
    with qtbot.waitSignal(window.controller.sigSnapshot, timeout=WAIT_MS) as shown:
        window._ask_open_run()
    assert shown.args[0].origin == "sample" and not asked and window.errors == []
    assert "a checkpoint folder, sampled" in window.log.toPlainText()
    window.controller.wait()
    # ▶ Train continues it in a new run folder; the opened run is only read
    before = sorted(p.name for p in finished_run.rglob("*"))
    with qtbot.waitSignal(window.controller.sigFinished, timeout=WAIT_MS):
        window.transport.buttons["train"].click()
    new = window.controller.run_dir
    assert new is not None and new.parent == window.runs_root and new != finished_run
    assert '"checkpoint": "iter_0000004"' in (new / "events.jsonl").read_text().splitlines()[0]
    assert RunDir(new).latest_checkpoint().name == "iter_0000008"
    assert f"continuing {finished_run.name}/iter_0000004" in window.log.toPlainText()
    assert sorted(p.name for p in finished_run.rglob("*")) == before and window.errors == []


def test_a_final_checkpoint_that_cannot_be_written_is_an_error_in_the_app_too(
        qtbot, tmp_path, monkeypatch):
    """The CLI exits 1 when the last checkpoint fails (a full disk); the app said only
    "finished" in its status bar, with a log line."""
    import errno

    import ebm_engine.runs.checkpoint as ckpt_mod

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    window = make_window(qtbot, tmp_path, knobs=TINY_2D[:-1] + (("train.iterations", 3),))
    monkeypatch.setattr(ckpt_mod, "save_file", full_disk)
    with qtbot.waitSignal(window.controller.sigFinished, timeout=WAIT_MS):
        window.transport.buttons["train"].click()
    assert window.errors and window.errors[-1].startswith("Training ended at iteration 3, but ")
    assert "no checkpoint of this run was saved; iterations 1–3 were not saved" in \
        window.errors[-1]
    assert window.status.labels["state"].text() == "finished (not saved)"
    window.controller.wait()


@pytest.mark.parametrize("how", ["open", "follow"])
def test_a_model_looked_at_leaves_the_users_settings_for_the_next_launch(qtbot, tmp_path,
                                                                        finished_run, how):
    """Opening a run to sample (or following one) lends the panel that run's settings;
    quitting then saved them as the user's, so the next launch came back on another
    run's data and recipe (with no model to continue, and no Reset to undo it)."""
    from app.main_window import MainWindow

    first = make_window(qtbot, tmp_path, demo="moons", knobs=(("train.lr", 0.0055),))
    if how == "open":
        first.open_run(finished_run, "sample")
    else:
        first.follow_run(finished_run)
    qtbot.waitUntil(lambda: first.controller.state == "finished", timeout=WAIT_MS)
    assert first.controller.config.data.source == "8gaussians"  # the run's, on show
    first.close()
    second = MainWindow(runs_root=tmp_path / "runs")
    qtbot.addWidget(second)
    second.controller.wait()
    assert second.data_panel.source == "moons"
    assert second.controller.config.data.source == "moons"
    assert second.settings_panel.cfg.train.lr == 0.0055
    assert second.settings_panel.editors["train.lr"].value() == "0.0055"
    second.close()


def test_reset_after_following_a_run_gives_back_the_users_settings(qtbot, tmp_path,
                                                                   finished_run):
    """Following puts the followed run's settings in the panel (another process's);
    Reset kept them, so the next ▶ Train trained that run's recipe on its data."""
    window = make_window(qtbot, tmp_path, demo="moons", knobs=(("train.lr", 0.0055),))
    window.follow_run(finished_run)
    qtbot.waitUntil(lambda: window.controller.state == "finished", timeout=WAIT_MS)
    assert window.controller.config.data.source == "8gaussians"
    window.command("reset")
    window.controller.wait()
    assert window.controller.config.data.source == window.data_panel.source == "moons"
    assert window.controller.config.train.lr == 0.0055
    assert "settings in force before run was opened are back" in window.log.toPlainText()


def test_data_gone_since_the_last_launch_is_said_to_be_gone(qtbot, tmp_path):
    """The last launch's data file, deleted (or its drive unplugged) meanwhile: the
    samples area said "choose a reader first", which no reader can help."""
    import shutil

    import numpy as np

    from app.main_window import MainWindow

    folder = tmp_path / "points"
    folder.mkdir()
    np.save(folder / "xy.npy", np.random.default_rng(0).normal(size=(200, 2)).astype("float32"))
    first = make_window(qtbot, tmp_path, demo=str(folder / "xy.npy"), knobs=())
    first.close()
    shutil.rmtree(folder)
    second = MainWindow(runs_root=tmp_path / "runs")
    qtbot.addWidget(second)
    second.controller.wait()
    assert second.data_panel.source == str(folder / "xy.npy")
    title = second.samples.title.text()
    assert "not found" in title and "reader" not in title, title
    assert "no such file" in second.samples.title.toolTip()
    assert "Open data" in second.samples.title.toolTip()
    second.close()


def test_other_data_chosen_forgets_the_last_runs_scores(qtbot, tmp_path, finished_run):
    """Reset emptied the run summary ("the forgotten run's scores went with it"), but
    choosing another demo, which forgets the run as well, left that run's folder and
    scores under Run summary beside the new data."""
    import shutil

    run = tmp_path / "scored"
    shutil.copytree(finished_run, run)
    (run / "eval.json").write_text(json.dumps({"metrics": {"kl_samples": 0.5}, "n": 64,
                                               "better": {"kl_samples": "lower"}}))
    window = make_window(qtbot, tmp_path, demo="moons", knobs=())
    window.open_run(run, "sample")
    qtbot.waitUntil(lambda: window.controller.state == "finished", timeout=WAIT_MS)
    assert "scored" in window.summary.disk.text()
    assert window.summary.tree.topLevelItemCount() > 0
    window.data_panel.set_source("moons")
    window.controller.wait()
    assert window.controller.run_dir is None
    assert window.summary.disk.text() == "no run yet"
    assert window.summary.tree.topLevelItem(0).text(0) == "no evaluation yet"


def test_pane_sizes_and_curve_choices_come_back_at_the_next_launch(qtbot, tmp_path,
                                                                   monkeypatch):
    """The window's size and docks came back, but the samples/curves split, the data/
    settings split and the curves' also plot, smoothing and x axis went back to their
    first-launch values at every launch."""
    from PySide6.QtCore import QRect
    from PySide6.QtGui import QScreen

    from app.main_window import MainWindow
    from app.views.curves import OTHER

    # room for the window as saved (the offscreen screen is 800 pixels wide)
    monkeypatch.setattr(QScreen, "availableGeometry", lambda self: QRect(0, 0, 1400, 900))

    first = make_window(qtbot, tmp_path, demo="moons", knobs=())
    first.resize(1300, 800)
    qtbot.waitExposed(first)
    first.center_splitter.setSizes([350, 900])
    first.left_splitter.setSizes([420, 300])
    wanted = (first.center_splitter.sizes(), first.left_splitter.sizes())
    first.curves.add_rows([{"iteration": 1, "wall_time": 0.1, "gen_loss": 0.5}])
    first.curves.other.setCurrentText("gen_loss")  # the user's pick
    first.curves.smooth.setValue(0)
    first.curves.xaxis.setCurrentIndex(1)
    first.close()
    second = MainWindow(runs_root=tmp_path / "runs")
    qtbot.addWidget(second)
    second.controller.wait()
    second.show()
    qtbot.waitExposed(second)
    assert (second.center_splitter.sizes(), second.left_splitter.sizes()) == wanted
    assert second.curves.smooth.value() == 0 and second.curves.xaxis.currentIndex() == 1
    assert second.curves.picked == "gen_loss" and OTHER not in second.curves.items
    second.curves.add_rows([{"iteration": 1, "wall_time": 0.1, "gen_loss": 0.5}])
    assert second.curves.other.currentText() == "gen_loss" and OTHER in second.curves.items
    second.close()
