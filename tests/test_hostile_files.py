"""Hostile files: pickle payloads in checkpoints are refused unexecuted, bad configs are
refused naming the field, and a fuzz corpus of dataset files gives typed errors through
every reader (engine, CLI and app paths) with bounded time and memory."""

from __future__ import annotations

import json
import resource
import signal
import tracemalloc
from contextlib import contextmanager
from pathlib import Path

import pytest
from make_fuzz_corpus import build_corpus, pickle_payload

from ebm_engine.cli import main
from ebm_engine.config import DataConfig, RunConfig
from ebm_engine.data import load_dataset, readers
from ebm_engine.errors import CheckpointError, ConfigError, DataError
from ebm_engine.learning.loading import load_model
from ebm_engine.learning.trainer import Trainer
from ebm_engine.runs.checkpoint import load_checkpoint

# Per file, on an idle 2-core machine a reader answers in well under a second; the
# bound is generous for a loaded machine but far below a hang.
SECONDS_PER_FILE = 20
# Python-level allocations (numpy included) while reading one hostile file.
TRACED_BYTES_PER_FILE = 256 * 1024**2
# Peak resident memory may not grow by more than this over the whole corpus.
RSS_GROWTH = 512 * 1024**2

TINY_CFG = {"model": {"width": 16, "depth": 2}, "sampler": {"n_steps": 2},
            "train": {"batch_size": 16, "iterations": 1, "checkpoint_every": 0}}


