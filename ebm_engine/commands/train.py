"""``ebm train``: train a model, writing a run folder; ``--resume`` continues one."""

from __future__ import annotations

import argparse
import sys

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
    if args.method:
        overrides.insert(0, ("train.method", args.method))
    if args.config:
        cfg = RunConfig.load(args.config)
        if args.data:
            cfg = cfg.with_value("data.source", args.data)
        for key, value in overrides:
            cfg = cfg.with_value(key, value)
        return cfg
    if not args.data:
        raise ConfigError("train needs --data DEMO|PATH (or --config, or --resume RUN)")
    return config_for(args.data, args.preset, overrides)


def run(args: argparse.Namespace) -> int:
    from ebm_engine.learning.trainer import Trainer

    if args.resume:
        if args.out or args.data or args.config or args.preset:
            raise ConfigError("--resume RUN continues that run; drop --out/--data/--config/--preset")
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
        trainer = Trainer(cfg, args.out)
        target = cfg.train.iterations
    return drive(trainer, target, quiet=args.quiet)


def drive(trainer, target: int, quiet: bool = False) -> int:
    """Iterate the trainer's events with a progress bar; Ctrl-C checkpoints and stops."""
    from tqdm import tqdm

    from ebm_engine.learning.events import Diverged, Finished, KnobApplied, TrainStep, Warned

    bar = tqdm(total=target, initial=trainer.iteration, unit="it", disable=quiet,
               dynamic_ncols=True, file=sys.stderr)
    finished = None
    events = trainer.events(target)
    try:
        for event in events:
            if isinstance(event, TrainStep):
                bar.update(1)
                m = event.metrics
                bar.set_postfix(loss=f"{m['loss']:.3g}", e_data=f"{m['energy_data']:.3g}",
                                e_sample=f"{m['energy_sample']:.3g}", refresh=False)
            elif isinstance(event, (Warned, Diverged)):
                bar.write(f"warning (iteration {event.iteration}): {event.message}", file=sys.stderr)
            elif isinstance(event, KnobApplied):
                bar.write(f"set {event.key} = {event.new!r} (was {event.old!r})", file=sys.stderr)
            elif isinstance(event, Finished):
                finished = event
    except KeyboardInterrupt:
        trainer.stop()
        for event in events:  # let the loop write its final checkpoint
            if isinstance(event, Finished):
                finished = event
        bar.close()
        sys.stderr.write(f"ebm: stopped at iteration {trainer.iteration}; resume with --resume\n")
        return 130
    bar.close()
    where = f" in {trainer.run.path}" if trainer.run is not None else ""
    if finished is not None and finished.reason == "diverged":
        sys.stderr.write(f"ebm: error: training diverged at iteration {finished.iteration}{where}; "
                         "lower train.lr or sampler.step_size\n")
        return 1
    print(f"trained {trainer.iteration} iterations{where}")
    return 0
