"""Which claims the checks apply to, and the service date they are judged at (SPEC section 4).

A Claim or ExplanationOfBenefit is in scope when one of its lines bills a B12 injection, its
status is not one that is skipped and it bills a service given (not a preauthorization);
everything else is listed as skipped with the reason, never dropped. The service date is the
earliest B12 line date (each line keeps its own, for per-date checks), else the billable
period's start, else the creation date.
"""

from __future__ import annotations

from datetime import date

from adapter.evidence.facts import B12Item, ClaimFacts, ClaimHead, ClaimItem, ClaimRecord, Coding
from adapter.evidence.fields import BadResource
from adapter.mappings import DrugCodes
from adapter.rules.status import NOT_A_SERVICE_USES, SKIPPED_CLAIM_STATUSES
from adapter.terminology import statuses
from adapter.terminology.systems import NDC, RXNORM
from adapter.values import value

EARLIEST, LATEST = date(1900, 1, 1), date(2999, 12, 31)  # a date of service outside: bad input


@value
class Skip:
    """A claim the checks do not apply to; ``reason`` is shown under ``skipped``."""

    reason: str


def b12_product(product: tuple[Coding, ...], drugs: DrugCodes) -> tuple[bool, bool]:
    """(is a B12 injection, is HCPCS J3420) for a line's productOrService."""
    b12 = j3420 = False
    for system, code in product:
        if system in drugs.j3420_systems and code.upper() == drugs.j3420_code:
            b12 = j3420 = True
        elif (system == RXNORM and code in drugs.rxnorm) or (
            system == NDC and drugs.ndc_strength(code) is not None
        ):
            b12 = True
    return b12, j3420


def _b12_item(item: ClaimItem, drugs: DrugCodes) -> B12Item | None:
    is_b12, is_j3420 = b12_product(item.product, drugs)
    if not is_b12:
        return None
    return B12Item(
        sequence=item.sequence,
        is_j3420=is_j3420,
        units=item.units,
        service_date=item.service_date,
        diagnosis_sequences=item.diagnosis_sequences,
        encounters=item.encounters,
    )


def out_of_scope(claim: ClaimHead, drugs: DrugCodes) -> Skip | None:
    """Why the claim is skipped, or None when the checks apply to it. Raises ``BadResource``
    for a B12 claim whose status or use is none of its FHIR codes (read trimmed and
    lower-cased: ``read_claims``): what it bills cannot be told to be a service given."""
    if (skip := _not_a_service(claim)) is not None:
        return skip
    if not any(b12_product(product, drugs)[0] for product in claim.products):
        return NO_B12
    for element, code, allowed in (("status", claim.status, statuses.CLAIM),
                                   ("use", claim.use, statuses.CLAIM_USE)):
        if code is not None and code not in allowed:
            raise BadResource(claim.ref, statuses.unknown(element, code, allowed))
    return None


NO_B12 = Skip("no B12 injection item")


def _not_a_service(claim: ClaimHead | ClaimRecord) -> Skip | None:
    if claim.status in SKIPPED_CLAIM_STATUSES:
        return Skip(f"claim status is {claim.status}")
    if claim.use in NOT_A_SERVICE_USES:
        return Skip(f"use is {claim.use}: not a claim for a service given")
    return None


def in_scope(record: ClaimRecord, drugs: DrugCodes) -> ClaimFacts | Skip:
    """The claim as the rules read it, or why it is skipped.

    Raises ``BadResource`` for a B12 claim that cannot be judged (no patient, no date).
    """
    if (skip := _not_a_service(record)) is not None:
        return skip
    found: list[B12Item] = []
    for n, item in enumerate(record.items):
        line = _b12_item(item, drugs)
        if line is None:
            continue
        if item.no_day is not None:  # a year or a month: the line's date is no day
            raise BadResource(record.ref, item.no_day)
        if line.units is not None and line.units <= 0:
            raise BadResource(record.ref, f"item[{n}].quantity.value is {line.units:g}: a "
                              "line bills a positive number of units")
        found.append(line)
    b12_items = tuple(found)
    if not b12_items:
        return NO_B12
    if not record.patient:
        raise BadResource(record.ref, "Claim has no patient")
    # the earliest B12 line's date (SPEC 4.1: lines need not be listed in date order)
    service_date = min((i.service_date for i in b12_items if i.service_date), default=None)
    if service_date is None:
        if record.no_day is not None:
            raise BadResource(record.ref, record.no_day)
        service_date = record.billable_start or record.created
    if service_date is None:
        raise BadResource(record.ref,
                          "no service date (item.servicedDate, billablePeriod, created)")
    if not EARLIEST <= service_date <= LATEST:
        raise BadResource(record.ref, f"service date {service_date.isoformat()} is out of range")
    return ClaimFacts(
        ref=record.ref,
        version=record.version,
        patient=record.patient,
        service_date=service_date,
        diagnoses=record.diagnoses,
        b12_items=b12_items,
        supporting=record.supporting,
        providers=record.providers,
        payer=record.payer,
    )
