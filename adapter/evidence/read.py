"""One FHIR resource (plain JSON) -> one fact, or a ``BadResource`` naming what is wrong.

Resources that cannot matter to a B12 check (other labs, other drugs) give ``None`` so the
chart never holds them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapter.evidence.facts import (
    USABLE_OBSERVATION_STATUSES,
    AdministrationFact,
    B12Item,
    ClaimDiagnosis,
    ClaimFacts,
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
from adapter.terminology.units import UCUM, UnitError, convert, unit_of

LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC = "http://hl7.org/fhir/sid/ndc"
SKIPPED_CLAIM_STATUSES = frozenset({"cancelled", "draft", "entered-in-error"})

Resource = Mapping[str, Any]


class OutOfScope(Exception):
    """A claim the checks do not apply to; the message is the reason shown under ``skipped``."""


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


def _b12_product(concept: object, where: str, ref: str, drugs: DrugCodes) -> tuple[bool, bool]:
    """(is a B12 injection, is HCPCS J3420) for an item's productOrService."""
    b12 = j3420 = False
    for system, code in codings(concept, where, ref):
        if system in drugs.j3420_systems and code.upper() == drugs.j3420_code:
            b12 = j3420 = True
        elif (system == RXNORM and code in drugs.rxnorm) or (
            system == NDC and drugs.ndc_strength(code) is not None
        ):
            b12 = True
    return b12, j3420


def _positive_ints(values: object, where: str, ref: str) -> tuple[int, ...]:
    if values is None:
        return ()
    if not isinstance(values, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in values
    ):
        raise BadResource(ref, f"{where} is not a list of sequence numbers")
    return tuple(values)


def read_claim(resource: Resource, mappings: Mappings) -> ClaimFacts:
    """The facts of a B12 claim; raises ``OutOfScope`` for claims the checks skip."""
    ref = ref_of(resource)
    status = resource.get("status")
    if status in SKIPPED_CLAIM_STATUSES:
        raise OutOfScope(f"claim status is {status}")

    b12_items: list[B12Item] = []
    for index, item in enumerate(items(resource, "item", ref)):
        where = f"item[{index}]"
        is_b12, is_j3420 = _b12_product(item.get("productOrService"), where, ref, mappings.drugs)
        if not is_b12:
            continue
        quantity = item.get("quantity")
        units = None
        if isinstance(quantity, Mapping) and quantity.get("value") is not None:
            units = number(quantity.get("value"), f"{where}.quantity.value", ref)
        b12_items.append(B12Item(
            sequence=item.get("sequence") if isinstance(item.get("sequence"), int) else index + 1,
            is_j3420=is_j3420,
            units=units,
            service_date=optional_date(
                item, "servicedDate", "servicedPeriod.start", ref=ref
            ),
            diagnosis_sequences=_positive_ints(
                item.get("diagnosisSequence"), f"{where}.diagnosisSequence", ref
            ),
            encounters=tuple(
                target for n, e in enumerate(item.get("encounter") or [])
                if (target := reference(e, f"{where}.encounter[{n}]", ref))
            ),
        ))
    if not b12_items:
        raise OutOfScope("no B12 injection item")

    patient = reference(resource.get("patient"), "patient", ref)
    if not patient:
        raise BadResource(ref, "Claim has no patient")
    service_date = next((i.service_date for i in b12_items if i.service_date), None)
    service_date = service_date or optional_date(
        resource, "billablePeriod.start", "created", ref=ref
    )
    if service_date is None:
        raise BadResource(ref, "no service date (item.servicedDate, billablePeriod, created)")

    diagnoses = []
    for index, dx in enumerate(items(resource, "diagnosis", ref)):
        where = f"diagnosis[{index}]"
        sequence = dx.get("sequence")
        if not isinstance(sequence, int) or isinstance(sequence, bool):
            raise BadResource(ref, f"{where}.sequence is not a number")
        concept = dx.get("diagnosisCodeableConcept")
        pairs = codings(concept, f"{where}.diagnosisCodeableConcept", ref)
        codes = icd10cm_codes(pairs)
        written = (pairs[0][1] if pairs else "") or concept_text(concept)
        diagnoses.append(ClaimDiagnosis(
            sequence=sequence,
            code=codes[0] if codes else None,
            written=codes[0] if codes else written,
            condition=reference(dx.get("diagnosisReference"), f"{where}.diagnosisReference", ref),
        ))
    supporting = tuple(
        target for n, info in enumerate(items(resource, "supportingInfo", ref))
        if (target := reference(info.get("valueReference"), f"supportingInfo[{n}]", ref))
    )
    meta = resource.get("meta")
    version = meta.get("versionId") if isinstance(meta, Mapping) else None
    return ClaimFacts(
        ref=ref,
        version=version if isinstance(version, str) else None,
        patient=patient,
        service_date=service_date,
        diagnoses=tuple(sorted(diagnoses, key=lambda d: d.sequence)),
        b12_items=tuple(b12_items),
        supporting=supporting,
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
    """A B12-status or hemoglobin lab; None for other observations and unusable statuses."""
    ref = ref_of(resource)
    loinc = next(
        (c for s, c in codings(resource.get("code"), "code", ref)
         if s == LOINC and c in mappings.labs_by_loinc),
        None,
    )
    if loinc is None or resource.get("status") not in USABLE_OBSERVATION_STATUSES:
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
    return LabFact(
        ref=ref,
        patient=subject(resource, ref),
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
        completed=resource.get("status") == "completed",
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
