"""``ebm train``: train a model, writing a run folder; ``--resume`` continues one.

Runs unchanged under ``torchrun --nproc_per_node K -m ebm_engine train …``
(rank 0 writes the run folder, see :mod:`ebm_engine.distributed`). On a
divergence the run rolls back to its last good checkpoint with a lower
learning rate and longer chains (``--on-diverge rollback``, the default) or
stops (``--on-diverge stop``). SIGTERM (SLURM's time limit) and Ctrl-C stop
within one Langevin step and checkpoint the last complete iteration. The
command drives an :class:`ebm_engine.session.Session`, like the app.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from ebm_engine.errors import ConfigError


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ebm_engine.cli import lazy_epilog
    from ebm_engine.commands.methods import train_epilog

    p = sub.add_parser("train", help="train an EBM into a run folder",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    # The method and demo catalogue imports torch: built only when --help is shown.
    lazy_epilog(p, train_epilog)
    p.add_argument("--data", help="demo name (see `ebm demos`) or a file/folder path")
    p.add_argument("--preset", help="preset name (default: the demo's own)")
    p.add_argument("--config", help="a config.json to start from instead of a preset")
    p.add_argument("--method", help="learning method (see `ebm methods`; default: the "
                                    "demo's own, e.g. ml for digits, lbebm for crowd-prediction)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set sampler.step_size=0.01 (repeatable)")
    p.add_argument("--steps", type=int,
                   help="training iterations to run now (default: the config's "
                        "train.iterations; with --resume, up to that total, or as many again "
                        "once it is reached). Not Langevin steps: those are "
                        "--set sampler.n_steps=K")
    p.add_argument("--out", help="new run folder")
    p.add_argument("--resume", metavar="RUN",
                   help="continue this run (or zoo:NAME) from its latest checkpoint; with --out, "
                        "continue in that new folder and leave RUN as it is. RUN may also be "
                        "one checkpoint folder (RUN/checkpoints/iter_N) to go on from, with "
                        "--out NEW unless it is the latest")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar, and no lines on how the data was read or what runs "
                        "(warnings and errors still show)")
    p.add_argument("--on-diverge", choices=("rollback", "stop"), default="rollback",
                   help="after a divergence: roll back to the last good checkpoint with gentler "
                        "settings (default), or stop with exit status 1")
    p.add_argument("--rollback-lr-factor", type=float, default=0.5, metavar="F",
                   help="multiply train.lr by F at each rollback (default 0.5)")
    p.add_argument("--rollback-extra-steps", type=int, default=10, metavar="N",
                   help="add N Langevin steps (sampler.n_steps) at each rollback (default 10)")
    p.add_argument("--rollback-step-size-factor", type=float, default=1.0, metavar="F",
                   help="multiply sampler.step_size by F at each rollback (default 1)")
    p.add_argument("--max-rollbacks", type=int, default=3, metavar="N",
                   help="give up after N rollbacks (default 3)")
    # ebm sample's spelling of a method knob: said how to write it here, not "unrecognized"
    p.add_argument("--option", action="append", default=[], help=argparse.SUPPRESS)
    p.set_defaults(handler=run)


def parse_overrides(items: list[str]) -> list[tuple[str, str]]:
    out = []
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        out.append((key.strip(), value.strip()))
    return out


def _absolute_data(source: str | None) -> str | None:
    """A relative ``--data`` path that exists, made absolute: the run's config.json then
    finds its data from any folder (a resume or eval elsewhere, a cluster job).

    Parameters
    ----------
    source : str or None
        ``--data`` as typed: a demo name, a path, or nothing.

    Returns
    -------
    str or None
        ``source``, absolute where it is an existing relative path.
    """
    from ebm_engine.data import demos

    if not source or source in demos():
        return source
    path = Path(source).expanduser()
    if path.is_absolute() or not path.exists():
        return source  # the data check says what is wrong with a missing one
    return os.path.abspath(path)  # lexically: a linked data folder keeps the name it was given


def _absolute_pairs(cfg):
    """A ``data.options.pairs`` folder or ``labels`` file found from the current folder
    (not inside the data folder, where it is looked for first), made absolute as
    ``--data`` is."""
    for key, special, exists in (("pairs", ("", "labels"), Path.is_dir),
                                 ("labels", ("", "folders"), Path.is_file)):
        given = cfg.data.options.get(key)
        if not isinstance(given, str) or given in special:
            continue
        path = Path(given).expanduser()
        if path.is_absolute() or exists(Path(cfg.data.source) / path) or not exists(path):
            continue
        cfg = cfg.with_value(f"data.options.{key}", os.path.abspath(path))
    return cfg


def build_config(args: argparse.Namespace):
    from ebm_engine.config import RunConfig
    from ebm_engine.presets import config_for

    args.data = _absolute_data(args.data)
    overrides = parse_overrides(args.overrides)
    if args.config:
        if args.method:
            overrides.insert(0, ("train.method", args.method))
        from ebm_engine.learning.saved_config import fit_saved_options

        # a run's own config.json (every knob written out) is fitted as a resumed run's;
        # a hand-written file keeps refusing a typo
        cfg = RunConfig.load(args.config, lambda raw: fit_saved_options(raw, recorded_only=True))
        if args.data:
            cfg = cfg.with_value("data.source", args.data)
        cfg = cfg.with_values(overrides)
        return _absolute_pairs(cfg)
    if not args.data:
        raise ConfigError("train needs --data DEMO|PATH (or --config, or --resume RUN)")
    # --method picks the demo's preset for that method (digits-recovery …) if there is one.
    # A path with no --preset gets the preset of its data kind: say which (like
    # the "method on data" line: once per job, not with --quiet).
    say = not getattr(args, "quiet", False) and os.environ.get("RANK", "0") in ("", "0")
    return _absolute_pairs(config_for(args.data, args.preset, overrides, method=args.method,
                                      report=_say_preset if say else None))


def _say_preset(line: str) -> None:
    sys.stderr.write(f"ebm: {line} (choose another with --preset or --config)\n")


def run(args: argparse.Namespace) -> int:
    from ebm_engine import distributed

    if args.option:
        key = args.option[0].partition("=")[0]
        raise ConfigError(f"ebm train sets a method knob with --set train.options.{args.option[0]}"
                          f" (--option {key}=… is ebm sample's)")

    try:
        return _run(args)
    finally:
        distributed.teardown()


def _run_to_resume_in_place(checkpoint: Path) -> Path:
    """``--resume RUN/checkpoints/iter_N`` without ``--out``: the run itself, when
    that is its latest checkpoint; going on from an older one in place would drop
    the curves and checkpoints after it, so that needs a new folder."""
    from ebm_engine.runs.rundir import RunDir, run_folder_of

    owner = run_folder_of(checkpoint)
    if owner is None:
        raise ConfigError(f"{checkpoint} is a checkpoint outside a run folder: continue it "
                          "in a new folder with --out NEW")
    run = RunDir(owner)
    latest = run.latest_checkpoint()
    if latest is not None and latest.resolve() == Path(checkpoint).resolve():
        return run.path
    raise ConfigError(f"{Path(checkpoint).name} is not the latest checkpoint of {run.path} "
                      f"({latest.name if latest is not None else 'none'}): going on from it "
                      "in place would drop what came after it; continue it in a new folder "
                      "with --out NEW")


def _refuse_a_run_still_starting(source: Path) -> None:
    """Say who holds ``source`` where it is a folder another process is making into a
    run (its lock taken, no ``config.json`` yet): "not a run folder" read as if nothing
    were there. A run that has begun is refused by its lock, naming the holder too."""
    from ebm_engine.runs import run_lock
    from ebm_engine.runs.rundir import RunDir

    run = RunDir(source)
    if run.path.is_dir() and not run.exists():
        holder = run_lock.held_by(run.path)
        if holder is not None:
            raise ConfigError(run_lock.starting(run.path, holder))


def _policy(args: argparse.Namespace):
    from ebm_engine.learning.rollback import RollbackPolicy
    from ebm_engine.session import StopOnDivergence

    if getattr(args, "on_diverge", "stop") != "rollback":
        return StopOnDivergence()
    return RollbackPolicy(args.rollback_lr_factor, args.rollback_extra_steps,
                          args.rollback_step_size_factor, args.max_rollbacks)


def _run(args: argparse.Namespace) -> int:
    from ebm_engine import distributed
    from ebm_engine.session import Refused, Session

    policy = _policy(args)
    if args.resume:
        if args.data or args.config or args.preset or args.method:
            raise ConfigError("--resume RUN continues that run with its own data and method; "
                              "drop --data/--config/--preset/--method")
        from ebm_engine.errors import CheckpointError
        from ebm_engine.learning.saved_config import saved_config
        from ebm_engine.runs import zoo
        from ebm_engine.runs.fork import is_checkpoint_folder
        from ebm_engine.runs.rundir import RunDir

        source = zoo.resolve(args.resume)
        _refuse_a_run_still_starting(source)
        if is_checkpoint_folder(source) and not args.out:
            source = _run_to_resume_in_place(source)
            args.resume = str(source)
        if args.out:  # continue in a new folder; the source is only read
            from ebm_engine.data import check_recorded_source
            from ebm_engine.runs.fork import fork_run
            from ebm_engine.runs.rundir import run_folder_of

            if is_checkpoint_folder(source):  # before the fork: no new folder that cannot go on
                from ebm_engine.runs.checkpoint import load_checkpoint

                check_recorded_source(saved_config(load_checkpoint(source).state["config"]).data,
                    run_folder_of(source) or source)
            elif RunDir(source).exists():
                check_recorded_source(RunDir(source).read_config().data, source)

            if distributed.env_info().world_size > 1:
                raise ConfigError(f"--resume RUN --out NEW: fork in one process first "
                                  f"(ebm train --resume {args.resume} --out {args.out} "
                                  f"--steps 0), then resume {args.out} under torchrun")
            args.resume = str(fork_run(source, args.out).path)
        elif zoo.is_zoo(source):
            raise ConfigError(f"{args.resume} is a pretrained model (read-only): "
                              "continue it in a new folder with --out NEW")
        run = RunDir(args.resume)
        if not run.exists():
            raise CheckpointError(f"{run.path}: no checkpoint to resume from (not a run folder)")
        try:
            cfg = run.read_config()
        except ConfigError:  # damaged: the checkpoint's settings are the run's (resume says so)
            cfg = saved_config(run.load_latest()[0].state["config"])
        if distributed.env_info().world_size > 1:
            distributed.setup(cfg.train.device)
        if args.steps is not None and args.steps < 0:
            raise ConfigError(f"--steps must be >= 0, got {args.steps}")
        session = Session(cfg, on_diverge=policy)
        events = session.resume(args.resume, args.steps)
        first = next(events)  # builds the trainer; edits below go through the session
        for key, value in parse_overrides(args.overrides):
            result = session.edit(key, value)
            if isinstance(result, Refused):
                raise ConfigError(result.reason)
        return drive(session, _chain(first, events), quiet=args.quiet, given=args.overrides)
    if not args.out:
        raise ConfigError("train needs --out RUN (a new folder for the run)")
    from ebm_engine.runs.rundir import RunDir

    RunDir(args.out).check_new()  # on every rank: under torchrun rank 0 alone creates it
    cfg = build_config(args)
    if args.steps is not None:
        if args.steps < 0:
            raise ConfigError(f"--steps must be >= 0, got {args.steps}")
        cfg = cfg.with_value("train.iterations", args.steps)
    distributed.setup(cfg.train.device)
    session = Session(cfg, on_diverge=policy)
    return drive(session, session.train(args.out), quiet=args.quiet, given=args.overrides)


def _chain(first, rest):
    yield first
    yield from rest


def drive(session, events, quiet: bool = False, given: list[str] | None = None) -> int:
    """Iterate a session's events with a progress bar; Ctrl-C and SIGTERM stop
    it within one Langevin step and checkpoint the last complete iteration.
    ``given``: the user's ``--set KEY=VALUE`` items, named as suspects when the
    first iteration diverges.

    Returns the exit status: 0, 1 (diverged), 130 (Ctrl-C) or 143 (SIGTERM).
    """
    from tqdm import tqdm

    from ebm_engine import distributed
    from ebm_engine.learning.advice import divergence_advice, failed_iteration
    from ebm_engine.learning.events import (
        Diverged,
        Finished,
        KnobApplied,
        RolledBack,
        RunStarted,
        TrainStep,
        Warned,
    )

    main = distributed.is_main()
    bar = None
    signals: dict[int, bool] = {}
    previous = {}
    if threading.current_thread() is threading.main_thread():
        # The handlers only ask the session to stop, so the signal never lands
        # inside the training generator; a second Ctrl-C aborts at once.
        def on_signal(signum, frame):
            if signum == signal.SIGINT and signals.get(signum):
                raise KeyboardInterrupt
            signals[signum] = True
            session.stop()

        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_signal)
    finished = None
    started_at = None
    try:
        for event in events:
            if isinstance(event, RunStarted):
                started_at = event.iteration if started_at is None else started_at
                if main and not quiet:
                    sys.stderr.write(f"{event.method} on {event.source}: {event.device}, "
                                     f"precision {event.precision}\n")
                bar = tqdm(total=event.target, initial=event.iteration, unit="it",
                           disable=quiet or not main, dynamic_ncols=True, file=sys.stderr)
            elif isinstance(event, TrainStep):
                bar.update(event.iteration - bar.n)
                m = event.metrics
                bar.set_postfix(loss=f"{m['loss']:.3g}", e_data=f"{m['energy_data']:.3g}",
                                e_sample=f"{m['energy_sample']:.3g}", refresh=False)
            elif isinstance(event, Diverged) and main:
                bar.write(f"warning (iteration {failed_iteration(event.iteration)}): "
                          f"{event.message}", file=sys.stderr)
            elif isinstance(event, Warned) and main:
                bar.write(f"warning (iteration {event.iteration}): {event.message}",
                          file=sys.stderr)
            elif isinstance(event, KnobApplied) and main:
                bar.write(f"set {event.key} = {event.new!r} (was {event.old!r})", file=sys.stderr)
            elif isinstance(event, RolledBack):
                bar.n = event.iteration
                bar.refresh()
                if main:
                    what = ", ".join(f"{k} = {v[1]:g}" for k, v in event.changes.items())
                    bar.write(f"rolled back to iteration {event.iteration}: {what}",
                              file=sys.stderr)
            elif isinstance(event, Finished):
                finished = event
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if bar is not None:
            bar.close()
    trainer = session.trainer
    if trainer is not None:
        _dump_digest(trainer)
    iteration = finished.iteration if finished is not None else session.iteration
    # under torchrun a signal to one rank stops them all: the others stop too, unsignalled
    by_other_rank = (not signals and distributed.current().world_size > 1
                     and finished is not None and finished.reason == "stopped")
    if signals or by_other_rank:
        term = signal.SIGTERM in signals or by_other_rank
        gone = session.run_dir is not None and not (session.run_dir / "config.json").is_file()
        then = (f"the run folder {session.run_dir} is gone, so nothing was saved" if gone
                else "resume with --resume")
        if main:  # one line for the job, not one per rank
            sys.stderr.write(f"ebm: {'terminated' if term else 'stopped'} at iteration "
                             f"{iteration}; {then}\n")
        return 143 if term else 130
    where = f" in {session.run_dir}" if session.run_dir is not None else ""
    if finished is not None and finished.reason == "diverged":
        n = session.rollbacks
        tried = f" after {n} rollback{'s' if n != 1 else ''}" if n else ""
        advice = divergence_advice(session.config.train.method, iteration)
        if iteration == (started_at or 0) and given:  # a value set for this run: likelier
            advice += f", or check the values you set ({', '.join(given)})"
        sys.stderr.write(f"ebm: error: training diverged in iteration {failed_iteration(iteration)}"
                         f"{where}{tried}; {advice}{_from_where(session)}\n")
        return 1
    if finished is not None and finished.unsaved:  # the last checkpoint failed: no success
        if main:
            sys.stderr.write(f"ebm: error: training ended at iteration {iteration}{where}, but "
                             f"{finished.unsaved}\n")
        return 1
    if main:
        done = iteration - (started_at or 0)
        its = "iteration" if done == 1 else "iterations"
        print(f"trained {done} {its}{where}" if not started_at else
              f"trained {done} {its} (now at {iteration}){where}")
    return 0


def _from_where(session) -> str:
    """How to go on after a divergence: resume from the last good checkpoint, or,
    when none was written yet, train again (the folder has nothing to resume)."""
    if session.run_dir is None:
        return ""
    from ebm_engine.runs.rundir import RunDir

    latest = RunDir(session.run_dir).latest_checkpoint()
    if latest is None:
        every = session.config.train.checkpoint_every
        return (", then train again with --out NEW (no checkpoint was written before it"
                + (f": the first was due at iteration {every}" if every else "") + ")")
    return (f", then continue from its last checkpoint ({latest.name}) with --resume "
            f"{session.run_dir} --set KEY=VALUE")


def _dump_digest(trainer) -> None:
    """``EBM_DDP_DUMP=FOLDER``: each rank writes its weights digest (tests compare them)."""
    folder = os.environ.get("EBM_DDP_DUMP")
    if folder:
        from ebm_engine import distributed

        distributed.dump_digest(folder, trainer.method.networks(), trainer.iteration,
                                trainer.method.state_tensors())
