"""The thresholds and windows the lab rules judge by (values: mappings/thresholds.json).

Strict: a JSON ``true`` is not a number of days, a string is not a cut-off, an unknown key is
an error, so a typo in a user's config never silently keeps a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from adapter.shape import ShapeError, days, only, optional_days, positive, sub, table


@dataclass(frozen=True, slots=True)
class HemoglobinThresholds:
    """Anemia cut-offs in g/dL by sex and, for children, by age (WHO VMNIS 2011)."""

    male: float
    female: float
    unknown: float
    age_12_to_14: float
    age_5_to_11: float
    under_5: float


@dataclass(frozen=True, slots=True)
class PremedicationSchedule:
    """When B12 premedication for an oncology drug is due (LCD L33967)."""

    first_dose_days_before: int  # the first B12 at most this many days before the first dose
    repeat_min_days: int  # later B12 doses this many days after the previous one, at least
    repeat_max_days: int  # ... and at most


@dataclass(frozen=True, slots=True)
class Thresholds:
    b12_low_pg_ml: float
    mma_high_umol_l: float
    homocysteine_high_umol_l: float
    homocysteine_b12_borderline_pg_ml: float
    hemoglobin_low_g_dl: HemoglobinThresholds
    lab_lookback_days: int
    hemoglobin_window_days: int | None  # None: a low hemoglobin at any time counts
    premedication: dict[str, PremedicationSchedule]

    @classmethod
    def from_dict(cls, data: Any) -> Thresholds:
        """The thresholds a table of settings gives; ``ShapeError`` names the first field
        that is missing, unknown or invalid."""
        data = table(data)
        only(data, cls.__dataclass_fields__)
        return cls(  # fields checked in the order they are declared
            b12_low_pg_ml=positive(data, "b12_low_pg_ml"),
            mma_high_umol_l=positive(data, "mma_high_umol_l"),
            homocysteine_high_umol_l=positive(data, "homocysteine_high_umol_l"),
            homocysteine_b12_borderline_pg_ml=positive(data, "homocysteine_b12_borderline_pg_ml"),
            hemoglobin_low_g_dl=_hemoglobin(sub(data, "hemoglobin_low_g_dl")),
            lab_lookback_days=days(data, "lab_lookback_days"),
            hemoglobin_window_days=optional_days(data, "hemoglobin_window_days"),
            premedication=_schedules(sub(data, "premedication")),
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _hemoglobin(data: Mapping[str, Any]) -> HemoglobinThresholds:
    where = "hemoglobin_low_g_dl"
    only(data, HemoglobinThresholds.__dataclass_fields__, where)
    return HemoglobinThresholds(**{name: positive(data, name, where)
                                   for name in HemoglobinThresholds.__dataclass_fields__})


def _schedules(data: Mapping[str, Any]) -> dict[str, PremedicationSchedule]:
    return {drug: _schedule(data, drug) for drug in data if not drug.startswith("_")}


def _schedule(schedules: Mapping[str, Any], drug: str) -> PremedicationSchedule:
    where = f"premedication.{drug}"
    data = sub(schedules, drug, "premedication")
    only(data, PremedicationSchedule.__dataclass_fields__, where)
    schedule = PremedicationSchedule(**{name: days(data, name, where)
                                        for name in PremedicationSchedule.__dataclass_fields__})
    if schedule.repeat_min_days > schedule.repeat_max_days:
        raise ShapeError(f"{where}: repeat_min_days is greater than repeat_max_days")
    return schedule
