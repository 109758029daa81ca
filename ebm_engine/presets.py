"""Presets: partial configs in ``resources/presets/<name>.json`` that give
good results for a demo on a 2-core CPU."""

from __future__ import annotations

import json
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
    return raw


def merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``patch`` into a copy of ``base``."""
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def config_for(source: str, preset: str | None = None,
               overrides: list[tuple[str, Any]] | None = None,
               method: str | None = None) -> RunConfig:
    """The config for training on ``source`` (a demo or a path).

    Parameters
    ----------
    source : str
        ``data.source``.
    preset : str, optional
        Preset name; defaults to the demo's own preset (none for a path), or
        to ``<demo preset>-<method>`` when ``method`` is given and that exists
        (``digits`` + ``recovery`` → ``digits-recovery``).
    overrides : list of (key, value)
        Dotted-key edits applied last (``--set``).
    method : str, optional
        Learning method (``train.method``).
    """
    from ebm_engine.data import demos

    catalogue = demos()
    if preset is None and source in catalogue:
        preset = catalogue[source].preset
        # Preset files use hyphens, method names underscores (latent_ebm → digits-latent-ebm).
        if method and f"{preset}-{method.replace('_', '-')}" in available_presets():
            preset = f"{preset}-{method.replace('_', '-')}"
    raw = RunConfig().to_dict()
    if preset:
        raw = merge(raw, load_preset(preset))
    raw["data"]["source"] = source
    if method:
        raw["train"]["method"] = method
    cfg = RunConfig.from_dict(raw)
    for key, value in overrides or []:
        cfg = cfg.with_value(key, value)
    return cfg
