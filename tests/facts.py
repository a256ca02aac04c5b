"""Builders of the plain facts rules read, for rule tests that need no FHIR JSON at all.

    ev = evidence(claim("D51.0"), conditions=[condition(codes={"D51.9"})])
    codes_of(ev) == {"dx-more-specific-than-chart", ...}
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from adapter.evidence.facts import (
    AdministrationFact,
    B12Item,
    ClaimDiagnosis,
    ClaimEvidence,
    ClaimFacts,
    ConditionFact,
    LabFact,
    Linked,
    Path,
    PatientFact,
)
from adapter.findings import Finding
from adapter.mappings import load_mappings
from adapter.rules import Policy, check
from adapter.terminology import in_force

DAY = date(2026, 3, 2)
PATIENT = "Patient/p1"


def policy() -> Policy:
    mappings = load_mappings()
    return Policy.from_mappings(mappings, mappings.thresholds)


def claim(*codes: str, units: float | None = 1.0, refs: Iterable[str] = (),
          day: date = DAY, pointers: tuple[int, ...] = (1,)) -> ClaimFacts:
    """A J3420 claim of one line, coding ``codes`` in order (E53.8 when none given)."""
    codes = codes or ("E53.8",)
    return ClaimFacts(
        ref="Claim/k1", version="1", patient=PATIENT, service_date=day,
        diagnoses=tuple(ClaimDiagnosis(n, code, code) for n, code in enumerate(codes, 1)),
        b12_items=(B12Item(1, True, units, day, pointers, ()),),
        supporting=tuple(refs),
    )


def condition(ref: str = "Condition/c1", codes: Iterable[str] = ("E53.8",), *,
              clinical: str | None = "active", verification: str | None = "confirmed",
              onset: date | None = date(2024, 1, 15), abatement: date | None = None
              ) -> ConditionFact:
    return ConditionFact(ref, PATIENT, frozenset(codes), clinical, verification, onset,
                         abatement, abated=False, written_icd=frozenset(codes))


def lab(ref: str, kind: str, value: float | None, effective: date = date(2026, 2, 10), *,
        status: str = "final", flags: Iterable[str] = ()) -> LabFact:
    loinc = {"b12": "2132-9", "mma": "13964-2", "homocysteine": "13965-9",
             "hemoglobin": "718-7"}[kind]
    return LabFact(ref, PATIENT, status, kind, loinc, value, frozenset(flags), effective)


def given(ref: str = "MedicationAdministration/a1", day: date = DAY,
          dose_ug: float | None = 1000.0, status: str = "completed") -> AdministrationFact:
    return AdministrationFact(ref, PATIENT, status, day, dose_ug, None)


def evidence(facts: ClaimFacts, *, conditions: Iterable[ConditionFact] = (),
             labs: Iterable[LabFact] = (), administrations: Iterable[AdministrationFact] = (),
             gender: str = "female", born: date = date(1958, 4, 12)) -> ClaimEvidence:
    """Evidence for ``facts``; what the claim references is linked, the rest record-only."""
    def linked(items: Iterable) -> tuple:
        return tuple(Linked(f, Path.LINKED if f.ref in facts.referenced else Path.RECORD)
                     for f in items)

    return ClaimEvidence(facts, PatientFact(PATIENT, gender, born), linked(conditions),
                         linked(labs), linked(administrations),
                         code_set=in_force.for_day(facts.service_date))


def findings(ev: ClaimEvidence) -> list[Finding]:
    return check(ev, policy())


def codes_of(ev: ClaimEvidence) -> set[str]:
    return {f.code for f in findings(ev)}


def backed(facts: ClaimFacts, *conditions: ConditionFact, **more) -> ClaimEvidence:
    """``facts`` with a low B12, a low hemoglobin and the injection: only the chart varies."""
    more.setdefault("labs", [lab("Observation/o1", "b12", 150),
                             lab("Observation/h1", "hemoglobin", 10.9)])
    more.setdefault("administrations", [given()])
    return evidence(facts, conditions=conditions, **more)
