"""``ebm score``: per-item anomaly scores of a folder of images (or a demo)
under a trained model, written to CSV; with labels, the AUROC of held-out
classes."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ebm_engine.commands._chain_args import DEVICE_HELP
from ebm_engine.errors import ConfigError, DataError, ExportError

#: Items above which scoring says it has started (it may take minutes).
LONG_SCORING = 2000


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="anomaly scores of images (or a demo) under a trained model")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", help="run folder (its latest checkpoint) or zoo:NAME")
    src.add_argument("--checkpoint", help="checkpoint folder")
    p.add_argument("--data", required=True, help="folder of images, image file, or demo name")
    p.add_argument("--data-option", dest="data_options", action="append", default=[],
                   metavar="KEY=JSON", help="data.options entry, e.g. split=\"test\" (repeatable)")
    p.add_argument("--set", dest="sets", action="append", default=[],
                   metavar="data.options.KEY=VALUE",
                   help="the same as --data-option, spelt as in ebm train (repeatable)")
    p.add_argument("--anomalous-labels", metavar="L[,L…]",
                   help="labels that count as anomalies (a demo with labels): prints the AUROC")
    p.add_argument("--out", help="CSV file of scores (default: print the summary only)")
    p.add_argument("--batch-size", type=int, default=256,
                   help="items scored at once (default 256; lower it if memory is short)")
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.set_defaults(handler=run)


def _data_options(items: list[str]) -> dict:
    from ebm_engine.data.option_keys import DATA_SETTINGS

    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--data-option expects KEY=VALUE, got {item!r}")
        key, value = (part.strip() for part in item.split("=", 1))
        if key in DATA_SETTINGS:  # the data check would suggest data.KEY, which score cannot set
            raise ConfigError(f"--data-option {key}: a data setting, not a data option; "
                              "`ebm score` scores every item of --data at the model's size")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _as_option(item: str) -> str:
    """``data.options.KEY=VALUE`` (train's spelling) as ``KEY=VALUE``."""
    prefix = "data.options."
    if not item.startswith(prefix):
        raise ConfigError(f"--set {item}: ebm score takes only {prefix}KEY=VALUE (it scores "
                          "every item of --data with the model's own settings)")
    return item[len(prefix):]


def _anomalous_labels(text: str | None) -> list[int]:
    """``--anomalous-labels 3,9`` as ``[3, 9]`` (empty if not given)."""
    if not text:
        return []
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise ConfigError(f"--anomalous-labels expects integers like 9 or 3,9, got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from ebm_engine.atomic import write_text
    from ebm_engine.config import DataConfig
    from ebm_engine.data import load_dataset
    from ebm_engine.data.tokens import in_vocabulary
    from ebm_engine.learning.loading import load_model
    from ebm_engine.learning.scoring import auroc, score
    from ebm_engine.runs import zoo
    from ebm_engine.runs.rundir import check_not_the_runs

    if args.batch_size <= 0:
        raise ConfigError(f"--batch-size must be > 0, got {args.batch_size}")
    if args.out and not Path(args.out).expanduser().resolve().parent.is_dir():
        raise ConfigError(f"--out {args.out}: folder {Path(args.out).parent} does not exist")
    if args.out and Path(args.out).expanduser().is_dir():
        raise ConfigError(f"--out {args.out} is a folder; give a file name, e.g. "
                          f"{Path(args.out) / 'scores.csv'}")
    bad = _anomalous_labels(args.anomalous_labels)  # before the scoring pass, not after it
    loaded = load_model(args.run or args.checkpoint, args.device)
    if args.out:  # not the run's own metrics.csv or config.json
        check_not_the_runs(args.out, zoo.resolve(args.run) if args.run else args.checkpoint)
    spec = loaded.spec
    options = _data_options([*args.data_options, *(_as_option(s) for s in args.sets)])
    if spec.kind == "image":
        # the height: paired items (condition | output) are twice as wide as high
        data_cfg = DataConfig(source=args.data, image_size=spec.item_shape[-2],
                              grayscale=spec.item_shape[0] == 1, options=options)
    else:
        data_cfg = DataConfig(source=args.data, options=options)
    dataset = load_dataset(data_cfg)
    # a text model's ids name its own words: a file is read in the model's vocabulary
    dataset, recoded = in_vocabulary(dataset, spec.symbols)
    if recoded is not None:
        print(f"note: {recoded}", file=sys.stderr)
    if dataset.item_shape != tuple(spec.item_shape):
        raise DataError(f"{args.data}: items of shape {dataset.item_shape} do not fit the model's "
                        f"{tuple(spec.item_shape)}")
    known = dataset.meta.get("labels")
    if bad and (known is None or len(known) != len(dataset)):
        raise DataError(f"{args.data}: has no labels, so --anomalous-labels cannot apply")
    if bad and (unlabelled := int((np.asarray(known) < 0).sum())):  # semi-supervised: −1
        raise DataError(f"{args.data}: {unlabelled} of its {len(known)} items are unlabelled, "
                        "so --anomalous-labels would count them as normal whatever they show")
    torch.manual_seed(0)
    if len(dataset) > LONG_SCORING:  # 20 000 sentences took 107 s without a word
        print(f"scoring {len(dataset)} items of {args.data}…", file=sys.stderr, flush=True)
    # Batch by batch from the dataset as held (8-bit or memory-mapped): no float32 copy of it all.
    scores = np.concatenate([
        score(loaded.method, dataset.take(slice(start, start + args.batch_size)), args.batch_size)
        for start in range(0, len(dataset), args.batch_size)])
    names = dataset.meta.get("files") or [str(i) for i in range(len(scores))]
    labels = dataset.meta.get("labels")
    labels = np.asarray(labels) if labels is not None and len(labels) == len(scores) else None

    q = np.percentile(scores, [0, 25, 50, 75, 100])
    print(f"scored {len(scores)} items of {args.data} with {loaded.cfg.train.method} "
          f"({loaded.checkpoint.path}); higher = more anomalous")
    print(f"  min {q[0]:.4g}  q25 {q[1]:.4g}  median {q[2]:.4g}  q75 {q[3]:.4g}  max {q[4]:.4g}")
    if bad:
        is_bad = np.isin(labels, bad)
        print(f"  AUROC (labels {bad} anomalous, {int(is_bad.sum())} vs {int((~is_bad).sum())}): "
              f"{auroc(scores[~is_bad], scores[is_bad]):.4f}")
    if args.out:
        rows = ["item,score" + (",label" if labels is not None else "")]
        for i, (name, s) in enumerate(zip(names, scores, strict=True)):
            name = name.replace('"', '""')
            rows.append(f'"{name}",{s:.9g}' + (f",{int(labels[i])}" if labels is not None else ""))
        try:
            write_text(Path(args.out).expanduser(), "\n".join(rows) + "\n")  # as checked
        except OSError as exc:  # read-only or full: the scores above stay printed
            raise ExportError(f"cannot write {args.out}: {exc.strerror or exc}") from None
        print(f"wrote {args.out}")
    return 0
