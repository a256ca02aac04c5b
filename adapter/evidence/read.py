"""One resource of a patient's record (plain JSON) -> one fact, or a ``BadResource`` naming
what is wrong. (Claims are read by ``adapter.evidence.read_claims``.)

Resources that cannot matter to a B12 check (other labs, other procedures) give ``None`` so the
chart never holds them. Readers judge nothing: statuses are kept as written, scope is a rule
(``adapter.rules.scope``, ``adapter.rules.status``), and which drug a medication use gives, and
whether it was injected, is decided once its Medication is known (``adapter.evidence.drugs``).
Code forms are read here (ICD-10-CM without its dot, NDC in any of its forms, UCUM by OID);
dates are the clinic's calendar day (``zone``, SPEC 4.1 "Times").
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from adapter.evidence.facts import (
    Coding,
    ConditionFact,
    LabFact,
    PatientFact,
    ProcedureFact,
)
from adapter.evidence.fields import (
    BadResource,
    codes_of,
    codings,
    concept_text,
    first_present,
    is_object,
    items,
    number,
    optional_date,
    parse_date,
    ref_of,
    reference,
    references,
    status,
    status_code,
    subject,
    text,
    utc_other_days,
)
from adapter.mappings import DrugCodes, Mappings
from adapter.notes.conditions import text_codes
from adapter.terminology import icd10cm, snomed, statuses
from adapter.terminology.systems import LOINC
from adapter.terminology.units import UnitError, convert, unit_of
from adapter.values import value

Resource = Mapping[str, Any]
_UNDATED_ABATEMENT = frozenset({"abatementBoolean", "abatementString", "abatementAge",
                                "abatementRange"})
# "<150", "< 150 pg/mL", ".149 ng/mL", "≤150": a comparator, a decimal (ASCII digits: float()
# reads other scripts' digits too), a unit
_BOUND = re.compile(r"^\s*(<=|>=|<|>|≤|≥)?\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(\S.*)?$")
_COMPARATORS = {"≤": "<=", "≥": ">="}
# an Age's unit (UCUM, or written out), and its days
_AGE_UNITS = {"a": "a", "mo": "mo", "wk": "wk", "d": "d", "h": "h", "min": "min",
              "y": "a", "yr": "a", "year": "a", "years": "a", "month": "mo", "months": "mo",
              "week": "wk", "weeks": "wk", "day": "d", "days": "d"}
_AGE_DAYS = {"a": 365.25, "mo": 30.4375, "wk": 7.0, "d": 1.0, "h": 1 / 24, "min": 1 / 1440}
_OLDEST_DAYS = 150 * 365.25


def icd10cm_codes(pairs: list[Coding]) -> list[str]:
    """The ICD-10-CM codes among a concept's codings, normalised."""
    return [icd10cm.normalize(code) for system, code in pairs if system in icd10cm.SYSTEMS]


def mapped_snomed(pairs: list[Coding], mappings: Mappings) -> list[str]:
    """The concept's SNOMED CT codes mapped to ICD-10-CM (a chart may speak SNOMED, a claim
    must carry ICD-10-CM itself)."""
    return [mapped for system, code in pairs
            if system == snomed.SYSTEM and (mapped := mappings.snomed.lookup(code))]


# --- Condition -------------------------------------------------------------------------------


