"""The typed facts a rule may read. Plain frozen values: no FHIR models, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Generic, TypeVar

from adapter.evidence.fields import BadResource

T = TypeVar("T")


class Path(StrEnum):
    """How a piece of evidence was found (SPEC section 3)."""

    LINKED = "linked"  # referenced from the claim, a linked Condition, or a linked administration
    RECORD = "record"  # found only in the patient's record


ACTIVE_STATUSES = frozenset({"active", "recurrence", "relapse"})
UNCONFIRMED_STATUSES = frozenset({"unconfirmed", "provisional", "differential"})
EXCLUDED_VERIFICATION = frozenset({"refuted", "entered-in-error"})
USABLE_OBSERVATION_STATUSES = frozenset({"final", "amended", "corrected"})


@dataclass(frozen=True, slots=True)
class ClaimDiagnosis:
    sequence: int
    code: str | None  # normalised ICD-10-CM code, None when the diagnosis carries none
    written: str  # as the claim wrote it, for messages
    condition: str | None = None  # diagnosisReference


@dataclass(frozen=True, slots=True)
class B12Item:
    sequence: int
    is_j3420: bool
    units: float | None
    service_date: date | None
    diagnosis_sequences: tuple[int, ...]
    encounters: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ClaimFacts:
    ref: str
    version: str | None
    patient: str
    service_date: date
    diagnoses: tuple[ClaimDiagnosis, ...]
    b12_items: tuple[B12Item, ...]
    supporting: tuple[str, ...]  # supportingInfo valueReference targets

    @property
    def referenced(self) -> frozenset[str]:
        """Everything the claim points at: diagnosisReference and supportingInfo."""
        return frozenset(self.supporting) | {d.condition for d in self.diagnoses if d.condition}


@dataclass(frozen=True, slots=True)
class ConditionFact:
    ref: str
    patient: str | None
    codes: frozenset[str]  # ICD-10-CM, written or mapped from SNOMED CT
    clinical_status: str | None
    verification_status: str | None
    onset: date | None
    abatement: date | None
    abated: bool  # abatement given without a comparable date (boolean true, string, age)
    evidence: tuple[str, ...] = ()  # Condition.evidence.detail
    written_icd: frozenset[str] = frozenset()  # codes written in ICD-10-CM (not mapped)

    @property
    def counts(self) -> bool:
        """Refuted and entered-in-error Conditions do not count at all."""
        return self.verification_status not in EXCLUDED_VERIFICATION

    @property
    def confirmed(self) -> bool:
        return self.verification_status not in UNCONFIRMED_STATUSES

    def current_at(self, day: date) -> bool:
        """Active/recurrence/relapse (or no status and not abated), onset not after ``day``."""
        if self.onset is not None and self.onset > day:
            return False
        if self.abatement is not None and self.abatement <= day:
            return False
        if self.clinical_status is None:
            return not self.abated
        return self.clinical_status in ACTIVE_STATUSES


@dataclass(frozen=True, slots=True)
class LabFact:
    ref: str
    patient: str | None
    kind: str  # a LabKind name from mappings/labs.json
    loinc: str
    value: float | None  # in the kind's canonical unit
    interpretation: frozenset[str]  # v3 ObservationInterpretation codes
    effective: date


@dataclass(frozen=True, slots=True)
class AdministrationFact:
    ref: str
    patient: str | None
    completed: bool
    day: date | None
    dose_ug: float | None
    context: str | None
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PatientFact:
    ref: str
    gender: str | None
    birth_date: date | None


@dataclass(frozen=True, slots=True)
class Linked(Generic[T]):
    """A fact plus the path that found it."""

    fact: T
    path: Path


@dataclass(frozen=True, slots=True)
class ClaimEvidence:
    """Everything the rules know about one claim, gathered once."""

    claim: ClaimFacts
    patient: PatientFact | None
    conditions: tuple[Linked[ConditionFact], ...] = ()
    labs: tuple[Linked[LabFact], ...] = ()
    administrations: tuple[Linked[AdministrationFact], ...] = ()
    problems: tuple[BadResource, ...] = field(default=())
