"""Was each injection given, and do the billed units match the doses? (SPEC 4, 4.1)

A claim may bill B12 on several dates (loading doses): both checks are judged per line date,
and every finding names its date. Only a completed administration of an injectable counts: an
oral, sublingual or nasal product is self-administered, not the injection J3420 bills.

Codes: admin-missing, admin-not-recorded, dose-units-mismatch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date

from adapter.evidence.facts import AdministrationFact, ClaimEvidence, Linked
from adapter.findings import Finding
from adapter.rules import status
from adapter.rules.policy import Policy


def _given_on(ev: ClaimEvidence, day: date) -> list[Linked[AdministrationFact]]:
    """The injections given on ``day``; when none was stamped that day, those stamped in UTC
    that may be that day at the clinic (SPEC 4.1 "Times": no facility_timezone to tell)."""
    given = [a for a in ev.administrations if status.given(a.fact)]
    return [a for a in given if a.fact.day == day] \
        or [a for a in given if day in a.fact.other_days]


def guessed_days(ev: ClaimEvidence) -> tuple[date, ...]:
    """The B12 dates an injection was matched to only by guessing the day of a UTC
    timestamp: the run then says once to configure ``facility_timezone``."""
    days: list[date] = []
    for day in ev.claim.b12_dates:
        given = _given_on(ev, day)
        if given and all(a.fact.day != day for a in given):
            days.append(day)
    return tuple(days)


def _recorded_otherwise(ev: ClaimEvidence, day: date) -> list[str]:
    """An injection procedure that day and a B12 order or statement: the shot is documented,
    only its MedicationAdministration is missing (``admin-not-recorded``)."""
    procedures = [p.ref for p in ev.procedures if p.day == day and status.performed(p)]
    orders = [m.ref for m in ev.medications
              if m.drug == "b12" and m.kind in ("MedicationRequest", "MedicationStatement")
              and status.ordered(m) and not m.self_administered
              and (m.day is None or m.day <= day)]
    return sorted(procedures + orders) if procedures and orders else []


def admin_missing(ev: ClaimEvidence, policy: Policy) -> Iterator[Finding]:
    for day in ev.claim.b12_dates:
        if _given_on(ev, day):
            continue
        documented = _recorded_otherwise(ev, day)
        if documented:
            yield Finding("admin-not-recorded",
                          f"B12 injection on {day.isoformat()} is documented by "
                          f"{', '.join(documented)}, but no MedicationAdministration records it",
                          evidence=tuple(documented), day=day)
            continue
        others = [a.fact for a in ev.administrations if a.fact.day == day]
        notes = [f"{a.ref} is self-administered (oral, sublingual or nasal), not the injection"
                 if a.self_administered else f"{a.ref} is {a.status or 'without status'}"
                 for a in sorted(others, key=lambda a: a.ref)]
        extra = f" ({'; '.join(notes)})" if notes else ""
        yield Finding("admin-missing",
                      f"No completed B12 MedicationAdministration (an injection) on "
                      f"{day.isoformat()}{extra}",
                      evidence=tuple(sorted(a.ref for a in others)), day=day)


def dose_units(ev: ClaimEvidence, policy: Policy) -> Iterator[Finding]:
    """J3420 is "up to 1000 mcg": units billed on a date = ceil(mcg given that day / 1000)."""
    by_day: dict[date, float] = {}
    for item in ev.claim.b12_items:
        if item.is_j3420:
            day = ev.claim.item_date(item)
            by_day[day] = by_day.get(day, 0.0) + (item.units if item.units is not None else 1.0)
    for day, billed in sorted(by_day.items()):
        given = _given_on(ev, day)
        if not given or any(a.fact.dose_ug is None for a in given):
            continue
        total_ug = sum(a.fact.dose_ug or 0.0 for a in given)
        if not math.isfinite(total_ug):  # doses each finite, their sum past a float
            continue
        expected = math.ceil(round(total_ug / policy.mcg_per_unit, 6))
        if billed != expected:
            yield Finding("dose-units-mismatch",
                          f"J3420 billed {billed:g} unit(s) on {day.isoformat()}; {total_ug:g} mcg "
                          f"given that day is {expected} unit(s)",
                          evidence=tuple(sorted(a.fact.ref for a in given)), day=day)
