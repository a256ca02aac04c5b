"""A Claim or ExplanationOfBenefit (plain JSON) -> the claim's facts: its head (status, use,
patient, payer) read cheaply for scope, its lines, diagnoses and links read in full for the
claims in scope, and the links of a raw NDJSON line for the file pre-scan. Like the record
readers (``adapter.evidence.read``) it judges nothing: scope is a rule (``adapter.rules.scope``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from adapter.evidence.facts import (
    ClaimDiagnosis,
    ClaimHead,
    ClaimItem,
    ClaimRecord,
)
from adapter.evidence.fields import (
    BadResource,
    codings,
    concept_text,
    first_present,
    is_object,
    items,
    no_day,
    number,
    parse_date,
    ref_of,
    reference,
    references,
    resolvable,
    string,
)
from adapter.evidence.payer import read_claim_payer
from adapter.evidence.read import icd10cm_codes
from adapter.terminology import statuses

Resource = Mapping[str, Any]


def _positive_ints(values: object, where: str, ref: str) -> tuple[int, ...]:
    if values is None:
        return ()
    if type(values) is not list or any(type(v) is not int for v in values):  # bool: not int
        raise BadResource(ref, f"{where} is not a list of sequence numbers")
    return tuple(values)


def _day(resource: Resource, *names: str, ref: str, zone: ZoneInfo | None,
         where: str = "") -> tuple[date | None, str | None]:
    """A date that may be the claim's date of service (``rules.scope``), and why it cannot be
    one when it has no day (``fields.no_day``): which date is used is scope's to say."""
    name, value = first_present(resource, *names)
    if value is None:
        return None, None
    day = parse_date(value, name, ref, zone)
    return day, no_day(f"{where}.{name}" if where else name, value)


def _claim_item(item: Resource, index: int, ref: str, zone: ZoneInfo | None,
                product: tuple[tuple[str, str], ...] | None = None) -> ClaimItem:
    where = f"item[{index}]"
    quantity = item.get("quantity")
    units = None
    if is_object(quantity) and (value := quantity.get("value")) is not None:
        units = number(value, f"{where}.quantity.value", ref)
    sequence = item.get("sequence")
    service_date, no_service_day = _day(item, "servicedDate", "servicedPeriod.start", ref=ref,
                                        zone=zone, where=where)
    return ClaimItem(
        sequence=sequence if isinstance(sequence, int) else index + 1,
        product=product if product is not None else tuple(
            codings(item.get("productOrService"), f"{where}.productOrService", ref)),
        units=units,
        service_date=service_date,
        diagnosis_sequences=_positive_ints(
            item.get("diagnosisSequence"), f"{where}.diagnosisSequence", ref
        ),
        encounters=references(item, "encounter", ref, where),
        no_day=no_service_day,
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
        system=pairs[0][0] if pairs and not codes else None,
    )


def _code(value: object) -> str | None:
    """A claim's status or use, trimmed and lower-cased ("Cancelled" is cancelled); which
    codes are known is scope's to say, once the claim is known to bill B12
    (``adapter.rules.scope``): another claim's odd status is no concern of these checks."""
    written = string(value)
    if written is None:
        return None
    return statuses.normalized(written)


def _providers(resource: Resource, ref: str) -> tuple[str, ...]:
    """Who rendered the service and where: provider, careTeam providers, facility."""
    found = [reference(resource.get("provider"), "provider", ref),
             reference(resource.get("facility"), "facility", ref)]
    if "careTeam" in resource:
        found[1:1] = [reference(member.get("provider"), f"careTeam[{n}].provider", ref)
                      for n, member in enumerate(items(resource, "careTeam", ref))]
    return tuple(dict.fromkeys(p for p in found if p))


def read_claim_head(resource: Resource, ref: str | None = None) -> ClaimHead:
    """Status, use and each line's productOrService: enough to tell a claim out of scope
    (``ref``: the claim's ``ref_of``, when the caller has it)."""
    ref = ref or ref_of(resource)
    status, use = resource.get("status"), resource.get("use")
    return ClaimHead(
        ref=ref,
        status=_code(status),
        use=_code(use),
        products=tuple(tuple(codings(item.get("productOrService"),
                                     f"item[{n}].productOrService", ref))
                       for n, item in enumerate(items(resource, "item", ref))),
    )


def claim_links(resource: Resource) -> set[str]:
    """What a claim points at (diagnosisReference, supportingInfo valueReference), read
    leniently: the claim pass names whatever is malformed."""
    found = set()
    for name, key in (("diagnosis", "diagnosisReference"), ("supportingInfo", "valueReference")):
        entries = resource.get(name)
        for entry in entries if isinstance(entries, list) else ():
            try:
                target = reference(entry.get(key), name, "") if isinstance(entry, dict) else None
            except BadResource:
                continue
            if target:
                found.add(target)
    return found


_LINK_KEYS = (b'"diagnosisReference"', b'"valueReference"')
_LINK = re.compile(rb'"(?:diagnosisReference|valueReference)": ?\{[^{}"]*(?:"(?!reference")'
                   rb'[^"\\]*"[^{}"]*)*"reference": ?"([^"\\]*)"')


def line_links(line: bytes) -> set[str]:
    """``claim_links`` of a claim's raw JSON line, found without parsing it when every
    ``diagnosisReference`` and ``valueReference`` in it is a flat object whose ``reference``
    needs no unescaping (as exports write them); any other line is parsed. The pre-scan of
    claim files reads every B12 claim this way (``adapter.driver``)."""
    found = _LINK.findall(line)
    if len(found) == sum(line.count(key) for key in _LINK_KEYS):
        return {target for raw in found if (target := resolvable(raw.decode()))}
    try:
        resource = orjson.loads(line)
    except orjson.JSONDecodeError:
        return set()  # the claim pass names it
    return claim_links(resource) if isinstance(resource, dict) else set()


def read_claim(resource: Resource, zone: ZoneInfo | None = None,
               head: ClaimHead | None = None) -> ClaimRecord:
    """Every line and diagnosis of a Claim or ExplanationOfBenefit, as written (each line's
    product taken from ``head`` when it was read already)."""
    ref = head.ref if head is not None else ref_of(resource)
    meta = resource.get("meta")
    meta = meta if is_object(meta) else {}
    version, updated = meta.get("versionId"), meta.get("lastUpdated")
    status, use = resource.get("status"), resource.get("use")
    diagnoses = [_claim_diagnosis(dx, n, ref)
                 for n, dx in enumerate(items(resource, "diagnosis", ref))]
    products = head.products if head is not None else None
    lines = [_claim_item(item, n, ref, zone, products[n] if products is not None else None)
             for n, item in enumerate(items(resource, "item", ref))]
    patient = reference(resource.get("patient"), "patient", ref)
    billable_start, billable_no_day = _day(resource, "billablePeriod.start", ref=ref, zone=zone)
    created, created_no_day = _day(resource, "created", ref=ref, zone=zone)
    return ClaimRecord(
        ref=ref,
        version=string(version),
        last_updated=string(updated),
        status=_code(status),
        patient=patient,
        billable_start=billable_start,
        created=created,
        diagnoses=tuple(sorted(diagnoses, key=lambda d: d.sequence)),
        items=tuple(lines),
        supporting=references(resource, "supportingInfo", ref, key="valueReference"),
        use=_code(use),
        providers=_providers(resource, ref),
        payer=read_claim_payer(resource),
        no_day=billable_no_day if billable_start is not None else created_no_day,
    )
