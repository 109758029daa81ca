"""torchrun with 2 CPU processes (gloo): identical weights on both ranks, rank-sharded
chains, rank 0 alone writes the run folder, and the run resumes under torchrun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ebm_engine import distributed
from ebm_engine.runs.checkpoint import load_checkpoint
from ebm_engine.runs.rundir import RunDir

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(),
                                reason="torch built without torch.distributed")

TINY = ["--set", "model.width=16", "--set", "model.depth=2", "--set", "sampler.n_steps=3",
        "--set", "train.batch_size=32", "--set", "sampler.init=persistent",
        "--set", "sampler.buffer_size=256", "--set", "train.checkpoint_every=2",
        "--set", "train.sample_every=100", "--quiet"]


def torchrun(args: list[str], dump: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "EBM_DDP_DUMP": str(dump), "OMP_NUM_THREADS": "1"}
    env.pop("RANK", None)
    env.pop("WORLD_SIZE", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "ebm_engine", "train", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def dumps(folder: Path) -> list[dict]:
    return [json.loads((folder / f"rank{r}.json").read_text()) for r in (0, 1)]


def test_two_rank_gloo_run_agrees_and_resumes(tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = torchrun(["--data", "8gaussians", "--steps", "4", "--out", str(run), *TINY],
                     tmp_path / "dump1")
    assert first.returncode == 0, first.stderr[-3000:]
    r0, r1 = dumps(tmp_path / "dump1")
    assert (r0["world_size"], r1["world_size"]) == (2, 2)
    assert r0["iteration"] == r1["iteration"] == 4
    # Gradients are all-reduced: identical weights on both ranks ...
    assert r0["digest"] == r1["digest"]
    # ... while each rank runs its own chains (persistent buffer sharded by rank seed).
    assert r0["chains"] != r1["chains"]
    # Rank 0 wrote the run folder; what it saved is what both ranks hold.
    ckpt = load_checkpoint(RunDir(run).latest_checkpoint())
    assert ckpt.iteration == 4
    saved = distributed.tensors_digest(dict(ckpt.model))
    assert saved == r0["digest"]
    assert first.stdout.count("trained 4 iterations") == 1  # rank 0 reports, rank 1 is quiet
    assert [int(r["iteration"]) for r in RunDir(run).read_metrics()] == [1, 2, 3, 4]

    again = torchrun(["--resume", str(run), "--steps", "2", "--quiet"], tmp_path / "dump2")
    assert again.returncode == 0, again.stderr[-3000:]
    r0, r1 = dumps(tmp_path / "dump2")
    assert r0["iteration"] == r1["iteration"] == 6
    assert r0["digest"] == r1["digest"] != saved
    assert RunDir(run).latest_checkpoint().name == "iter_0000006"
    assert [int(r["iteration"]) for r in RunDir(run).read_metrics()] == list(range(1, 7))
    logged = [e["event"] for e in RunDir(run).read_events()]
    assert [e for e in logged if e not in ("checkpoint", "finished", "target")] == ["resumed"]
    # one line per run, written by rank 0 only
    assert logged.count("finished") == 2 and logged.count("target") == 2


def test_fce_ranks_start_from_one_fitted_flow(tmp_path: Path) -> None:
    """FCE fits its flow and log-normaliser to each rank's first batch (its own jitter):
    the ranks' log_z differed for the whole run until rank 0's start was broadcast."""
    run = tmp_path / "run"
    done = torchrun(["--data", "digits", "--method", "fce", "--steps", "2", "--out", str(run),
                     "--set", "model.width=4", "--set", "train.batch_size=8",
                     "--set", "train.options.flow_width=8", "--set", "train.options.flow_layers=2",
                     "--set", "train.sample_every=100", "--quiet"], tmp_path / "dump")
    assert done.returncode == 0, done.stderr[-3000:]
    r0, r1 = dumps(tmp_path / "dump")
    assert r0["iteration"] == r1["iteration"] == 2
    assert r0["digest"] == r1["digest"]


def test_helpers_are_no_ops_in_one_process() -> None:
    net = torch.nn.Linear(2, 1)
    net(torch.ones(1, 2)).sum().backward()
    before = net.weight.grad.clone()
    distributed.allreduce_grads({"energy": net})
    assert torch.equal(net.weight.grad, before)
    assert distributed.average_metrics({"loss": 1.5}) == {"loss": 1.5}
    assert distributed.current() == distributed.DistInfo(0, 1, 0) and distributed.is_main()
    assert distributed.rank_seed(7, 0) == 7 and distributed.rank_seed(7, 1) != 7
    (gathered,) = distributed.gather_tensors({"x": torch.ones(2)})
    assert gathered.keys() == {"x"} and torch.equal(gathered["x"], torch.ones(2))


def test_each_rank_gets_back_its_own_state_and_rank_0_s_where_it_saved_the_same() -> None:
    from ebm_engine.runs.checkpoint import rank_tensors, shared_tensors, with_rank_tensors

    ranks = [{"a": torch.zeros(3), "b": torch.tensor([1])},
             {"a": torch.ones(3), "b": torch.tensor([1])},
             {"a": torch.zeros(3), "b": torch.tensor([2])}]
    saved = with_rank_tensors({**ranks[0], "schedule.offset": torch.tensor([0])}, ranks)
    assert sorted(saved) == ["a", "b", "rank1.a", "rank2.b", "schedule.offset"]
    assert shared_tensors(saved).keys() == {"a", "b", "schedule.offset"}
    for r, own in enumerate(ranks):
        back = rank_tensors(saved, r)
        assert back.keys() == {"a", "b", "schedule.offset"}
        assert all(torch.equal(back[k], v) for k, v in own.items()), r
    # a method's key that merely starts with "rank" is no rank's
    assert shared_tensors({"ranked": torch.ones(1), "rank0.x": torch.ones(1)}).keys() == {
        "ranked", "rank0.x"}


@pytest.mark.parametrize("rank", [0, 1])
def test_a_rank_stopped_by_another_ranks_signal_says_so_once(rank, capsys, monkeypatch) -> None:
    """SIGTERM to rank 1 alone stopped both ranks, and rank 0 printed "trained 63
    iterations" with status 0; a signal to all ranks printed its line once per rank."""
    from types import SimpleNamespace

    from ebm_engine.commands.train import drive
    from ebm_engine.learning.events import Finished

    monkeypatch.setattr(distributed, "current", lambda: distributed.DistInfo(rank, 2, rank))
    monkeypatch.setattr(distributed, "is_main", lambda: rank == 0)
    session = SimpleNamespace(trainer=None, iteration=63, run_dir=None, stop=lambda: None)
    code = drive(session, iter([Finished(63, "stopped")]), quiet=True)
    err = capsys.readouterr().err
    assert code == 143
    assert err == ("ebm: terminated at iteration 63; resume with --resume\n" if rank == 0 else "")


