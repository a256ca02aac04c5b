"""One FHIR resource (plain JSON) -> one fact, or a ``BadResource`` naming what is wrong.

Resources that cannot matter to a B12 check (other labs, other drugs) give ``None`` so the
chart never holds them. Readers judge nothing: statuses are kept as written and scope is a
rule (``adapter.rules.scope``, ``adapter.rules.status``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapter.evidence.facts import (
    AdministrationFact,
    ClaimDiagnosis,
    ClaimItem,
    ClaimRecord,
    ConditionFact,
    LabFact,
    PatientFact,
)
from adapter.evidence.fields import (
    BadResource,
    codings,
    concept_text,
    items,
    number,
    optional_date,
    parse_date,
    ref_of,
    reference,
    status_code,
    subject,
)
from adapter.mappings import DrugCodes, Mappings
from adapter.terminology import icd10cm, snomed
from adapter.terminology.systems import LOINC, NDC, RXNORM
from adapter.terminology.units import UCUM, UnitError, convert, unit_of

Resource = Mapping[str, Any]

def icd10cm_codes(pairs: list[tuple[str, str]]) -> list[str]:
    """The ICD-10-CM codes among a concept's codings, normalised."""
    return [icd10cm.normalize(code) for system, code in pairs if system in icd10cm.SYSTEMS]


def snomed_mapped(pairs: list[tuple[str, str]], mappings: Mappings) -> list[str]:
    """The concept's ICD-10-CM codes plus its SNOMED CT codes mapped to ICD-10-CM (a chart may
    speak SNOMED, a claim must carry ICD-10-CM itself)."""
    found: list[str] = []
    for system, code in pairs:
        if system in icd10cm.SYSTEMS:
            found.append(icd10cm.normalize(code))
        elif system == snomed.SYSTEM and (mapped := mappings.snomed.lookup(code)):
            found.append(mapped)
    return found


# --- Claim -----------------------------------------------------------------------------------


def _positive_ints(values: object, where: str, ref: str) -> tuple[int, ...]:
    if values is None:
        return ()
    if not isinstance(values, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in values
    ):
        raise BadResource(ref, f"{where} is not a list of sequence numbers")
    return tuple(values)


def _claim_item(item: Resource, index: int, ref: str) -> ClaimItem:
    where = f"item[{index}]"
    quantity = item.get("quantity")
    units = None
    if isinstance(quantity, Mapping) and quantity.get("value") is not None:
        units = number(quantity.get("value"), f"{where}.quantity.value", ref)
    sequence = item.get("sequence")
    return ClaimItem(
        sequence=sequence if isinstance(sequence, int) else index + 1,
        product=tuple(codings(item.get("productOrService"), f"{where}.productOrService", ref)),
        units=units,
        service_date=optional_date(item, "servicedDate", "servicedPeriod.start", ref=ref),
        diagnosis_sequences=_positive_ints(
            item.get("diagnosisSequence"), f"{where}.diagnosisSequence", ref
        ),
        encounters=tuple(
            target for n, e in enumerate(item.get("encounter") or [])
            if (target := reference(e, f"{where}.encounter[{n}]", ref))
        ),
    )


def _claim_diagnosis(dx: Resource, index: int, ref: str) -> ClaimDiagnosis:
    where = f"diagnosis[{index}]"
    sequence = dx.get("sequence")
    if not isinstance(sequence, int) or isinstance(sequence, bool):
        raise BadResource(ref, f"{where}.sequence is not a number")
    concept = dx.get("diagnosisCodeableConcept")
    pairs = codings(concept, f"{where}.diagnosisCodeableConcept", ref)
    codes = icd10cm_codes(pairs)
    written = (pairs[0][1] if pairs else "") or concept_text(concept)
    return ClaimDiagnosis(
        sequence=sequence,
        code=codes[0] if codes else None,
        written=codes[0] if codes else written,
        condition=reference(dx.get("diagnosisReference"), f"{where}.diagnosisReference", ref),
    )


