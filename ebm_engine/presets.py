"""Presets: partial configs in ``resources/presets/<name>.json`` that give
good results for a demo on a 2-core CPU, and the preset a user's own data
gets when none is named (:func:`choose_preset`)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ebm_engine.config import RunConfig
from ebm_engine.errors import ConfigError
from ebm_engine.resources import resources_dir


def preset_dir() -> Path:
    return resources_dir() / "presets"


def available_presets() -> list[str]:
    """Names of all preset files."""
    return sorted(p.stem for p in preset_dir().glob("*.json"))


def load_preset(name: str) -> dict[str, Any]:
    """The partial config dict of preset ``name``."""
    path = preset_dir() / f"{name}.json"
    if not path.is_file():
        raise ConfigError(f"unknown preset {name!r} (known: {', '.join(available_presets())})")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"preset {path} is not valid JSON: {exc.msg}") from None
    raw.pop("description", None)
    raw.pop("expected_minutes", None)
    return raw


def preset_minutes(name: str) -> float | None:
    """The minutes preset ``name`` advertises (its ``expected_minutes``; a
    method's demo preset such as ``digits-recovery`` takes longer than the
    demo's own), or ``None`` when it says nothing or does not exist."""
    path = preset_dir() / f"{name}.json"
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("expected_minutes")
    except (OSError, ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def demo_preset(demo: str, method: str | None = None) -> str:
    """The preset :func:`config_for` takes for ``demo`` trained with ``method``:
    ``<demo preset>-<method>`` where that exists (``digits`` + ``recovery`` →
    ``digits-recovery``; hyphens in files, underscores in method names), else
    the demo's own."""
    from ebm_engine.data import demos

    preset = demos()[demo].preset
    if method and _method_preset(preset, method) in available_presets():
        return _method_preset(preset, method)
    return preset


def _method_preset(preset: str, method: str) -> str:
    return f"{preset}-{method.replace('_', '-')}"


def demo_minutes(demo: str, method: str | None = None) -> float | None:
    """The minutes to show for ``demo`` trained with ``method``: the demo's own
    (:func:`ebm_engine.data.demos`, measured where measured) for its own preset; for a
    method's preset (:func:`demo_preset`), what ``benchmarks.quality`` measured for it
    (``resources/measured.json``), else what it advertises (:func:`preset_minutes`)."""
    from ebm_engine.data import demos
    from ebm_engine.data.measured import measurements

    info = demos()[demo]
    preset = demo_preset(demo, method)
    if preset == info.preset:
        return info.expected_minutes
    measured = measurements().get(preset)
    return round(measured.minutes, 1) if measured else preset_minutes(preset)


def method_presets(demo: str) -> dict[str, str]:
    """The methods with a preset of their own for ``demo``: ``{method: preset}``
    (``digits`` → ``{"coopnets": "digits-coopnets", …}``), by method name."""
    from ebm_engine.data import demos
    from ebm_engine.methods import available_methods

    own, known = demos()[demo].preset, set(available_presets())  # one listing, not one per method
    found = {m: _method_preset(own, m) for m in sorted(available_methods())}
    return {m: p for m, p in found.items() if p in known}


def merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``patch`` into a copy of ``base``."""
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class PresetChoice:
    """The preset chosen for a data source, and why.

    Attributes
    ----------
    preset : str or None
        Preset name (``None``: the plain defaults, when the data could not be told).
    patch : dict
        Partial config applied over the preset (sizes for this data).
    line : str
        One line for the user: what the data is and what was chosen.
    """

    preset: str | None
    patch: dict[str, Any] = field(default_factory=dict)
    line: str = ""
    kind: str = ""
    reader: str = ""


# Preset of each data kind, for a path given without --preset or --config.
KIND_PRESETS = {
    "image": "digits",        # many pictures: persistent chains over a replay buffer
    "video": "dynamic-texture",
    "voxel": "shapes-voxels",
    "pointcloud": "shapes-points",
    "points": "toy2d",
    "text": "grammar-text",   # sentences: latent-space EBM prior over a GRU decoder
    "molecule": "molecules",
    "trajectory": "crowd-prediction",  # pedestrian tracks: latent-belief EBM predictor
}
# One picture is texture synthesis.
SINGLE_IMAGE_PRESET = "texture"
# Images are trained at their own size within these bounds (the Generative
# ConvNet takes 8..128 px; past 64 px a 2-core CPU crawls): larger ones are
# resized to the largest.
IMAGE_SIDES = (8, 64)
# Voxel grids: the 3D DescriptorNet's 32³ at most.
VOXEL_SIDES = (8, 32)


def _image_patch(side: int, single: bool) -> tuple[dict[str, Any], str]:
    """Config for ``side``-pixel images: the Generative ConvNet halves the
    resolution once per block until about 4 px (16 px: 2 blocks, 64 px: 4)."""
    depth = min(max(math.ceil(math.log2(side / 4)), 2), 4)
    batch = 16 if side > 32 or single else 32
    patch = {"data": {"image_size": side}, "model": {"name": "convnet", "depth": depth},
             "train": {"batch_size": batch}}
    return patch, f"Generative ConvNet for {side}×{side} (depth {depth}, batch {batch})"


def _voxel_patch(side: int) -> tuple[dict[str, Any], str]:
    # The first conv strides: 16³ needs 2 more blocks to reach 4³, 32³ three.
    depth = min(max(math.ceil(math.log2(side / 8)) + 1, 1), 3)
    patch = {"data": {"image_size": side}, "model": {"name": "voxelnet", "depth": depth}}
    return patch, f"Generative VoxelNet for {side}³ (depth {depth})"


def choose_preset(source: str, method: str | None = None,
                  options: dict[str, Any] | None = None) -> PresetChoice:
    """The preset for training on the file or folder ``source``, by what it holds.

    Images get a Generative ConvNet sized for them (``digits``' Langevin
    settings; ``texture``'s for a single picture), video STGConvNet
    (``dynamic-texture``), voxel grids and meshes VoxelNet
    (``shapes-voxels``), point clouds PointNet (``shapes-points``), and
    low-dimensional arrays the MLP (``toy2d``). Nothing is decoded: the
    folder is listed and a few headers are read
    (:func:`ebm_engine.data.peek.peek`).

    Parameters
    ----------
    source : str
        A path (for a demo, use its own preset).
    method : str, optional
        Learning method: ``<preset>-<method>`` is used when that preset exists.
    options : dict, optional
        ``data.options`` (a forced ``reader``, ``as``, ``kind``).

    Returns
    -------
    PresetChoice
        Never raises: data that cannot be told gets ``preset=None`` and a
        line saying why (loading it will report the problem).
    """
    from ebm_engine.data.peek import peek
    from ebm_engine.errors import DataError

    try:
        summary = peek(source, options)
    except (DataError, OSError) as exc:
        return PresetChoice(None, {}, f"no preset chosen: {exc}")
    kind = summary.kind
    single = kind == "image" and summary.reader == "image-file"
    preset = SINGLE_IMAGE_PRESET if single else KIND_PRESETS.get(kind)
    patch: dict[str, Any] = {}
    how = ""
    if kind == "image" and summary.reader == "array":
        # Arrays are used as stored (never resized): size the net for them.
        side = summary.item_shape[-1] if summary.item_shape else IMAGE_SIDES[1]
        patch, how = _image_patch(min(max(side, IMAGE_SIDES[0]), IMAGE_SIDES[1]), single)
        del patch["data"]
    elif kind == "image":
        own = min(summary.size) if summary.size else IMAGE_SIDES[1]
        side = min(max(own, IMAGE_SIDES[0]), IMAGE_SIDES[1])
        patch, how = _image_patch(side, single)
        if summary.grayscale:
            patch["data"]["grayscale"] = True
        if len(summary.sizes) > 1:
            cut = "centre-cropped to a square and " if any(w != h for w, h in summary.sizes) else ""
            how += f", each image {cut}resized to it"
        elif summary.size and summary.size != (side, side):
            w, h = summary.size
            cut = "centre-cropped to a square and " if w != h else ""
            how += f", {cut}resized from {w}×{h}"
    elif kind == "voxel" and summary.reader != "array":
        side = min(max(summary.grid or VOXEL_SIDES[1], VOXEL_SIDES[0]), VOXEL_SIDES[1])
        patch, how = _voxel_patch(side)
    if preset and method:
        # Preset files use hyphens, method names underscores (latent_ebm → digits-latent-ebm).
        variant = f"{preset}-{method.replace('_', '-')}"
        preset = variant if variant in available_presets() else preset
        own_net = load_preset(preset).get("model", {}).get("name", "convnet")
        if kind == "image" and own_net != "convnet" and "model" in patch:
            # The ConvNet sizing is for ConvNet presets: a method's own network
            # (patchwise, frame) keeps its preset's size; only the image size applies.
            patch = {k: v for k, v in patch.items() if k == "data"}
            resized = how[how.find(", resized"):] if ", resized" in how else ""
            how = f"{own_net} network as in the preset{resized}"
    if preset is None:
        return PresetChoice(None, {}, f"{summary.phrase()}: no preset for {kind} data")
    line = f"{summary.phrase()} → preset {preset}" + (f": {how}" if how else "")
    return PresetChoice(preset, patch, line, kind, summary.reader)


def config_for(source: str, preset: str | None = None,
               overrides: list[tuple[str, Any]] | None = None,
               method: str | None = None,
               report: Callable[[str], None] | None = None) -> RunConfig:
    """The config for training on ``source`` (a demo or a path).

    Parameters
    ----------
    source : str
        ``data.source``.
    preset : str, optional
        Preset name; defaults to the demo's own preset, or for a path to
        the one its data calls for (:func:`choose_preset`), or to
        ``<preset>-<method>`` when ``method`` is given and that exists
        (``digits`` + ``recovery`` → ``digits-recovery``).
    overrides : list of (key, value)
        Dotted-key edits applied last (``--set``); ``data.*`` ones also
        steer the choice (a forced reader, an image size).
    method : str, optional
        Learning method (``train.method``).
    report : callable, optional
        Called with :attr:`PresetChoice.line` when a preset was chosen for a
        path (the CLI prints it; the app logs it).
    """
    from ebm_engine.data import demos

    catalogue = demos()
    choice: PresetChoice | None = None
    if preset is None and source in catalogue:
        preset = demo_preset(source, method)
    elif preset is None:
        options = _data_options(source, overrides)
        choice = choose_preset(source, method, options)
        preset = choice.preset
    raw = RunConfig().to_dict()
    if preset:
        raw = merge(raw, load_preset(preset))
    if choice is not None:
        raw = merge(raw, choice.patch)
    raw["data"]["source"] = source
    cfg = RunConfig.from_dict(raw)
    if choice is not None and cfg.data.options:
        # A demo's preset may set options of the demo's own reader (shapes-points:
        # data.options.points); the reader of the user's path may not read them.
        from ebm_engine.data.option_keys import unknown_options

        foreign = set(unknown_options(cfg.data))
        if foreign:
            cfg = cfg.replace_value("data.options", {k: v for k, v in cfg.data.options.items()
                                                     if k not in foreign})
    if method:  # another method keeps only the preset's options it knows (with_value)
        cfg = cfg.with_value("train.method", method)
    cfg = cfg.with_values(list(overrides or []))
    # Data that could not be told is not reported here: loading it says why, once.
    if choice is not None and choice.preset is not None and report is not None:
        # The line describes the preset's sizing; the user's own --set of a sized
        # key comes after it and wins, so it is said (not "for 64×64" under 256).
        mine = [f"{k}={_shown(v)}" for k, v in overrides or [] if k in SIZING_KEYS]
        line = choice.line
        if not cfg.data.crop and "centre-cropped to a square and " in line:
            # what data.crop=false does, not the crop it switched off
            line = line.replace("centre-cropped to a square and resized",
                                "squashed to a square (data.crop=false: not cropped)")
            mine = [m for m in mine if not m.startswith("data.crop=")]
        line += f", then {', '.join(mine)} as set" if mine else ""
        treated = _treatment(choice, cfg)
        report(line + (f"; {treated}" if treated else ""))
    return cfg


def _treatment(choice: PresetChoice, cfg: RunConfig) -> str:
    """What reading does to clips and clouds, which the summary line cannot show
    (a folder of 64×80 movies becomes 32×32 clips of 16 frames)."""
    opts = cfg.data.options
    if choice.kind == "video":
        frames, step = opts.get("frames", 16), opts.get("frame_step", 1)
        side = cfg.data.image_size
        every = f"one frame in {step} kept, " if step != 1 else ""
        if side <= 0:
            size = "frames at the file's size"
        elif cfg.data.crop:
            size = f"frames centre-cropped to a square and resized to {side}×{side}"
        else:
            size = f"frames squashed to {side}×{side} (data.crop=false)"
        grey = ", grayscale" if cfg.data.grayscale else ""
        return f"each video {every}cut into clips of {frames} frames, {size}{grey}"
    if choice.kind == "pointcloud":
        from ebm_engine.data.ply import ply_declares_faces

        n = opts.get("points", 2048)
        source = Path(cfg.data.source).expanduser()
        surface = choice.reader == "mesh" and not (  # a PLY without faces is a cloud itself
            source.is_file() and source.suffix.lower() == ".ply" and not ply_declares_faces(source))
        what = (f"{n} points drawn on each mesh's surface" if surface
                else f"each cloud resampled to {n} points")
        if opts.get("normalize", True) is not False:
            what += ", centred and scaled into [-1, 1]³"
        return what
    return ""


#: Keys the preset choice sets for the data and names in its line.
SIZING_KEYS = ("data.image_size", "data.grayscale", "data.crop", "model.name", "model.depth",
               "train.batch_size")


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _data_options(source: str, overrides: list[tuple[str, Any]] | None) -> dict[str, Any]:
    """``data.options`` after the ``data.*`` overrides (they may force a reader)."""
    cfg = RunConfig().with_value("data.source", source)
    for key, value in overrides or []:
        if key.startswith("data."):
            try:
                cfg = cfg.with_value(key, value)
            except ConfigError:
                pass  # reported when the overrides are applied for real
    return dict(cfg.data.options)
