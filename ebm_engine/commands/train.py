"""``ebm train``: train a model, writing a run folder; ``--resume`` continues one.

Runs unchanged under ``torchrun --nproc_per_node K -m ebm_engine train …``
(rank 0 writes the run folder, see :mod:`ebm_engine.distributed`). On a
divergence the run rolls back to its last good checkpoint with a lower
learning rate and longer chains (``--on-diverge rollback``, the default) or
stops (``--on-diverge stop``). SIGTERM (SLURM's time limit) checkpoints and
stops like Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from ebm_engine.errors import ConfigError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train an EBM into a run folder")
    p.add_argument("--data", help="demo name (see `ebm demos`) or a file/folder path")
    p.add_argument("--preset", help="preset name (default: the demo's own)")
    p.add_argument("--config", help="a config.json to start from instead of a preset")
    p.add_argument("--method", help="learning method (default from the preset: ml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set sampler.step_size=0.01 (repeatable)")
    p.add_argument("--steps", type=int, help="iterations to run now (default: the config's)")
    p.add_argument("--out", help="new run folder")
    p.add_argument("--resume", metavar="RUN", help="continue this run from its latest checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
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
    p.set_defaults(handler=run)


def parse_overrides(items: list[str]) -> list[tuple[str, str]]:
    out = []
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        out.append((key.strip(), value.strip()))
    return out


def build_config(args: argparse.Namespace):
    from ebm_engine.config import RunConfig
    from ebm_engine.presets import config_for

    overrides = parse_overrides(args.overrides)
    if args.config:
        if args.method:
            overrides.insert(0, ("train.method", args.method))
        cfg = RunConfig.load(args.config)
        if args.data:
            cfg = cfg.with_value("data.source", args.data)
        for key, value in overrides:
            cfg = cfg.with_value(key, value)
        return cfg
    if not args.data:
        raise ConfigError("train needs --data DEMO|PATH (or --config, or --resume RUN)")
    # --method picks the demo's preset for that method (digits-recovery …) if there is one.
    return config_for(args.data, args.preset, overrides, method=args.method)


def run(args: argparse.Namespace) -> int:
    from ebm_engine import distributed

    try:
        return _run(args)
    finally:
        distributed.teardown()


def _policy(args: argparse.Namespace):
    from ebm_engine.learning.rollback import RollbackPolicy

    if getattr(args, "on_diverge", "stop") != "rollback":
        return None
    return RollbackPolicy(args.rollback_lr_factor, args.rollback_extra_steps,
                          args.rollback_step_size_factor, args.max_rollbacks)


def _run(args: argparse.Namespace) -> int:
    from ebm_engine import distributed
    from ebm_engine.learning.trainer import Trainer

    policy = _policy(args)
    if args.resume:
        if args.out or args.data or args.config or args.preset:
            raise ConfigError("--resume RUN continues that run; drop --out/--data/--config/--preset")
        if distributed.env_info().world_size > 1:
            from ebm_engine.runs.rundir import RunDir

            distributed.setup(RunDir(args.resume).read_config().train.device)
        trainer = Trainer.resume(args.resume)
        for key, value in parse_overrides(args.overrides):
            from ebm_engine.learning.events import KnobEdit

            trainer.apply(KnobEdit(key, value))
        target = trainer.iteration + args.steps if args.steps is not None else trainer.cfg.train.iterations
    else:
        if not args.out:
            raise ConfigError("train needs --out RUN (a new folder for the run)")
        cfg = build_config(args)
        if args.steps is not None:
            if args.steps < 0:
                raise ConfigError(f"--steps must be >= 0, got {args.steps}")
            cfg = cfg.with_value("train.iterations", args.steps)
        distributed.setup(cfg.train.device)
        trainer = Trainer(cfg, args.out)
        target = cfg.train.iterations
    return drive(trainer, target, quiet=args.quiet, policy=policy)


def drive(trainer, target: int, quiet: bool = False, policy=None) -> int:
    """Iterate the trainer's events with a progress bar; Ctrl-C checkpoints and stops.

    With a :class:`~ebm_engine.learning.rollback.RollbackPolicy`, a diverged
    run rolls back to its last good checkpoint and continues (at most
    ``policy.max_rollbacks`` times). SIGTERM stops like Ctrl-C (exit 143).
    """
    from tqdm import tqdm

    from ebm_engine import distributed

    main = distributed.is_main()
    bar = tqdm(total=target, initial=trainer.iteration, unit="it", disable=quiet or not main,
               dynamic_ncols=True, file=sys.stderr)
    current = [trainer]
    terminated = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        def on_term(signum, frame):  # checkpoint and stop at the next iteration
            terminated.set()
            current[0].stop()

        previous = signal.signal(signal.SIGTERM, on_term)
    try:
        code, trainer = _drive_loop(current, target, bar, policy, main)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if code is None and terminated.is_set():
        bar.close()
        sys.stderr.write(f"ebm: terminated at iteration {trainer.iteration}; resume with --resume\n")
        code = 143
    _dump_digest(trainer)
    if code is not None:
        return code
    where = f" in {trainer.run.path}" if trainer.run is not None else ""
    if main:
        print(f"trained {trainer.iteration} iterations{where}")
    return 0


def _dump_digest(trainer) -> None:
    """``EBM_DDP_DUMP=FOLDER``: each rank writes its weights digest (tests compare them)."""
    folder = os.environ.get("EBM_DDP_DUMP")
    if folder:
        from ebm_engine import distributed

        distributed.dump_digest(folder, trainer.method.networks(), trainer.iteration,
                                trainer.method.state_tensors())


def _drive_loop(current: list, target: int, bar, policy, main: bool):
    """Run ``current[0]`` (replaced on rollback); return (exit code or None, trainer)."""
    rollbacks = 0
    while True:
        trainer = current[0]
        code, finished, problem = _drive_once(trainer, target, bar, main)
        if code is not None:
            return code, trainer
        if finished is None or finished.reason != "diverged":
            return None, trainer
        if policy is None or rollbacks >= policy.max_rollbacks:
            bar.close()
            where = f" in {trainer.run.path}" if trainer.run is not None else ""
            tried = f" after {rollbacks} rollbacks" if rollbacks else ""
            sys.stderr.write(f"ebm: error: training diverged at iteration {finished.iteration}{where}"
                             f"{tried}; lower train.lr or sampler.step_size\n")
            return 1, trainer
        from ebm_engine.learning.rollback import roll_back

        rollbacks += 1
        trainer = roll_back(trainer, policy, problem or "")
        current[0] = trainer
        bar.n = trainer.iteration
        bar.refresh()
        if main:
            bar.write(f"rolled back to iteration {trainer.iteration} (rollback {rollbacks}/"
                      f"{policy.max_rollbacks}): train.lr = {trainer.cfg.train.lr:g}, "
                      f"sampler.n_steps = {trainer.cfg.sampler.n_steps}", file=sys.stderr)


def _drive_once(trainer, target: int, bar, main: bool):
    """One pass of ``trainer.events``; return (exit code or None, Finished, last divergence)."""
    from ebm_engine.learning.events import Diverged, Finished, KnobApplied, TrainStep, Warned

    finished = None
    problem = None
    events = trainer.events(target)
    try:
        for event in events:
            if isinstance(event, TrainStep):
                bar.update(1)
                m = event.metrics
                bar.set_postfix(loss=f"{m['loss']:.3g}", e_data=f"{m['energy_data']:.3g}",
                                e_sample=f"{m['energy_sample']:.3g}", refresh=False)
            elif isinstance(event, (Warned, Diverged)):
                if isinstance(event, Diverged):
                    problem = event.message
                if main:
                    bar.write(f"warning (iteration {event.iteration}): {event.message}",
                              file=sys.stderr)
            elif isinstance(event, KnobApplied):
                if main:
                    bar.write(f"set {event.key} = {event.new!r} (was {event.old!r})",
                              file=sys.stderr)
            elif isinstance(event, Finished):
                finished = event
    except KeyboardInterrupt:
        trainer.stop()
        for event in events:  # let the loop write its final checkpoint
            if isinstance(event, Finished):
                finished = event
        bar.close()
        sys.stderr.write(f"ebm: stopped at iteration {trainer.iteration}; resume with --resume\n")
        return 130, finished, problem
    if finished is None or finished.reason != "diverged":
        bar.close()
    return None, finished, problem
