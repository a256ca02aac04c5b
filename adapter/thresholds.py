"""The thresholds and windows the lab rules judge by (values: mappings/thresholds.json)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


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