def read_condition(resource: Resource, mappings: Mappings, zone: ZoneInfo | None = None,
                   ref: str | None = None) -> ConditionFact:
    """``ref``: ``ref_of(resource)`` when the caller has it (the chart does: not made twice)."""
    ref = ref or ref_of(resource)
    concept = resource.get("code")
    pairs = codings(concept, "code", ref)
    abated = not _UNDATED_ABATEMENT.isdisjoint(resource) and any(
        resource.get(name) not in (None, False) for name in _UNDATED_ABATEMENT
    )  # abated, but on no date we can compare with the service date
    evidence = tuple(
        target
        for n, ev in enumerate(items(resource, "evidence", ref))
        for m, detail in enumerate(items(ev, "detail", ref))
        if (target := reference(detail, f"evidence[{n}].detail[{m}]", ref))
    ) if "evidence" in resource else ()
    categories = codes_of(resource, "category", ref)
    patient = subject(resource, ref)
    if patient is None:
        raise BadResource(ref, "Condition has no subject: whose diagnosis it is cannot be told")
    onset = optional_date(resource, "onsetDateTime", "onsetPeriod.start", ref=ref, zone=zone)
    written_icd = icd10cm_codes(pairs)
    written = _written_text(concept)
    codes = frozenset(written_icd + mapped_snomed(pairs, mappings))
    text_only = False
    if not written_icd and written and not any(system == snomed.SYSTEM for system, _ in pairs):
        codes = text_codes(written)  # free text (SPEC 4.1): read as a note's words are
        text_only = bool(codes)
    return ConditionFact(
        ref=ref,
        patient=patient,
        codes=codes,
        clinical_status=status_code(resource.get("clinicalStatus"), "clinicalStatus", ref,
                                    statuses.CLINICAL),
        verification_status=status_code(
            resource.get("verificationStatus"), "verificationStatus", ref, statuses.VERIFICATION
        ),
        onset=onset,
        abatement=optional_date(resource, "abatementDateTime", "abatementPeriod.start",
                                ref=ref, zone=zone),
        abated=abated,
        evidence=evidence,
        written_icd=frozenset(written_icd),
        snomed=frozenset(code for system, code in pairs if system == snomed.SYSTEM),
        text=written,
        categories=categories,
        encounter=reference(resource.get("encounter"), "encounter", ref),
        recorded=optional_date(resource, "recordedDate", ref=ref, zone=zone),
        text_only=text_only,
        onset_age=_onset_age(resource, ref) if onset is None else None,
    )


def _onset_age(resource: Resource, ref: str) -> tuple[float, str] | None:
    """onsetAge, else onsetRange.low (the youngest the patient was), as (amount, UCUM unit)."""
    age = resource.get("onsetAge")
    name = "onsetAge"
    if age is None:
        span = resource.get("onsetRange")
        if span is None:
            return None
        if not is_object(span):
            raise BadResource(ref, "onsetRange is not a Range")
        age, name = span.get("low"), "onsetRange.low"
        if age is None:
            return None
    if not is_object(age):
        raise BadResource(ref, f"{name} is not an Age")
    if age.get("value") is None:
        return None
    amount = number(age.get("value"), f"{name}.value", ref)
    written = age.get("code") if age.get("code") is not None else age.get("unit")
    unit: str | None = _AGE_UNITS.get(written.strip().lower()) if isinstance(written, str) \
        else None
    if unit is None:
        raise BadResource(ref, f"{name} has no unit of time (a, mo, wk, d, h, min): when the "
                          "condition began cannot be told")
    if not 0 <= amount * _AGE_DAYS[unit] <= _OLDEST_DAYS:
        raise BadResource(ref, f"{name} {amount:g} {unit} is not an age")
    return amount, unit


def onset_from_age(birth: date, age: tuple[float, str]) -> date | None:
    """The day a patient born on ``birth`` reached ``age`` (its first day: onset at age 80 is
    on or after the 80th birthday); None past the calendar."""
    amount, unit = age
    try:
        if unit in ("a", "mo") and amount == int(amount):
            months = int(amount) * (12 if unit == "a" else 1) + birth.month - 1
            year, month = birth.year + months // 12, months % 12 + 1
            day = min(birth.day, monthrange(year, month)[1])  # born Feb 29: Feb 28
            return date(year, month, day)
        return birth + timedelta(days=int(amount * _AGE_DAYS[unit]))
    except (ValueError, OverflowError):
        return None


def _written_text(concept: object) -> str:
    """A concept's text, else its first display, as written (the clinician's words)."""
    if not is_object(concept):
        return ""
    written = concept.get("text")
    if isinstance(written, str) and written.strip():
        return text(written.strip())
    codings_ = concept.get("coding")
    for coding in codings_ if isinstance(codings_, list) else []:
        if is_object(coding) and isinstance(coding.get("display"), str):
            return text(coding["display"].strip())
    return ""