@contextmanager
def time_bound(seconds: float, what: str):
    def on_alarm(signum, frame):
        raise TimeoutError(f"{what}: no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    marker = folder / "PAYLOAD_RAN"
    return build_corpus(folder / "corpus", marker), marker


# --------------------------------------------------------------------------- datasets


def test_corpus_covers_every_reader(corpus) -> None:
    cases, _ = corpus
    exts = {c.path.suffix.lower() for c in cases if c.path.is_file()}
    for info in readers():
        wanted = [e for e in info.extensions if e]
        assert all(e in exts for e in wanted), f"reader {info.name} is not fuzzed"
    assert any(c.options.get("reader") == "video-frames" for c in cases)
    assert any(c.path.is_dir() and not c.options for c in cases)  # image-folder


def test_fuzz_corpus_gives_typed_errors_within_bounds(corpus) -> None:
    cases, marker = corpus
    rss_before = peak_rss()
    untyped, accepted = [], []
    tracemalloc.start()
    try:
        for case in cases:
            tracemalloc.reset_peak()
            cfg = DataConfig(source=str(case.path), options=dict(case.options))
            with time_bound(SECONDS_PER_FILE, str(case.path)):
                try:
                    load_dataset(cfg)
                    accepted.append(f"{case.path.name} ({case.what})")
                except DataError as exc:
                    msg = str(exc)
                    if not msg or "\n" in msg:
                        untyped.append(f"{case.path.name} ({case.what}): not one line: {msg!r}")
                except TimeoutError:
                    raise
                except Exception as exc:  # noqa: BLE001 - this is what the test hunts
                    untyped.append(f"{case.path.name} ({case.what}): {type(exc).__name__}: {exc}")
            _, peak = tracemalloc.get_traced_memory()
            assert peak < TRACED_BYTES_PER_FILE, f"{case.path.name}: allocated {peak / 1e6:.0f} MB"
    finally:
        tracemalloc.stop()
    assert not untyped, "untyped or multi-line errors:\n" + "\n".join(untyped)
    assert not accepted, "hostile files accepted:\n" + "\n".join(accepted)
    assert peak_rss() - rss_before < RSS_GROWTH
    assert not marker.exists(), "a pickled payload was executed"


def test_fuzz_corpus_through_the_cli(corpus, tmp_path: Path, capsys) -> None:
    cases, marker = corpus
    for case in cases:
        out = tmp_path / f"run-{case.path.name}"
        args = ["train", "--data", str(case.path), "--out", str(out), "--steps", "1", "--quiet"]
        if case.options:
            args += ["--set", f"data.options={json.dumps(case.options)}"]
        with time_bound(SECONDS_PER_FILE, str(case.path)):
            code = main(args)
        err = capsys.readouterr().err.strip()
        assert code == 2, f"{case.path.name}: exit {code}: {err}"
        assert len(err.splitlines()) == 1 and err.startswith("ebm: error: "), err
        assert not (out / "config.json").exists()  # no run folder for unreadable data
    assert not marker.exists()


@pytest.mark.app
def test_fuzz_corpus_through_the_app_controller(corpus, qtbot) -> None:
    """The app loads data in :class:`app.controller.Controller`'s worker; it must report
    each hostile file as one user-facing sentence, never an internal error."""
    controller_mod = pytest.importorskip("app.controller")
    cases, marker = corpus
    controller = controller_mod.Controller()
    try:
        # One file per reader and kind of damage keeps this quick.
        picked = {}
        for case in cases:
            picked.setdefault((case.path.suffix, case.what), case)
        for case in picked.values():
            cfg = RunConfig.from_dict({**TINY_CFG, "data": {"source": str(case.path),
                                                            "options": case.options}})
            errors: list[str] = []
            controller.sigError.connect(errors.append)
            assert controller.set_config(cfg)
            with qtbot.waitSignal(controller.sigError, timeout=SECONDS_PER_FILE * 1000):
                controller.train(None)
            controller.sigError.disconnect(errors.append)
            controller.wait()
            assert len(errors) == 1, f"{case.path.name}: {errors}"
            assert not errors[0].startswith("Internal error"), f"{case.path.name}: {errors[0]}"
            assert "\n" not in errors[0]
    finally:
        assert controller.shutdown()
    assert not marker.exists()


# --------------------------------------------------------------------------- checkpoints


@pytest.fixture
def trained_run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    trainer = Trainer(RunConfig.from_dict(TINY_CFG), run)
    list(trainer.events())
    return run


@pytest.mark.parametrize("member", ["model.safetensors", "optimizer.safetensors",
                                    "state.safetensors"])
def test_pickle_payload_in_checkpoint_is_refused_unexecuted(trained_run: Path, tmp_path: Path,
                                                            member: str, capsys) -> None:
    marker = tmp_path / "PAYLOAD_RAN"
    ckpt = next((trained_run / "checkpoints").glob("iter_*"))
    (ckpt / member).write_bytes(pickle_payload(marker))

    with pytest.raises(CheckpointError, match=member):
        load_checkpoint(ckpt)
    with pytest.raises(CheckpointError):
        Trainer.resume(trained_run)
    with pytest.raises(CheckpointError):
        load_model(trained_run)
    assert main(["train", "--resume", str(trained_run), "--steps", "1", "--quiet"]) == 2
    assert main(["sample", "--run", str(trained_run), "--n", "4",
                 "--out", str(tmp_path / "s.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("ebm: error: ") for line in err)
    assert not marker.exists(), "the pickled payload was executed"


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".ckpt"])
def test_pickle_checkpoint_files_are_refused_unopened(tmp_path: Path, suffix: str) -> None:
    marker = tmp_path / "PAYLOAD_RAN"
    bad = tmp_path / f"model{suffix}"
    bad.write_bytes(pickle_payload(marker))
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(bad)
    with pytest.raises(CheckpointError):
        load_model(bad)
    assert main(["sample", "--run", str(bad), "--n", "4", "--out", str(tmp_path / "s.png")]) == 2
    assert not marker.exists()


def test_state_json_is_never_code(trained_run: Path) -> None:
    ckpt = next((trained_run / "checkpoints").glob("iter_*"))
    (ckpt / "state.json").write_text('{"format": "__import__(\'os\').system(\'true\')"}')
    with pytest.raises(CheckpointError, match="not an EBM Studio checkpoint"):
        load_checkpoint(ckpt)


# --------------------------------------------------------------------------- configs


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"sampler": {"step_sise": 0.1}}, "sampler.step_sise"),
        ({"trainer": {}}, "trainer"),
        ({"model": {"width": "wide"}}, "model.width"),
        ({"sampler": {"step_size": "fast"}}, "sampler.step_size"),
        ({"train": {"lr": True}}, "train.lr"),
        ({"sampler": {"clamp": "yes"}}, "sampler.clamp"),
        ({"data": {"options": [1, 2]}}, "data.options"),
        ({"model": [1, 2, 3]}, "model"),
        ({"train": {"batch_size": 1.5}}, "train.batch_size"),
        ({"sampler": {"step_size": -1}}, "sampler.step_size"),
    ],
)
def test_bad_config_is_refused_naming_the_field(tmp_path: Path, capsys, patch: dict,
                                                field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        RunConfig.from_dict(patch)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(patch))
    code = main(["train", "--config", str(path), "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("ebm: error: ") and field in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("text", ["", "{not json", "[1, 2]", "null", '"config"'])
def test_config_that_is_not_an_object_is_refused(tmp_path: Path, capsys, text: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(text)
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("ebm: error: ")
