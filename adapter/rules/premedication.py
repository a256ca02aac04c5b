"""B12 as premedication for pemetrexed or pralatrexate (LCD L33967, SPEC 4.1).

Covered whatever the diagnosis: while the patient is in a course of either drug, the claim is
indicated (no ``dx-no-indication``, no B12 lab findings), and each B12 date must fit the
drug's schedule or ``premedication-timing`` fires. A course runs from the drug's first date
less the first-dose window and one repeat interval (a loading dose given too early is a
timing problem, not a claim without indication) to its last date plus the longest repeat
interval; the first date is that of the first administration, else of the first request.

Code: premedication-timing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from adapter.evidence.facts import ClaimEvidence
from adapter.findings import Finding
from adapter.rules import status
from adapter.rules.policy import Policy
from adapter.thresholds import PremedicationSchedule


def courses(ev: ClaimEvidence, policy: Policy) -> dict[str, tuple[date, date, list[str]]]:
    """Drug -> (first date, last date, evidence) for each premedicated drug whose course
    covers the claim's service date."""
    found: dict[str, tuple[date, date, list[str]]] = {}
    if not ev.medications:
        return found
    for drug, schedule in policy.thresholds.premedication.items():
        uses = [m for m in ev.medications if m.drug == drug and m.day and status.ordered(m)]
        given = [m for m in uses if m.kind == "MedicationAdministration"]
        dated = sorted(m.day for m in (given or uses) if m.day)
        if not dated:
            continue
        first, last = dated[0], max(m.day for m in uses if m.day)
        day = ev.claim.service_date
        lead = schedule.first_dose_days_before + schedule.repeat_max_days
        if (first - day).days <= lead and (day - last).days <= schedule.repeat_max_days:
            found[drug] = (first, last, sorted(m.ref for m in uses))
    return found


def premedicated(ev: ClaimEvidence, policy: Policy) -> bool:
    return bool(courses(ev, policy))


def _fits(day: date, first: date, earlier_b12: list[date],
          schedule: PremedicationSchedule) -> bool:
    if day <= first:
        return (first - day).days <= schedule.first_dose_days_before
    previous = max((d for d in earlier_b12 if d < day), default=None)
    return previous is not None and \
        schedule.repeat_min_days <= (day - previous).days <= schedule.repeat_max_days


def premedication_timing(ev: ClaimEvidence, policy: Policy) -> Iterator[Finding]:
    active = courses(ev, policy)
    if not active:
        return
    b12_days = sorted({a.fact.day for a in ev.administrations
                       if a.fact.day and status.given(a.fact)} | set(ev.claim.b12_dates))
    schedules = policy.thresholds.premedication
    for day in ev.claim.b12_dates:
        if any(_fits(day, first, b12_days, schedules[drug])
               for drug, (first, _, _) in active.items()):
            continue
        courses_seen = "; ".join(
            f"{drug} first given {first.isoformat()} (B12 due within "
            f"{schedules[drug].first_dose_days_before} days before it, then every "
            f"{schedules[drug].repeat_min_days}-{schedules[drug].repeat_max_days} days)"
            for drug, (first, _, _) in sorted(active.items()))
        yield Finding("premedication-timing",
                      f"B12 on {day.isoformat()} fits no premedication schedule: {courses_seen}",
                      evidence=tuple(sorted({r for _, _, refs in active.values() for r in refs})),
                      day=day)
