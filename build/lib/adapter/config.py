"""Thresholds and windows: the defaults in ``mappings/thresholds.json`` plus a user's overrides.

The defaults are read by ``adapter.mappings`` (the one loader of that folder); this module
applies a user's ``--config`` file on top.

An override file (``--config``, TOML or JSON) names only what it changes, e.g.::

    b12_low_pg_ml = 180
    lab_lookback_days = 730
    [hemoglobin_low_g_dl]
    female = 11.5
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from adapter.mappings import load_mappings
from adapter.thresholds import Thresholds


class ConfigError(ValueError):
    """The configuration file cannot be used; the message names the file and the setting."""


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_override(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from exc
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not valid {path.suffix.lstrip('.') or 'JSON'}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a table of settings")
    return data.get("thresholds", data) if isinstance(data.get("thresholds"), dict) else data


def apply_overrides(defaults: Thresholds, override: Path | None) -> Thresholds:
    """``defaults`` overridden by the file ``override``; unknown or invalid keys are errors."""
    if override is None:
        return defaults
    data = _merge(defaults.model_dump(), _read_override(override))
    try:
        return Thresholds.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{override}: {problems}") from exc


def load_thresholds(override: Path | None = None) -> Thresholds:
    """The packaged defaults (mappings/thresholds.json), overridden by ``override``."""
    return apply_overrides(load_mappings().thresholds, override)
