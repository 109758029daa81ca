"""``ebm export``: files from a run folder (samples grid, checkpoint copy, metrics)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ebm_engine.errors import CheckpointError, ConfigError, ExportError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export the latest samples, a checkpoint copy or the metrics")
    p.add_argument("--run", required=True, help="run folder (or zoo:NAME)")
    p.add_argument("--what", choices=("samples", "checkpoint", "metrics", "config"),
                   default="samples",
                   help="the run's latest saved samples (default; for new ones: ebm sample), "
                        "a copy of its latest checkpoint, its metrics.csv or its config.json")
    p.add_argument("--out", required=True,
                   help="output file (samples: by extension); checkpoint: a new folder or a "
                        ".zip file; an existing folder takes the file (or checkpoint) by its "
                        "own name")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ebm_engine import atomic
    from ebm_engine.export.samples import check_target, export_samples, needs_chain
    from ebm_engine.learning.loading import readable_checkpoint
    from ebm_engine.runs import zoo
    from ebm_engine.runs.rundir import RunDir, check_not_the_runs

    named = args.run
    pretrained = zoo.is_zoo(named)
    args.run = str(zoo.resolve(args.run))  # zoo:NAME is a run folder too
    run_dir = RunDir(args.run)
    if not run_dir.exists():
        raise CheckpointError(f"{args.run}: not a run folder (no config.json)")
    if args.what == "checkpoint":
        # the newest that reads (a damaged latest is passed over, and said), as sample,
        # eval and resume take it
        src = readable_checkpoint(args.run)
    elif args.what in ("metrics", "config"):
        src = run_dir.metrics_path if args.what == "metrics" else run_dir.config_path
    else:
        src = None
    out = _target(args.out, args.what, src.name if src is not None else "")
    check_not_the_runs(out, run_dir.path)  # metrics.csv replaced by a config, a checkpoint nested
    if args.what == "samples":
        snap = run_dir.read_samples()
        # a format of its kind, not x.png/ (without saved samples, no kind to check against)
        check_target(snap["kind"] if snap is not None else "", args.out)
        preview = run_dir.path / zoo.SAMPLES_FILE
        if snap is None and pretrained and out.suffix.lower() == ".png" and preview.is_file():
            atomic.write_bytes(out, preview.read_bytes())  # what it ships: its picture
            print(f"wrote {out} (the pretrained model's preview picture; new draws: "
                  f"ebm sample --run {named} --out {args.out})")
            return 0
        if snap is None and pretrained:
            raise ConfigError(f"{named}: a pretrained model ships only a preview picture "
                              f"({zoo.SAMPLES_FILE}), not saved samples; draw new ones with "
                              f"ebm sample --run {named} --out {args.out}")
        if snap is None:
            raise ConfigError(f"{args.run}: no samples yet (samples/latest.npz)")
        if needs_chain(out) and snap["kind"] != "video":  # an animation of one frame
            raise ConfigError(f"{args.run}: the saved samples are the chains' last states, "
                              f"not their steps, so {out.suffix} would be one still frame; "
                              f"for an animation of chains: ebm sample --run {named} "
                              f"--out {args.out}")
        path = export_samples(snap["samples"], snap["kind"], snap["value_range"], out,
                              energy=snap["energy"], symbols=_symbols(args.run, snap["kind"]),
                              extras=snap.get("display"), iteration=snap["iteration"])
        if path.suffix.lower() == ".png" and "reconstructed" in (snap.get("display") or {}):
            print(f"wrote {path} (rows: source | translated | reconstructed)")
            return 0
    elif args.what == "checkpoint":
        from ebm_engine.export.checkpoint import copy_checkpoint

        path = copy_checkpoint(src, out, run=run_dir.path)  # its latest, if pruned meanwhile
        if out.name == src.name and path.is_dir():  # named after src: the one copied, said
            path = _named_as_copied(path)
    else:
        if not src.is_file() and pretrained:
            raise ConfigError(f"{named}: a pretrained model ships without its training "
                              f"history ({src.name}); its config.json is there: --what config")
        if not src.is_file():
            raise ConfigError(f"{args.run}: no {src.name} yet")
        try:
            atomic.write_bytes(out, src.read_bytes())
        except OSError as exc:
            raise ExportError(f"cannot write {out}: {exc.strerror or exc}") from None
        path = out
    print(f"wrote {path}")
    return 0


def _target(out: str, what: str, name: str) -> Path:
    """The path ``--out`` names: an existing folder takes a metrics.csv, config.json or
    checkpoint copy by its own ``name``, as ``cp`` would (samples: see ``check_target``)."""
    path = Path(out).expanduser()
    if what == "samples":
        return path
    if path.is_dir():
        return path / name
    # Path() drops a trailing slash; a checkpoint copy is a new folder anyway
    if out.endswith(("/", os.sep)) and what != "checkpoint":
        raise ExportError(f"cannot write in {out}: no such folder")
    return path


def _named_as_copied(path: Path) -> Path:
    """``path``, a checkpoint copy named after the run's latest checkpoint, renamed after
    the one it holds where training pruned that one meanwhile and a newer was copied."""
    import json

    try:
        iteration = int(json.loads((path / "state.json").read_text(encoding="utf-8"))
                        ["iteration"])
    except (OSError, ValueError, KeyError, TypeError):
        return path
    named = path.with_name(f"iter_{iteration:07d}")
    if named == path or named.exists():
        return path
    os.replace(path, named)
    return named


def _symbols(run: str, kind: str):
    """The vocabulary of a text/molecule run, from its latest checkpoint's ``state.json``."""
    import json

    from ebm_engine.data.tokens import TOKEN_KINDS
    from ebm_engine.learning.loading import find_checkpoint
    from ebm_engine.methods.base import DataSpec

    if kind not in TOKEN_KINDS:
        return None
    try:
        state = json.loads((find_checkpoint(run) / "state.json").read_text(encoding="utf-8"))
        return DataSpec.from_dict(state["data"]).symbols
    except (OSError, ValueError, KeyError, TypeError, CheckpointError):
        raise CheckpointError(f"{run}: no readable checkpoint holds the vocabulary "
                              "that decodes these samples") from None

