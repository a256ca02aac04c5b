"""A user's settings: the thresholds and windows (defaults in ``mappings/thresholds.json``)
with their overrides, and the clinic's time zone.

An override file (``--config``, TOML or JSON) names only what it changes, e.g.::

    facility_timezone = "America/New_York"
    b12_low_pg_ml = 180
    lab_lookback_days = 730
    [hemoglobin_low_g_dl]
    female = 11.5
    [notes]
    quote = false      # note findings leave the note's sentence out (SPEC 4.2)
    required = true    # a patient with no clinical note at all is note-missing too

Payer policies (SPEC 4.4, ``adapter.payer_policies``) sit in a ``[policies]`` table:
``default``, ``dir`` (relative to the config file) and ``[policies.payers]``.

Thresholds may also sit in a ``[thresholds]`` table, with nothing else beside it but the
settings below. An unknown or invalid setting is an error naming the file and the setting.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from adapter.mappings import load_mappings
from adapter.payer_policies import NO_POLICIES, PayerPolicies
from adapter.shape import ShapeError, only
from adapter.thresholds import Thresholds

SETTINGS = ("facility_timezone", "policies", "notes")  # keys that are not thresholds
NOTE_SETTINGS = {"quote": True, "required": False}  # [notes] keys and their defaults


class ConfigError(ValueError):
    """The configuration file cannot be used; the message names the file and the setting."""


@dataclass(frozen=True)
class Settings:
    thresholds: Thresholds
    zone: ZoneInfo | None  # the clinic's time zone; None: the offset each timestamp carries
    payers: PayerPolicies = NO_POLICIES  # the payer policies and which payer gets which
    notes_quote: bool = True  # note findings quote the note's sentence
    notes_required: bool = False  # no note at all for a patient is note-missing too


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM some editors write is passed over
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc})") from exc
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, ValueError, RecursionError) as exc:
        if path.suffix.lower() in (".toml", ".json"):
            raise ConfigError(f"{path}: not valid {path.suffix.lstrip('.')}: {exc}"
                              ) from exc
        raise ConfigError(f"{path}: not valid JSON ({exc}): a config file is TOML, named "
                          ".toml, or JSON") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a table of settings")
    return data


def _split(path: Path, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(threshold overrides, other settings) of a config file."""
    settings = {k: data[k] for k in SETTINGS if k in data}
    rest = {k: v for k, v in data.items() if k not in SETTINGS}
    if "thresholds" in rest:
        table = rest.pop("thresholds")
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: thresholds: expected a table of settings")
        if rest:
            raise ConfigError(f"{path}: {', '.join(sorted(rest))}: unknown setting beside the "
                              "thresholds table (put thresholds inside it)")
        rest = table
    else:  # a key neither a setting nor a threshold: the one meant, among both
        try:
            only(rest, {*Thresholds.__dataclass_fields__, "thresholds", *SETTINGS})
        except ShapeError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
    return rest, settings


def apply_overrides(defaults: Thresholds, override: Path | None) -> Thresholds:
    """``defaults`` overridden by the thresholds in the file ``override``."""
    return load_settings(defaults, override).thresholds


def load_settings(defaults: Thresholds, override: Path | None,
                  facility_timezone: str | None = None) -> Settings:
    """The thresholds overridden by the file ``override``, and the time zone (the argument
    wins over the file)."""
    overrides: dict[str, Any] = {}
    settings: dict[str, Any] = {}
    if override is not None:
        overrides, settings = _split(override, _read_file(override))
    thresholds = defaults
    if overrides:
        try:
            thresholds = Thresholds.from_dict(_merge(defaults.as_dict(), overrides))
        except ShapeError as exc:
            raise ConfigError(f"{override}: {exc}") from exc
    name = facility_timezone or settings.get("facility_timezone")
    where = "--facility-timezone" if facility_timezone else f"{override}: facility_timezone"
    table = settings.get("policies")
    if table is not None and not isinstance(table, dict):
        raise ConfigError(f"{override}: policies: expected a table (default, dir, payers)")
    payers = NO_POLICIES
    try:
        if table:
            from adapter.policy_files import load_policies

            payers = load_policies(table, override)
    except ValueError as exc:  # a PolicyError: names the file and the field
        raise ConfigError(str(exc)) from exc
    notes = _notes(settings.get("notes", {}), f"{override}: notes")
    return Settings(thresholds, _zone(name, where), payers, notes["quote"], notes["required"])


def _notes(table: object, where: str) -> dict[str, bool]:
    """The ``[notes]`` table: ``quote`` and ``required``, both true or false."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table (quote, required)")
    unknown = sorted(set(table) - set(NOTE_SETTINGS))
    if unknown:
        raise ConfigError(f"{where}: {', '.join(unknown)}: unknown setting (quote, required)")
    found = {**NOTE_SETTINGS, **table}
    for key, value in found.items():
        if not isinstance(value, bool):
            raise ConfigError(f"{where}.{key}: expected true or false")
    return found


def _zone(name: object, where: str) -> ZoneInfo | None:
    if name is None:
        return None
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: expected an IANA time zone name such as America/New_York")
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where}: unknown time zone {name!r}") from None


def load_thresholds(override: Path | None = None) -> Thresholds:
    """The packaged defaults (mappings/thresholds.json), overridden by ``override``."""
    return apply_overrides(load_mappings().thresholds, override)
