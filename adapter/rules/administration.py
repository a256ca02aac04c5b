"""Was the injection given, and do the billed units match the dose? (SPEC section 4)

Codes: admin-missing, dose-units-mismatch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from adapter.evidence.facts import ClaimEvidence
from adapter.findings import Finding
from adapter.rules import status
from adapter.rules.policy import Policy


def _given_that_day(ev: ClaimEvidence) -> list:
    day = ev.claim.service_date
    return [a for a in ev.administrations if status.given(a.fact) and a.fact.day == day]


def admin_missing(ev: ClaimEvidence, policy: Policy) -> Iterator[Finding]:
    if _given_that_day(ev):
        return
    day = ev.claim.service_date
    others = sorted(a.fact.ref for a in ev.administrations if a.fact.day == day)
    extra = f" ({', '.join(others)} not completed)" if others else ""
    yield Finding("admin-missing",
                  f"No completed B12 MedicationAdministration on {day.isoformat()}{extra}",
                  evidence=tuple(others))


def dose_units(ev: ClaimEvidence, policy: Policy) -> Iterator[Finding]:
    """J3420 is "up to 1000 mcg": units billed = ceil(total mcg given that day / 1000)."""
    j3420 = [item for item in ev.claim.b12_items if item.is_j3420]
    given = _given_that_day(ev)
    if not j3420 or not given or any(a.fact.dose_ug is None for a in given):
        return
    total_ug = sum(a.fact.dose_ug or 0.0 for a in given)
    expected = math.ceil(round(total_ug / policy.mcg_per_unit, 6))
    billed = sum(item.units if item.units is not None else 1.0 for item in j3420)
    if billed != expected:
        yield Finding("dose-units-mismatch",
                      f"J3420 billed {billed:g} unit(s); {total_ug:g} mcg given on "
                      f"{ev.claim.service_date.isoformat()} is {expected} unit(s)",
                      evidence=tuple(sorted(a.fact.ref for a in given)))