# --- Observation -----------------------------------------------------------------------------


def read_observation(resource: Resource, mappings: Mappings, zone: ZoneInfo | None = None,
                     ref: str | None = None) -> LabFact | None:
    """A B12-status or hemoglobin lab (any status); None for other observations."""
    ref = ref or ref_of(resource)
    loinc = next(
        (c for s, c in codings(resource.get("code"), "code", ref)
         if s == LOINC and c in mappings.labs_by_loinc),
        None,
    )
    if loinc is None:
        return None
    kind = mappings.labs_by_loinc[loinc]
    name, when = first_present(
        resource, "effectiveDateTime", "effectivePeriod.start", "effectiveInstant", "issued")
    if when is None:
        raise BadResource(ref, "Observation has no effective date")
    effective = parse_date(when, name, ref, zone)
    value, comparator = _lab_value(resource, ref, loinc, kind.unit, mappings)
    interpretation = frozenset(code.upper() for code in codes_of(resource, "interpretation", ref))
    lab_status = status(resource.get("status"), "status", ref, statuses.OBSERVATION)
    patient = subject(resource, ref)
    if patient is None:
        raise BadResource(ref, "Observation has no subject: whose result it is cannot be told")
    return LabFact(
        ref=ref,
        patient=patient,
        status=lab_status,
        kind=kind.name,
        loinc=loinc,
        value=value,
        interpretation=interpretation,
        effective=effective,
        comparator=comparator,
        other_days=utc_other_days(when, zone),
    )


def _lab_value(resource: Resource, ref: str, loinc: str, unit: str, mappings: Mappings
               ) -> tuple[float | None, str | None]:
    """(value in ``unit``, comparator) of valueQuantity or valueString ("<150", "< 150 pg/mL");
    a value whose unit cannot be converted is an error, never a number read as is."""
    factors = mappings.lab_units[unit]
    quantity = resource.get("valueQuantity")
    if quantity is not None:
        if not is_object(quantity):
            raise BadResource(ref, "valueQuantity is not a Quantity")
        if quantity.get("value") is None:
            return None, None
        raw = number(quantity.get("value"), "valueQuantity.value", ref)
        system = quantity.get("system")
        if system is not None and not isinstance(system, str):
            raise BadResource(ref, "valueQuantity.system is not a string")
        if system is not None and system not in mappings.ucum_systems \
                and quantity.get("code") is not None:
            raise BadResource(ref, f"valueQuantity unit system {system!r} is not UCUM")
        comparator = quantity.get("comparator")
        if comparator is not None and comparator not in ("<", "<=", ">=", ">"):
            raise BadResource(ref, f"valueQuantity.comparator {comparator!r} is not <, <=, >=, >")
        try:
            return convert(raw, _unit(quantity), factors, unit), comparator
        except UnitError as exc:
            raise BadResource(ref, f"valueQuantity: {exc}") from None
    text = resource.get("valueString")
    if not isinstance(text, str):
        return None, None
    if not (match := _BOUND.match(text)):  # not read silently as no value (SPEC 4, units)
        raise BadResource(ref, f"valueString {text!r} is not a value that can be read (a "
                          "number, with a comparator and a unit or not): the result is not "
                          "evidence")
    comparator, digits, written_unit = match.groups()
    comparator = _COMPARATORS.get(comparator, comparator)
    stated = written_unit or mappings.unit_when_unstated.get(loinc)
    try:
        value = convert(float(digits), _unit({"unit": stated}) if stated else None, factors,
                        unit)
    except UnitError as exc:
        raise BadResource(ref, f"valueString {text!r}: {exc}") from None
    return value, comparator


# --- Medications: administrations, requests, statements, Medication resources ----------------


@value
class Drug:
    """What a medication is, as the checks need it: its codes, its name, its dose forms."""

    codes: tuple[Coding, ...]
    text: str  # names and displays, lower case
    forms: tuple[Coding, ...] = ()


