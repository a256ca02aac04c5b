"""Checking the shape of plain JSON data (the mapping files, a user's config) field by field.

Small on purpose: these files are read at every start, and a validation library costs more to
import than the checks take. Every error names the field, ``hemoglobin_low_g_dl.male: must be
a number greater than 0``, so a message can name the file and the setting.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class ShapeError(ValueError):
    """A field is missing, unknown, or of the wrong kind; ``str()`` is ``where: what``."""


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def table(data: Any, where: str = "") -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ShapeError(f"{where or '(file)'}: must be a table of settings")
    return data


def only(data: Mapping[str, Any], allowed: Iterable[str], where: str = "") -> None:
    """No keys but ``allowed`` (keys starting with ``_`` are documentation)."""
    known = set(allowed)
    unknown = sorted(k for k in data if k not in known and not str(k).startswith("_"))
    if unknown:
        raise ShapeError(f"{_at(where, unknown[0])}: unknown setting ({_known(unknown[0], known)})")


def _known(key: object, known: set[str]) -> str:
    """The setting meant by a typo, else every setting the table takes."""
    from difflib import get_close_matches  # only when a file is wrong: not at every start

    close = get_close_matches(str(key), sorted(known), n=1)
    return f"did you mean {close[0]}?" if close else "known: " + ", ".join(sorted(known))


def get(data: Mapping[str, Any], key: str, where: str = "") -> Any:
    if key not in data:
        raise ShapeError(f"{_at(where, key)}: missing")
    return data[key]


def sub(data: Mapping[str, Any], key: str, where: str = "") -> Mapping[str, Any]:
    return table(get(data, key, where), _at(where, key))


def strings(data: Mapping[str, Any], key: str, where: str = "") -> list[str]:
    value = get(data, key, where)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ShapeError(f"{_at(where, key)}: must be a list of strings")
    return value


def string(data: Mapping[str, Any], key: str, where: str = "") -> str:
    value = get(data, key, where)
    if not isinstance(value, str):
        raise ShapeError(f"{_at(where, key)}: must be a string")
    return value


def flag(data: Mapping[str, Any], key: str, where: str = "") -> bool:
    value = get(data, key, where)
    if not isinstance(value, bool):
        raise ShapeError(f"{_at(where, key)}: must be true or false")
    return value


def positive(data: Mapping[str, Any], key: str, where: str = "") -> float:
    """A number greater than 0 (a boolean is not a number)."""
    value = get(data, key, where)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ShapeError(f"{_at(where, key)}: must be a number greater than 0")
    return float(value)


def days(data: Mapping[str, Any], key: str, where: str = "") -> int:
    """A whole number of days, 0 or more (a boolean is not a number)."""
    value = get(data, key, where)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ShapeError(f"{_at(where, key)}: must be a whole number of days, 0 or more")
    return value


def optional_days(data: Mapping[str, Any], key: str, where: str = "") -> int | None:
    """``days``, or null."""
    if get(data, key, where) is None:
        return None
    try:
        return days(data, key, where)
    except ShapeError:
        raise ShapeError(f"{_at(where, key)}: must be a whole number of days, 0 or more, "
                         "or null") from None
