"""Thresholds and windows: the defaults in ``mappings/thresholds.json`` plus a user's overrides.

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

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapter.mappings import MAPPINGS_DIR


class ConfigError(ValueError):
    """The configuration file cannot be used; the message names the file and the setting."""


class HemoglobinThresholds(BaseModel):
    """Anemia cut-offs in g/dL by sex and, for children, by age (WHO VMNIS 2011)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    male: float = Field(gt=0)
    female: float = Field(gt=0)
    unknown: float = Field(gt=0)
    age_12_to_14: float = Field(gt=0)
    age_5_to_11: float = Field(gt=0)
    under_5: float = Field(gt=0)


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    b12_low_pg_ml: float = Field(gt=0)
    mma_high_umol_l: float = Field(gt=0)
    homocysteine_high_umol_l: float = Field(gt=0)
    hemoglobin_low_g_dl: HemoglobinThresholds
    lab_lookback_days: int = Field(ge=0)
    hemoglobin_window_days: int = Field(ge=0)


def _public(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (_public(v) if isinstance(v, dict) else v) for k, v in data.items()
            if not k.startswith("_")}


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


def load_thresholds(override: Path | None = None, directory: Path = MAPPINGS_DIR) -> Thresholds:
    """Defaults from mappings/ overridden by ``override``; unknown or invalid keys are errors."""
    base = _public(json.loads((directory / "thresholds.json").read_text(encoding="utf-8")))
    data = _merge(base, _read_override(override)) if override else base
    try:
        return Thresholds.model_validate(data)
    except ValidationError as exc:
        where = override or directory / "thresholds.json"
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{where}: {problems}") from exc
