"""Unit conversion for the few quantities the checks compare (UCUM codes, common text units)."""

from __future__ import annotations

import math
from collections.abc import Mapping


class UnitError(ValueError):
    """A quantity's unit cannot be converted; the value must not be read as a number."""


# text units by their lower-cased spelling (µ is U+00B5 micro sign, μ U+03BC Greek mu)
_SPELLINGS = {"mcg/l": "ug/L", "µg/l": "ug/L", "μg/l": "ug/L", "mcmol/l": "umol/L",
              "µmol/l": "umol/L", "μmol/l": "umol/L", "gm/dl": "g/dL", "g/dl": "g/dL",
              "µg": "ug", "μg": "ug"}


def unit_of(quantity: Mapping[str, object]) -> str | None:
    """The unit a FHIR Quantity states: the UCUM code when given, else the human unit text."""
    code = quantity.get("code")
    unit = code if isinstance(code, str) and code.strip() else quantity.get("unit")
    if not isinstance(unit, str) or not unit.strip():
        return None
    unit = unit.strip()
    return _SPELLINGS.get(unit.lower(), unit)


def convert(value: float, unit: str | None, factors: Mapping[str, float], target: str) -> float:
    """Convert ``value`` in ``unit`` to ``target`` using ``factors`` (unit -> multiplier)."""
    if unit is None:
        raise UnitError(f"no unit given; expected {target} or one of {', '.join(sorted(factors))}")
    factor = factors.get(unit)
    if factor is None:
        lowered = {k.lower(): v for k, v in factors.items()}
        factor = lowered.get(unit.lower())
    if factor is None:
        raise UnitError(f"unit '{unit}' cannot be converted to {target}")
    result = value * factor
    if not math.isfinite(result):  # 1e308 mg is a finite number, not a finite dose in ug
        raise UnitError(f"{value:g} {unit} is too large to convert to {target}")
    return result