@value
class MedicationUse:
    """A MedicationAdministration, MedicationRequest or MedicationStatement, read but not yet
    judged: its drug may be a Medication resource elsewhere in the source."""

    ref: str
    kind: str
    patient: str | None
    status: str | None
    day: date | None
    routes: tuple[Coding, ...]
    route_text: str
    dose: tuple[float, str | None] | None  # (amount, unit) as written
    context: str | None
    reasons: tuple[str, ...]
    drug: Drug | None  # None: see medication_ref
    medication_ref: str | None
    other_days: tuple[date, ...] = ()  # an administration stamped in UTC: utc_other_days


def read_medication(resource: Resource) -> Drug:
    """A Medication resource: its code and form."""
    ref = ref_of(resource)
    return _drug(resource.get("code"), resource.get("form"), ref)


def folded(words: str) -> str:
    """Lower case, every run of blank space (a tab, a no-break space, a line end) one space:
    how a drug's or a route's words are matched."""
    return " ".join(words.split()).lower()


def _drug(code: object, form: object, ref: str, extra_text: str = "") -> Drug:
    return Drug(
        codes=tuple(codings(code, "medication", ref)),
        text=folded(f"{concept_text(code)} {concept_text(form)} {extra_text}"),
        forms=tuple(codings(form, "medication.form", ref)),
    )


def read_medication_use(resource: Resource, zone: ZoneInfo | None = None,
                        problems: list[BadResource] | None = None,
                        ref: str | None = None) -> MedicationUse:
    """The parts of an administration, request or statement the checks read. A dose that
    cannot be read is a problem in ``problems``, not a reason to drop an injection given."""
    ref = ref or ref_of(resource)
    kind = str(resource.get("resourceType"))
    other_days: tuple[date, ...] = ()
    day: date | None
    if kind == "MedicationAdministration":
        # a period with no start (an infusion's record may keep only its end): its end
        name, when = first_present(resource, "effectiveDateTime", "effectivePeriod.start",
                                   "effectivePeriod.end")
        if when is None:
            if resource.get("effectivePeriod") is not None \
                    and "effectiveDateTime" not in resource:
                raise BadResource(ref, "effectivePeriod has neither start nor end: the day it "
                                  "was given cannot be told")
            raise BadResource(ref, "MedicationAdministration has no effective date (effective[x] "
                              "is required)")
        day = parse_date(when, name, ref, zone)
        other_days = utc_other_days(when, zone)
        dosage = resource.get("dosage")
        dosages: list[Mapping[str, Any]] = [dosage] if is_object(dosage) else []
        context = reference(resource.get("context"), "context", ref)
    elif kind == "MedicationRequest":
        day = optional_date(resource, "authoredOn", ref=ref, zone=zone)
        dosages = items(resource, "dosageInstruction", ref)
        context = reference(resource.get("encounter"), "encounter", ref)
    else:
        day = optional_date(resource, "effectiveDateTime", "effectivePeriod.start",
                            "dateAsserted", ref=ref, zone=zone)
        dosages = items(resource, "dosage", ref)
        context = reference(resource.get("context"), "context", ref)
    routes = [pair for n, dosage in enumerate(dosages)
              for pair in codings(dosage.get("route"), f"dosage[{n}].route", ref)]
    route_text = folded(" ".join(concept_text(d.get("route")) for d in dosages))
    drug, medication_ref = _medication(resource, ref)
    use_status = status(resource.get("status"), "status", ref, statuses.EVENT[kind])
    dose = None
    if kind == "MedicationAdministration" and dosages:
        try:
            dose = _dose(dosages[0], ref)
        except BadResource as exc:
            if problems is None:
                raise
            problems.append(exc)
    return MedicationUse(
        ref=ref, kind=kind, patient=subject(resource, ref),
        status=use_status, day=day,
        routes=tuple(routes), route_text=route_text,
        dose=dose,
        context=context,
        reasons=references(resource, "reasonReference", ref),
        drug=drug, medication_ref=medication_ref, other_days=other_days,
    )


