"""``ebm sample``: draw samples from a trained model into a file."""

from __future__ import annotations

import argparse
import math
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from ebm_engine.commands._chain_args import DEVICE_HELP, add_chain_arguments
from ebm_engine.errors import ConfigError, ExportError

if TYPE_CHECKING:
    import numpy as np

    from ebm_engine.learning.loading import LoadedModel

#: Animation frames wider than this are refused (players and GIF encoders choke).
MAX_ANIMATION_WIDTH = 8192
#: A draw with more than this many times the model's own Langevin steps says so first.
LONG_CHAIN = 20


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="sample a trained model to PNG/GIF/MP4/NPZ (and 3D formats)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", help="run folder (its latest checkpoint) or zoo:NAME")
    src.add_argument("--checkpoint", help="checkpoint folder")
    p.add_argument("--n", type=int, default=16, help="number of samples")
    add_chain_arguments(p)
    p.add_argument("--record-every", type=int, default=0,
                   help="record the chain every K steps (0, the default: steps/20 for "
                        "GIF/MP4, otherwise none: a .npz chain then holds the final state)")
    p.add_argument("--scale", type=int, metavar="K",
                   help="repeat each pixel K times in image and video grids (.png .gif .mp4; "
                        "default: PNG cells of at least 64 px, animations at least 256 px wide)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a method knob that sampling reads (train.options.KEY; JSON value; "
                        "`ebm methods NAME` says which), e.g. --option aspect=2 (patchwise: "
                        "twice as wide)")
    p.add_argument("--condition", metavar="PICTURE|LABEL",
                   help="apply a conditional model to your own picture (inpainting, saliency, "
                        "translation) or a class label (class-conditional); see "
                        "ebm_engine.sampling.user_condition")
    p.add_argument("--mask", help="with --condition, inpainting: white = pixels to fill, the "
                                  "picture's size or the model's (default: a random box)")
    p.add_argument("--direction", choices=("ab", "ba"),
                   help="with --condition, translation: A→B (default) or B→A")
    p.add_argument("--invert", action="store_true",
                   help="with --condition: invert the picture first (dark digits on white)")
    p.add_argument("--each", action="store_true",
                   help="3D samples (.ply .stl .obj): one file per sample, OUT_000.ply … "
                        "(default: all in one file, side by side)")
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--out", required=True,
                   help="output file: .png .gif .mp4 .npz (.stl .obj .ply for 3D, .xyz for "
                        "point clouds; .txt for text; .smi .sdf for molecules; "
                        ".csv .json for trajectories)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ebm_engine import precision
    from ebm_engine.export.samples import check_target, export_samples, needs_chain
    from ebm_engine.learning.loading import load_model, persistent_chains
    from ebm_engine.runs import zoo
    from ebm_engine.runs.rundir import check_not_the_runs

    if args.n <= 0:
        raise ConfigError(f"--n must be > 0, got {args.n}")
    if args.steps is not None and args.steps < 0:
        raise ConfigError(f"--steps must be >= 0, got {args.steps}")
    if args.scale is not None and args.scale < 1:
        raise ConfigError(f"--scale must be >= 1 (pixels per sample pixel), got {args.scale}")
    if args.record_every < 0:
        raise ConfigError(f"--record-every must be >= 0 (0: the default), got {args.record_every}")
    if args.condition is None and (args.mask or args.direction or args.invert):
        raise ConfigError("--mask, --direction and --invert go with --condition")
    if Path(args.out).is_symlink():  # written through, as open() would: the link stays
        args.out = os.path.realpath(args.out)
    loaded = load_model(args.run or args.checkpoint, args.device)
    check_target(loaded.spec.kind, args.out)  # a typo in --out is said before the sampling
    check_not_the_runs(args.out, zoo.resolve(args.run) if args.run else args.checkpoint)
    _check_scale(args, loaded.spec.kind, loaded.spec.item_shape)
    each_formats = {"voxel": (".ply", ".stl", ".obj"), "pointcloud": (".ply", ".xyz")}
    if args.each and not args.out.lower().endswith(each_formats.get(loaded.spec.kind, ("-",))):
        raise ConfigError("--each writes 3D samples one per file: it goes with a voxel model "
                          "and --out NAME.ply, .stl or .obj, or a point-cloud model and "
                          "--out NAME.ply or .xyz")
    if args.each:  # every file of the series can be written: said before the sampling
        from ebm_engine.export.layout import numbered_paths

        taken = next((t for t in numbered_paths(args.out, args.n) if t.is_dir()), None)
        if taken is not None:
            raise ExportError(f"cannot write {taken}: it is a folder")
    if args.option:
        _set_options(loaded, args.option)
    loaded.method.rng.manual_seed(args.seed)
    torch.manual_seed(args.seed)
    steps = args.steps if args.steps is not None else loaded.method.sample_steps
    record = args.record_every or (max(steps // 20, 1) if needs_chain(args.out) else 0)
    chosen, _ = precision.resolve(loaded.cfg.train.precision, loaded.method.device,
                                  loaded.cfg.train.method)
    _check_memory(args, loaded, steps, record)
    if steps > LONG_CHAIN * max(loaded.method.sample_steps, 1):  # minutes, maybe hours
        print(f"sampling {args.n} chains for {steps} Langevin steps ({loaded.method.sample_steps} "
              "is this model's own); Ctrl-C stops without writing")
    if args.condition is not None:
        return _run_conditioned(args, loaded, steps, record, chosen)
    chains = persistent_chains(loaded)
    if 0 < chains < args.n:
        print(f"note: this model keeps {chains} persistent chains; the {args.n} draws continue "
              f"them, so they repeat (--n {chains} shows each once)")
    if chains and needs_chain(args.out) and loaded.spec.kind != "video":
        print("note: the chains continue this model's persistent ones, which have settled: "
              "the animation starts from finished samples and moves little")
    with precision.autocast(chosen, loaded.method.device):
        frames = list(loaded.method.sample(args.n, n_steps=steps, record_every=record,
                                           n_record=args.n))
    final = frames[-1]
    _check_animated(frames, args.out, loaded.spec.kind, steps)
    if args.each:
        written = _each(final.x, loaded.spec.kind, args.out)
        print(f"wrote {args.n} samples to {written[0]} … {written[-1].name}" if len(written) > 1
              else f"wrote 1 sample to {written[0]}")
        return 0
    path = export_samples(final.x, loaded.spec.kind, loaded.spec.value_range, args.out,
                          frames=_chain(frames, args.out), chain_steps=[f.step for f in frames],
                          energy=final.energy, scale=args.scale, symbols=loaded.spec.symbols,
                          extras={**loaded.spec.display_extras(), **final.extras},
                          context=_context(loaded, args.out))
    rows = (" (rows: source | translated | reconstructed)"
            if path.suffix.lower() == ".png" and "reconstructed" in final.extras else "")
    from ebm_engine.export.samples import picture_note

    shown = picture_note(loaded.spec.kind, path, args.n, final.extras)  # 16 of 25 drawn
    print(f"wrote {_count(args.n, path)} to {path}{rows}" + (f" ({shown})" if shown else ""))
    return 0


def _context(loaded: LoadedModel, out: str) -> np.ndarray | None:
    """The training points a 2D picture draws under the samples, as the app's export."""
    from ebm_engine.data.training_points import training_points

    if loaded.spec.kind != "points" or Path(out).suffix.lower() == ".npz":
        return None
    return training_points(loaded.cfg)


def _count(n: int, path: Path) -> str:
    """``"16 samples"``; an ``.sdf`` holds only the valid molecules (a warning said so)."""
    if Path(path).suffix.lower() == ".sdf":
        held = Path(path).read_text(encoding="utf-8").count("$$$$")
        if held != n:
            return f"the {held} valid of {n} samples"
    return f"{n} sample{'s' if n != 1 else ''}"


def _check_scale(args: argparse.Namespace, kind: str, shape: tuple[int, ...]) -> None:
    """``--scale`` where it does something, and animations of a size a player can open."""
    if args.scale is None:
        return
    ext = Path(args.out).suffix.lower()
    if kind not in ("image", "video") or ext not in (".png", ".gif", ".mp4"):
        print(f"note: --scale enlarges pixels of image and video samples in .png .gif .mp4; "
              f"{kind} samples as {ext or 'this file'} ignore it")
        return
    if ext in (".gif", ".mp4"):
        width = _frame_size(args.n, shape, args.scale)[1]
        if width > MAX_ANIMATION_WIDTH:
            raise ConfigError(f"--scale {args.scale} makes {ext} frames about {width} px wide; "
                              f"at most {MAX_ANIMATION_WIDTH}: use a smaller --scale or fewer "
                              "samples")


def _frame_size(n: int, shape: tuple[int, ...], scale: int) -> tuple[int, int]:
    """About ``(height, width)`` of an animation frame of ``n`` items repeated ``scale``
    times (the square-ish grid of ``chain_to_frames``)."""
    side = math.ceil(math.sqrt(n))
    return (math.ceil(n / side) * (shape[-2] + 2) * scale, side * (shape[-1] + 2) * scale)


def _each(samples: np.ndarray, kind: str, out: str) -> list[Path]:
    """One file per 3D sample: ``OUT_000.ply`` …; a failure leaves none of the series
    that this call wrote (a partial series looks like a smaller draw)."""
    from ebm_engine.export.layout import numbered_paths

    targets = numbered_paths(out, len(samples))
    before = {t for t in targets if t.exists()}
    try:
        if kind == "voxel":
            from ebm_engine.export.mesh import save_voxel_meshes_each

            return save_voxel_meshes_each(samples, out)
        from ebm_engine.export.pointcloud import save_point_clouds_each

        return save_point_clouds_each(samples, out)
    except (OSError, ExportError) as exc:
        for target in targets:
            if target not in before and target.is_file():
                target.unlink()
        if isinstance(exc, ExportError):
            raise
        raise ExportError(f"cannot write {out}: {exc.strerror or exc}") from None


def _check_memory(args: argparse.Namespace, loaded: LoadedModel, steps: int,
                  record: int) -> None:
    """Refuse an ``--n`` or ``--scale`` that cannot fit, before anything is drawn."""
    from ebm_engine.export.samples import cell_scale, needs_chain
    from ebm_engine.sampling_preflight import check_sampling

    shape = loaded.spec.item_shape
    frames = steps // record + 1 if record else 1
    cell = None
    if Path(args.out).suffix.lower() == ".png" and loaded.spec.kind == "image":
        k = cell_scale(min(shape[-2:]), args.scale)
        # a --condition row shows the picture and each stage beside the draw
        cell = (shape[-2] * k, shape[-1] * k * (4 if args.condition is not None else 1))
    check_sampling(loaded.cfg, shape, args.n, loaded.method.device, frames=frames, cell=cell,
                   scale=args.scale, also="or draw them in several calls with different --seed")
    if args.scale is not None and needs_chain(args.out) and loaded.spec.kind in ("image", "video"):
        from ebm_engine.preflight import SAFETY_FRACTION, available_memory, format_bytes

        # every frame enlarged in memory, and an RGB copy of them all before encoding
        h, w = _frame_size(args.n, shape, args.scale)
        count = shape[1] if loaded.spec.kind == "video" else frames
        need, ram = 2 * 3 * h * w * count, available_memory("cpu")
        if ram > 0 and need > SAFETY_FRACTION * ram:
            raise ConfigError(f"--scale {args.scale} makes {count} frames of {w} × {h} px, "
                              f"≈ {format_bytes(need)}; this machine has {format_bytes(ram)} "
                              "free: use a smaller --scale, fewer samples or a larger "
                              "--record-every")


def _chain(frames: list, out: str | Path) -> list[np.ndarray]:
    """The chain's states to write: the pictures shown, but a conditional model's raw
    answers in an ``.npz`` (its frames are picture strips)."""
    raw = str(out).lower().endswith(".npz")
    return [f.extras.get("output", f.x) if raw else f.x for f in frames]


def _run_conditioned(args: argparse.Namespace, loaded, steps: int, record: int, chosen) -> int:
    """``--condition``: the model applied to the user's picture or label, one draw per row."""
    from ebm_engine import precision
    from ebm_engine.data.dataset import to_display
    from ebm_engine.export.images import save_grid_png
    from ebm_engine.export.samples import cell_scale, export_samples
    from ebm_engine.sampling.user_condition import load_condition, sample_condition

    cond = load_condition(loaded, args.condition, args.mask, args.direction, args.invert)
    for note in cond.notes:
        print(f"note: {note}")
    with precision.autocast(chosen, loaded.method.device):
        frames = list(sample_condition(loaded, cond, args.n, n_steps=steps, record_every=record,
                                       n_record=args.n))
    _check_animated(frames, args.out, loaded.spec.kind, steps)
    final = frames[-1]
    spec = loaded.spec
    out = Path(args.out)
    if cond.task == "translation" and out.suffix.lower() == ".png":
        final = _triptych(final)  # one draw per row, as the other tasks
    if out.suffix.lower() == ".png" and "source" not in final.extras:
        if not out.parent.is_dir():
            raise ConfigError(f"cannot write {out}: folder {out.parent} does not exist")
        images = to_display(final.x, spec.kind, spec.value_range)
        path = save_grid_png(images, out, nrow=1, upscale=cell_scale(spec.item_shape[-2],
                                                                     args.scale))
    else:
        path = export_samples(final.x, spec.kind, spec.value_range, out,
                              frames=_chain(frames, out), chain_steps=[f.step for f in frames],
                              energy=final.energy, scale=args.scale, extras=final.extras)
    what = {"inpainting": "picture | masked | initializer | after Langevin",
            "image": "picture | initializer | after Langevin", "label": "label | initializer | "
            "after Langevin", "translation": "source | translated | reconstructed"}[cond.task]
    if out.suffix.lower() == ".npz":  # the answers as samples, beside their pictures
        what = (f"samples: the answers; strip: {what}" if "output" in final.extras else
                "samples: the translations; source and reconstructed beside them")
    print(f"wrote {args.n} draws to {path} ({what})")
    return 0


def _check_animated(frames: list, out: str, kind: str, steps: int) -> None:
    """Refuse an animation of one still frame (it said "wrote"); a video's animation is
    its own frames."""
    from ebm_engine.export.samples import needs_chain

    if len(frames) == 1 and needs_chain(out) and kind != "video":
        why = ("0 steps make no chain" if steps == 0 else
               "this model draws its samples in one go, with no chain to record")
        raise ConfigError(f"{out} would be one still frame ({why}); write a .png")


def _triptych(frame):
    """A translation's last frame as ``source | translated | reconstructed`` side by side
    (left as it is where the two domains' pictures differ in size or channels)."""
    import dataclasses

    import numpy as np

    source, back = frame.extras.get("source"), frame.extras.get("reconstructed")
    if source is None or back is None or not source.shape == frame.x.shape == back.shape:
        return frame
    extras = {k: v for k, v in frame.extras.items() if k not in ("source", "reconstructed")}
    return dataclasses.replace(frame, x=np.concatenate([source, frame.x, back], -1), extras=extras)


def _set_options(loaded, pairs: list[str]) -> None:
    """Apply ``KEY=VALUE`` method knobs to a loaded model (validated as in a run)."""
    import json

    cfg = loaded.cfg
    set_keys = []
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--option must be KEY=VALUE, got {pair!r}")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text  # a bare word: a string choice
        cfg = cfg.replace_value(f"train.options.{key}", value)
        set_keys.append(key)
    opts = loaded.method.parse_options(cfg, loaded.spec)  # one line for a bad knob or value
    # a knob that shapes the trained networks (T levels, z_dim…) cannot change now:
    # T=3 on a 6-level model was a traceback, other such values were ignored
    knobs = {k.name: k.spec for k in loaded.method.knobs()}
    # a knob only training reads (data_noise, lr_end, learning rates) did nothing here
    readable = loaded.method.sampling_knobs(loaded.method.opts)
    for key in set_keys:
        trained = getattr(loaded.method.opts, key)
        if not knobs[key].live:
            if getattr(opts, key) != trained:
                raise ConfigError(f"train.options.{key} was fixed by training ({trained!r}); "
                                  "sampling cannot change it")
        elif key not in readable:
            method = loaded.cfg.train.method
            can = (f"sample --option can change {', '.join(readable)}" if readable
                   else "sample --option can change none of its knobs (--steps and --seed "
                        "change the draw)")
            why = "" if knobs[key].sampling else " (training or evaluation reads it)"
            raise ConfigError(f"sampling this {method} model never reads train.options.{key}"
                              f"{why}; {can}")
    loaded.method.configure(cfg)
    from ebm_engine.learning.odd_settings import odd_settings

    for line in odd_settings(loaded.method, loaded.spec):  # e.g. a guidance with nothing to guide
        warnings.warn(line, stacklevel=2)