def read_claim(resource: Resource) -> ClaimRecord:
    """Every line and diagnosis of a claim, as written."""
    ref = ref_of(resource)
    meta = resource.get("meta")
    meta = meta if isinstance(meta, Mapping) else {}
    version, updated = meta.get("versionId"), meta.get("lastUpdated")
    status = resource.get("status")
    diagnoses = [_claim_diagnosis(dx, n, ref)
                 for n, dx in enumerate(items(resource, "diagnosis", ref))]
    lines = [_claim_item(item, n, ref) for n, item in enumerate(items(resource, "item", ref))]
    return ClaimRecord(
        ref=ref,
        version=version if isinstance(version, str) else None,
        last_updated=updated if isinstance(updated, str) else None,
        status=status if isinstance(status, str) else None,
        patient=reference(resource.get("patient"), "patient", ref),
        billable_start=optional_date(resource, "billablePeriod.start", ref=ref),
        created=optional_date(resource, "created", ref=ref),
        diagnoses=tuple(sorted(diagnoses, key=lambda d: d.sequence)),
        items=tuple(lines),
        supporting=tuple(
            target for n, info in enumerate(items(resource, "supportingInfo", ref))
            if (target := reference(info.get("valueReference"), f"supportingInfo[{n}]", ref))
        ),
    )


# --- Condition -------------------------------------------------------------------------------


def read_condition(resource: Resource, mappings: Mappings) -> ConditionFact:
    ref = ref_of(resource)
    pairs = codings(resource.get("code"), "code", ref)
    codes = frozenset(snomed_mapped(pairs, mappings))
    written = frozenset(icd10cm_codes(pairs))
    abatement = optional_date(resource, "abatementDateTime", "abatementPeriod.start", ref=ref)
    abated = any(  # abated, but on no date we can compare with the service date
        resource.get(name) not in (None, False)
        for name in ("abatementBoolean", "abatementString", "abatementAge", "abatementRange")
    )
    evidence = tuple(
        target
        for n, ev in enumerate(items(resource, "evidence", ref))
        for m, detail in enumerate(ev.get("detail") or [])
        if (target := reference(detail, f"evidence[{n}].detail[{m}]", ref))
    )
    return ConditionFact(
        ref=ref,
        patient=subject(resource, ref),
        codes=codes,
        clinical_status=status_code(resource.get("clinicalStatus"), "clinicalStatus", ref),
        verification_status=status_code(
            resource.get("verificationStatus"), "verificationStatus", ref
        ),
        onset=optional_date(resource, "onsetDateTime", "onsetPeriod.start", ref=ref),
        abatement=abatement,
        abated=abated,
        evidence=evidence,
        written_icd=written,
    )


# --- Observation -----------------------------------------------------------------------------


def read_observation(resource: Resource, mappings: Mappings) -> LabFact | None:
    """A B12-status or hemoglobin lab (any status); None for other observations."""
    ref = ref_of(resource)
    loinc = next(
        (c for s, c in codings(resource.get("code"), "code", ref)
         if s == LOINC and c in mappings.labs_by_loinc),
        None,
    )
    if loinc is None:
        return None
    kind = mappings.labs_by_loinc[loinc]
    effective = optional_date(
        resource, "effectiveDateTime", "effectivePeriod.start", "effectiveInstant", "issued",
        ref=ref,
    )
    if effective is None:
        raise BadResource(ref, "Observation has no effective date")
    value = None
    quantity = resource.get("valueQuantity")
    if quantity is not None:
        if not isinstance(quantity, Mapping):
            raise BadResource(ref, "valueQuantity is not a Quantity")
        if quantity.get("value") is not None:
            raw = number(quantity.get("value"), "valueQuantity.value", ref)
            system = quantity.get("system")
            if system not in (None, UCUM) and quantity.get("code") is not None:
                raise BadResource(ref, f"valueQuantity unit system {system!r} is not UCUM")
            try:
                value = convert(raw, unit_of(quantity), mappings.lab_units[kind.unit], kind.unit)
            except UnitError as exc:
                raise BadResource(ref, f"valueQuantity: {exc}") from None
    interpretation = frozenset(
        code.upper()
        for n, concept in enumerate(items(resource, "interpretation", ref))
        for _, code in codings(concept, f"interpretation[{n}]", ref)
    )
    status = resource.get("status")
    return LabFact(
        ref=ref,
        patient=subject(resource, ref),
        status=status if isinstance(status, str) else None,
        kind=kind.name,
        loinc=loinc,
        value=value,
        interpretation=interpretation,
        effective=effective,
    )