def test_a_fork_under_torchrun_is_refused_with_the_command_that_makes_it(
        tmp_path, capsys, monkeypatch) -> None:
    """The refusal said "fork in one process first" but not how."""
    from ebm_engine.cli import main

    run, new = tmp_path / "run", tmp_path / "new"
    assert main(["train", "--data", "8gaussians", "--steps", "2", "--out", str(run),
                 "--set", "sampler.n_steps=2", "--quiet"]) == 0
    monkeypatch.setattr(distributed, "env_info", lambda: distributed.DistInfo(0, 2, 0))
    assert main(["train", "--resume", str(run), "--out", str(new), "--quiet"]) == 2
    said = capsys.readouterr().err
    command = said[said.index("(") + 1:said.index(")")]
    assert command == f"ebm train --resume {run} --out {new} --steps 0" and not new.exists()
    monkeypatch.undo()
    assert main(command.split()[1:] + ["--quiet"]) == 0  # the command it gives works
    assert RunDir(new).latest_checkpoint().name == "iter_0000002"


def test_a_resume_with_another_number_of_processes_says_the_batch_changed(tmp_path, capsys):
    """The effective batch is batch × processes, and the number was recorded nowhere:
    a run resumed with 1 process of the 2 it had silently halved its batch."""
    from ebm_engine.cli import main

    run = tmp_path / "run"
    args = ["--set", "sampler.n_steps=2", "--set", "train.batch_size=16", "--quiet"]
    assert main(["train", "--data", "8gaussians", "--steps", "2", "--out", str(run), *args]) == 0
    state_file = RunDir(run).latest_checkpoint() / "state.json"
    state = json.loads(state_file.read_text())
    assert state["processes"] == 1
    assert main(["train", "--resume", str(run), "--steps", "1", "--quiet"]) == 0
    assert "process" not in capsys.readouterr().err  # the same number: nothing to say
    state_file = RunDir(run).latest_checkpoint() / "state.json"
    state_file.write_text(json.dumps({**json.loads(state_file.read_text()), "processes": 2}))
    assert main(["train", "--resume", str(run), "--steps", "1", "--quiet"]) == 0
    assert ("trained so far with 2 processes (an effective batch of 32); it goes on with 1 (16)"
            in capsys.readouterr().err)


