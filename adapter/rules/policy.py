"""What the rules judge by: the code sets and thresholds, bundled once per run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from adapter.evidence.facts import (
    ClaimDiagnosis,
    ClaimEvidence,
    ClaimFacts,
    ConditionFact,
    LabFact,
    Linked,
    PatientFact,
)
from adapter.mappings import CodeSets, DrugCodes, LabKind, Mappings
from adapter.payer_policies import NO_POLICIES, PayerPolicies
from adapter.rules import status
from adapter.terminology.in_force import InForce
from adapter.thresholds import Thresholds


@dataclass(frozen=True, slots=True)
class Policy:
    codes: CodeSets
    lab_kinds: dict[str, LabKind]
    thresholds: Thresholds
    drugs: DrugCodes
    zone: ZoneInfo | None = None  # the clinic's time zone: the calendar day of a timestamp
    payers: PayerPolicies = NO_POLICIES  # payer policies (SPEC 4.4) and who gets which
    notes_quote: bool = True  # note findings quote the note's sentence (``notes.quote``)
    notes_required: bool = False  # a patient with no note at all is ``note-missing`` too

    @classmethod
    def from_mappings(cls, mappings: Mappings, thresholds: Thresholds,
                      zone: ZoneInfo | None = None,
                      payers: PayerPolicies = NO_POLICIES, notes_quote: bool = True,
                      notes_required: bool = False) -> Policy:
        kinds = {kind.name: kind for kind in mappings.labs_by_loinc.values()}
        return cls(mappings.codes, kinds, thresholds, mappings.drugs, zone, payers, notes_quote,
                   notes_required)

    @property
    def mcg_per_unit(self) -> float:
        return self.drugs.mcg_per_unit

    def is_indication(self, code: str | None) -> bool:
        return code is not None and (code in self.codes.b12_diagnoses or code in self.codes.causes)

    def claimed_b12(self, ev: ClaimEvidence) -> list[ClaimDiagnosis]:
        """The claim's B12 diagnoses, in claim sequence order."""
        return [d for d in ev.claim.diagnoses if d.code in self.codes.b12_diagnoses]

    def is_abnormal(self, lab: LabFact) -> bool:
        """Low B12, high MMA or homocysteine (hemoglobin is judged by patient, apart).

        A bound counts when it decides (SPEC 4.1): "<150" pg/mL B12 is low (150 is at or
        below the cut-off), ">250" is not; without a value, interpretation L/LL (H/HH) or
        A/AA counts.
        """
        kind = self.lab_kinds[lab.kind]
        low = kind.abnormal_when == "low"
        if lab.value is not None:
            limit = self._limit(lab.kind)
            if limit is None:
                return False
            if lab.comparator in ("<", "<="):
                return low and lab.value <= limit
            if lab.comparator in (">", ">="):
                return not low and lab.value >= limit
            return lab.value < limit if low else lab.value > limit
        flags = {"L", "LL"} if low else {"H", "HH"}
        return bool(lab.interpretation & (flags | {"A", "AA"}))

    def _limit(self, kind: str) -> float | None:
        t = self.thresholds
        if kind == "b12":
            return t.b12_low_pg_ml
        if kind == "mma":
            return t.mma_high_umol_l
        return t.homocysteine_high_umol_l if kind == "homocysteine" else None

    def hemoglobin_low(self, lab: LabFact, patient: PatientFact | None) -> bool:
        """A hemoglobin below the patient's anemia cut-off on its day: a value (a bound
        "<12" at or below the cut-off counts), else interpretation L/LL. The rules and the
        audit page both ask here."""
        threshold, _ = self.hemoglobin_threshold(patient, lab.effective)
        if lab.value is not None:
            if lab.comparator in ("<", "<="):
                return lab.value <= threshold
            return lab.comparator is None and lab.value < threshold
        return bool(lab.interpretation & {"L", "LL"})

    def of_the_day(self, fact: ConditionFact, claim: ClaimFacts) -> bool:
        """An assessment of the service day: an encounter-diagnosis (assessment category)
        Condition on the claim's encounter, or onset or recorded that day."""
        return (bool(fact.categories & self.codes.assessment_categories)
                and (fact.encounter in claim.encounters
                     or claim.service_date in (fact.onset, fact.recorded)))

    def hemoglobin_threshold(self, patient: PatientFact | None, on: date) -> tuple[float, str]:
        """The anemia cut-off (g/dL) for the patient on a day (age then), and who it is for."""
        t = self.thresholds.hemoglobin_low_g_dl
        if patient and patient.birth_date:
            age = _age(patient.birth_date, on)
            if age < 5:
                return t.under_5, "a child under 5"
            if age < 12:
                return t.age_5_to_11, "a child aged 5-11"
            if age < 15:
                return t.age_12_to_14, "a child aged 12-14"
        gender = patient.gender if patient else None
        if gender == "male":
            return t.male, "a man"
        if gender == "female":
            return t.female, "a woman"
        return t.unknown, "a patient of unknown sex"


def _age(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def current_confirmed(ev: ClaimEvidence) -> list[Linked[ConditionFact]]:
    day = ev.claim.service_date
    return [c for c in ev.conditions
            if status.counts(c.fact) and status.confirmed(c.fact)
            and status.current_at(c.fact, day)]


def refs(items: list[Linked[ConditionFact]] | list[Linked[LabFact]]) -> tuple[str, ...]:
    return tuple(sorted({i.fact.ref for i in items}))


def code_set(ev: ClaimEvidence) -> InForce:
    """The ICD-10-CM release(s) the claim is judged with, as the evidence step chose them."""
    found = ev.code_set
    if found is None:
        raise ValueError(f"{ev.claim.ref}: evidence without its ICD-10-CM code set")
    return found