# --- MedicationAdministration ----------------------------------------------------------------


def _medication_concept(resource: Resource, ref: str) -> tuple[object, str]:
    """The medication's CodeableConcept (inline or a contained Medication) and any display."""
    if "medicationCodeableConcept" in resource:
        return resource["medicationCodeableConcept"], ""
    med_ref = resource.get("medicationReference")
    if not isinstance(med_ref, Mapping):
        return None, ""
    display = med_ref.get("display") if isinstance(med_ref.get("display"), str) else ""
    target = med_ref.get("reference")
    if isinstance(target, str) and target.startswith("#"):
        for contained in items(resource, "contained", ref):
            if contained.get("id") == target[1:]:
                return contained.get("code"), display
    return None, display


def _strength(concept: object, ref: str, drugs: DrugCodes) -> tuple[bool, float | None]:
    """(is a B12 drug, micrograms per mL when known) from codes, else from the drug's name."""
    for system, code in codings(concept, "medication", ref):
        if system == RXNORM and code in drugs.rxnorm:
            return True, drugs.rxnorm[code]
        if system == NDC and (strength := drugs.ndc_strength(code)) is not None:
            return True, strength
    return False, None


def read_administration(
    resource: Resource, mappings: Mappings, problems: list[BadResource]
) -> AdministrationFact | None:
    """A B12 administration; a dose that cannot be read is a problem, not a missing injection."""
    ref = ref_of(resource)
    drugs = mappings.drugs
    concept, display = _medication_concept(resource, ref)
    is_b12, ug_per_ml = _strength(concept, ref, drugs)
    if not is_b12:
        text = f"{concept_text(concept)} {display.lower()}"
        if not any(keyword in text for keyword in drugs.keywords):
            return None
    day = optional_date(resource, "effectiveDateTime", "effectivePeriod.start", ref=ref)
    dose_ug = None
    dosage = resource.get("dosage")
    dose = dosage.get("dose") if isinstance(dosage, Mapping) else None
    if isinstance(dose, Mapping) and dose.get("value") is not None:
        amount = number(dose.get("value"), "dosage.dose.value", ref)
        unit = (unit_of(dose) or "").lower()
        factors = dict(drugs.dose_units)
        if ug_per_ml is not None:
            factors["ml"] = ug_per_ml
        try:
            dose_ug = convert(amount, unit or None, factors, "ug")
        except UnitError as exc:
            problems.append(BadResource(ref, f"dosage.dose: {exc}"))
    return AdministrationFact(
        ref=ref,
        patient=subject(resource, ref),
        status=status if isinstance(status := resource.get("status"), str) else None,
        day=day,
        dose_ug=dose_ug,
        context=reference(resource.get("context"), "context", ref),
        reasons=tuple(
            target for n, r in enumerate(resource.get("reasonReference") or [])
            if (target := reference(r, f"reasonReference[{n}]", ref))
        ),
    )


# --- Patient ---------------------------------------------------------------------------------


def read_patient(resource: Resource) -> PatientFact:
    ref = ref_of(resource)
    gender = resource.get("gender")
    birth = resource.get("birthDate")
    return PatientFact(
        ref=ref,
        gender=gender if isinstance(gender, str) else None,
        birth_date=parse_date(birth, "birthDate", ref) if birth is not None else None,
    )