def test_a_rank_that_dies_mid_iteration_leaves_rank_0_a_checkpoint(tmp_path, monkeypatch):
    """A dead rank made rank 0's all-reduce raise a gloo RuntimeError: rank 0 crashed with
    a traceback and kept nothing since its last checkpoint. It keeps the last complete
    iteration now and says so in one line."""
    from ebm_engine.errors import CheckpointError
    from ebm_engine.learning.trainer import Trainer
    from ebm_engine.presets import config_for
    from ebm_engine.runs.rundir import RunDir

    cfg = config_for("8gaussians", overrides=[("model.width", 16), ("sampler.n_steps", 2),
                                              ("train.batch_size", 16),
                                              ("train.checkpoint_every", 0)])
    trainer = Trainer(cfg, tmp_path / "run")
    list(trainer.events(3))  # three iterations, no checkpoint yet
    trainer.dist = distributed.DistInfo(rank=0, world_size=2)

    def peer_gone(*_args, **_kwargs):
        raise RuntimeError("[gloo] Connection closed by peer")

    monkeypatch.setattr(distributed, "any_rank", lambda flag, device=None: flag)
    monkeypatch.setattr(distributed, "allreduce_grads", peer_gone)
    with pytest.raises(CheckpointError, match="another torchrun process failed during "
                                              "iteration 4 .*checkpoint at iteration 3 kept"):
        list(trainer.events(6))
    assert RunDir(tmp_path / "run").latest_checkpoint().name == "iter_0000003"
    # between iterations too: the stop check is the first exchange of the next one
    trainer = Trainer.resume(tmp_path / "run")
    list(trainer.events(4))
    trainer.dist = distributed.DistInfo(rank=0, world_size=2)
    monkeypatch.setattr(distributed, "any_rank", peer_gone)
    with pytest.raises(CheckpointError, match="iteration 5 .*checkpoint at iteration 4 kept"):
        list(trainer.events(6))
    assert RunDir(tmp_path / "run").latest_checkpoint().name == "iter_0000004"
    # running out of memory in the exchange is not a lost process: its own error
    monkeypatch.setattr(distributed, "any_rank", lambda flag, device=None: flag)

    def no_memory(*_args, **_kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(distributed, "allreduce_grads", no_memory)
    with pytest.raises(torch.OutOfMemoryError):
        list(trainer.events(6))



@pytest.fixture(scope="module")
def two_rank_runs(tmp_path_factory) -> Path:
    """Under torchrun with 2 processes: ``straight`` (4 iterations) and ``halves`` (2, then
    resumed for 2 more); ``dump_*``: each rank's digests at the end of each command."""
    root = tmp_path_factory.mktemp("ddp")
    for name, args in (("straight", ["--data", "8gaussians", "--steps", "4",
                                     "--out", str(root / "straight"), *TINY]),
                       ("half", ["--data", "8gaussians", "--steps", "2",
                                 "--out", str(root / "halves"), *TINY]),
                       ("rest", ["--resume", str(root / "halves"), "--steps", "2", "--quiet"])):
        done = torchrun(args, root / f"dump_{name}")
        assert done.returncode == 0, done.stderr[-3000:]
        (root / f"{name}.err").write_text(done.stderr)
    return root


def test_a_resume_with_the_same_number_of_processes_is_exact(two_rank_runs: Path) -> None:
    """The checkpoint held rank 0's chains and random streams only: after a resume rank 1
    started from rank 0's buffer with a fresh seed, so 2 + 2 iterations under torchrun
    ended with other weights than 4 straight. Each rank's state is saved now."""
    root = two_rank_runs
    assert "process" not in (root / "rest.err").read_text()  # the same number: nothing to say
    for a, b in zip(dumps(root / "dump_straight"), dumps(root / "dump_rest")):
        assert a["iteration"] == b["iteration"] == 4
        assert a["digest"] == b["digest"], f"rank {a['rank']}: weights"
        assert a["chains"] == b["chains"], f"rank {a['rank']}: persistent buffer"
    a, b = (load_checkpoint(RunDir(root / run).latest_checkpoint())
            for run in ("straight", "halves"))
    for part in ("model", "optimizer", "tensors"):
        left, right = getattr(a, part), getattr(b, part)
        assert left.keys() == right.keys(), part
        for key, value in left.items():
            assert torch.equal(value, right[key]), f"{part}: {key}"
    losses = [[r["loss"] for r in RunDir(root / run).read_metrics()]
              for run in ("straight", "halves")]
    assert losses[0] == losses[1]


def test_the_ranks_state_is_read_by_a_resume_alone(two_rank_runs: Path, tmp_path: Path,
                                                    capsys) -> None:
    """Rank 1's chains and streams ride in state.safetensors as rank1.*: sampling, an
    export, the zoo's stripping and halving, a resume with another number of processes,
    and one from a checkpoint without them (an older version's) all still work."""
    import shutil

    from safetensors.torch import save_file

    from benchmarks.build_zoo import halve_weights, strip_optimizer
    from ebm_engine.cli import main
    from ebm_engine.learning.loading import load_model
    from ebm_engine.runs.checkpoint import RANK_STATES, shared_tensors

    run = tmp_path / "run"
    shutil.copytree(two_rank_runs / "straight", run)
    folder = RunDir(run).latest_checkpoint()
    ckpt = load_checkpoint(folder)
    assert ckpt.state[RANK_STATES] == 2 and ckpt.state["processes"] == 2
    assert {"rank1.rng.trainer", "rank1.buffer.states", "rank1.buffer.ages"} <= ckpt.tensors.keys()
    assert "rank1.rng.torch" not in ckpt.tensors  # the same on both ranks: stored once
    assert not torch.equal(ckpt.tensors["buffer.states"], ckpt.tensors["rank1.buffer.states"])
    # sampling takes rank 0's chains
    loaded = load_model(run, device="cpu")
    assert torch.equal(loaded.method.buffer.states, ckpt.tensors["buffer.states"])
    # an export copies them (a copy resumed under torchrun is exact too)
    copy = tmp_path / "copy"
    assert main(["export", "--run", str(run), "--what", "checkpoint", "--out", str(copy)]) == 0
    assert load_checkpoint(copy).tensors.keys() == ckpt.tensors.keys()
    # the zoo: halved alike, or dropped with the optimiser state (no exact resume then)
    halved = tmp_path / "halved"
    shutil.copytree(folder, halved)
    halve_weights(halved)
    tensors = load_checkpoint(halved).tensors
    assert tensors["buffer.states"].dtype == tensors["rank1.buffer.states"].dtype == torch.float16
    strip_optimizer(halved)
    stripped = load_checkpoint(halved)
    assert RANK_STATES not in stripped.state
    assert stripped.tensors.keys() == shared_tensors(ckpt.tensors).keys()
    # one process goes on from rank 0's chains, and says the batch changed
    capsys.readouterr()
    assert main(["train", "--resume", str(copy), "--out", str(tmp_path / "one"), "--steps", "1",
                 "--quiet"]) == 0
    said = capsys.readouterr().err
    assert "it goes on with 1 (32)" in said and "process 0's persistent chains" in said
    # a checkpoint without the ranks' state (an older version's): as before, and said
    state = json.loads((folder / "state.json").read_text())
    del state[RANK_STATES]
    (folder / "state.json").write_text(json.dumps(state))
    save_file(shared_tensors(ckpt.tensors), str(folder / "state.safetensors"))
    # (checkpoints by the clock: the ranks' clocks differ, they checkpoint together)
    done = torchrun(["--resume", str(run), "--steps", "2", "--set", "train.checkpoint_minutes=1e-5",
                     "--quiet"], tmp_path / "dump")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "holds process 0's persistent chains and random streams only" in done.stderr
    r0, r1 = dumps(tmp_path / "dump")
    assert r0["iteration"] == 6 and r0["digest"] == r1["digest"] and r0["chains"] != r1["chains"]
    saved = [e["iteration"] for e in RunDir(run).read_events() if e["event"] == "checkpoint"]
    assert saved[-2:] == [5, 6]
    assert load_checkpoint(RunDir(run).latest_checkpoint()).state[RANK_STATES] == 2


def test_a_rollback_under_torchrun_gives_each_rank_its_own_state(two_rank_runs: Path,
                                                                 tmp_path: Path) -> None:
    """A divergence under torchrun: every rank reads the last good checkpoint (its own
    chains from it), and they go on in step, checkpointing together."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(two_rank_runs / "straight", run)
    done = torchrun(["--resume", str(run), "--steps", "4", "--set", "train.lr=100",
                     "--set", "sampler.step_size=1.0", "--rollback-lr-factor", "0.0005",
                     "--rollback-extra-steps", "5", "--quiet"], tmp_path / "dump")
    assert done.returncode == 0, done.stderr[-3000:]
    log = RunDir(run).read_events()
    rollback = next(e for e in log if e["event"] == "rollback")
    assert rollback["checkpoint"] == "iter_0000004" and rollback["iteration"] == 4
    r0, r1 = dumps(tmp_path / "dump")
    assert r0["iteration"] == r1["iteration"] == 8
    assert r0["digest"] == r1["digest"] and r0["chains"] != r1["chains"]
    ckpt = load_checkpoint(RunDir(run).latest_checkpoint())
    assert ckpt.iteration == 8 and ckpt.state["rank_states"] == 2
    assert distributed.tensors_digest(dict(ckpt.model)) == r0["digest"]
