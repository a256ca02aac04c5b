"""The thresholds and windows the lab rules judge by (values: mappings/thresholds.json).

Strict: a JSON ``true`` is not a number of days, a string is not a cut-off.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, model_validator

Cutoff = Annotated[StrictFloat | StrictInt, Field(gt=0)]
Days = Annotated[StrictInt, Field(ge=0)]


class HemoglobinThresholds(BaseModel):
    """Anemia cut-offs in g/dL by sex and, for children, by age (WHO VMNIS 2011)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    male: Cutoff
    female: Cutoff
    unknown: Cutoff
    age_12_to_14: Cutoff
    age_5_to_11: Cutoff
    under_5: Cutoff


class PremedicationSchedule(BaseModel):
    """When B12 premedication for an oncology drug is due (LCD L33967)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    first_dose_days_before: Days  # the first B12 at most this many days before the first dose
    repeat_min_days: Days  # later B12 doses this many days after the previous one, at least
    repeat_max_days: Days  # ... and at most

    @model_validator(mode="after")
    def _ordered(self) -> PremedicationSchedule:
        if self.repeat_min_days > self.repeat_max_days:
            raise ValueError("repeat_min_days is greater than repeat_max_days")
        return self


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    b12_low_pg_ml: Cutoff
    mma_high_umol_l: Cutoff
    homocysteine_high_umol_l: Cutoff
    homocysteine_b12_borderline_pg_ml: Cutoff
    hemoglobin_low_g_dl: HemoglobinThresholds
    lab_lookback_days: Days
    hemoglobin_window_days: Days | None  # None: a low hemoglobin at any time counts
    premedication: dict[str, PremedicationSchedule]