def _medication(resource: Resource, ref: str) -> tuple[Drug | None, str | None]:
    """The drug when it is written in the resource (a concept, or a contained Medication),
    else the reference to the Medication resource that says it."""
    if "medicationCodeableConcept" in resource:
        return _drug(resource["medicationCodeableConcept"], None, ref), None
    med_ref = resource.get("medicationReference")
    if not is_object(med_ref):
        return Drug((), ""), None
    display = text(written) if isinstance(written := med_ref.get("display"), str) else ""
    target = med_ref.get("reference")
    if isinstance(target, str) and target.startswith("#"):
        for contained in items(resource, "contained", ref):
            if contained.get("id") == target[1:]:
                return _drug(contained.get("code"), contained.get("form"), ref, display), None
        raise BadResource(ref, f"medicationReference {text(target)} names no contained "
                               "Medication")
    target = reference(med_ref, "medicationReference", ref)
    if target is None or not target.startswith(("Medication/", "urn:uuid:", "urn:oid:")):
        return Drug((), folded(display)), None  # a full URL: resolved by the Bundle's fullUrl
    return None, target


def _dose(dosage: Mapping[str, Any], ref: str) -> tuple[float, str | None] | None:
    dose = dosage.get("dose")
    if not is_object(dose) or dose.get("value") is None:
        return None
    amount = number(dose.get("value"), "dosage.dose.value", ref)
    if amount <= 0:  # "-1000 mcg given that day is -1 unit(s)"
        raise BadResource(ref, f"dosage.dose.value {amount:g} is not a dose given")
    return amount, _unit(dose)


def _unit(quantity: Mapping[str, Any]) -> str | None:
    """A Quantity's unit (``unit_of``) as ``text`` makes it: the unit is written into
    messages and findings ("unit 'x' cannot be converted")."""
    unit = unit_of(quantity)
    return text(unit) if unit is not None else None


def read_procedure(resource: Resource, drugs: DrugCodes,
                   zone: ZoneInfo | None = None) -> ProcedureFact | None:
    """An intramuscular or subcutaneous injection procedure; None for other procedures."""
    ref = ref_of(resource)
    pairs = codings(resource.get("code"), "code", ref)
    if not any(drugs.injection_procedures.has(system, code) for system, code in pairs):
        return None
    return ProcedureFact(
        ref=ref,
        patient=subject(resource, ref),
        status=status(resource.get("status"), "status", ref, statuses.EVENT["Procedure"]),
        day=optional_date(resource, "performedDateTime", "performedPeriod.start", ref=ref,
                          zone=zone),
        encounter=reference(resource.get("encounter"), "encounter", ref),
    )


# --- Patient ---------------------------------------------------------------------------------


def read_patient(resource: Resource, problems: list[BadResource] | None = None) -> PatientFact:
    """A patient's sex and birth date. ``gender`` is read as statuses are (trimmed, any case:
    "Male" is male); another value is a problem in ``problems`` and the sex is unknown, never
    a value silently read as unknown (the anemia cut-off depends on it, SPEC 4.1)."""
    ref = ref_of(resource)
    written = resource.get("gender")
    gender: str | None = None
    if written is not None:
        code = statuses.normalized(written) if isinstance(written, str) else ""
        if code in statuses.GENDER:
            gender = code
        else:
            shown = repr(text(written)) if isinstance(written, str) else "is not a string and"
            problem = BadResource(ref, f"gender {shown} is not one of its FHIR codes "
                                  f"({', '.join(sorted(statuses.GENDER))}): the patient's sex "
                                  "is read as unknown")
            if problems is None:
                raise problem
            problems.append(problem)
    birth = resource.get("birthDate")
    return PatientFact(
        ref=ref,
        gender=gender,
        birth_date=_birth_date(birth, ref),
    )


def _birth_date(value: object, ref: str) -> date | None:
    """The birth date; an error names the field but never shows the value: a birth date is
    PHI, and errors reach stderr, logs and the audit page (SPEC 7)."""
    if value is None:
        return None
    try:
        return parse_date(value, "birthDate", ref)
    except BadResource:
        raise BadResource(ref, "birthDate is not a valid date (its value is not shown: "
                          "a birth date is PHI)") from None
