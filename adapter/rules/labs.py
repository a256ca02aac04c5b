"""Do the labs back the diagnosis? (SPEC sections 4 and 4.1)

Codes: lab-missing, lab-not-low, anemia-not-supported.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

from adapter.evidence.facts import ClaimEvidence, LabFact, Linked
from adapter.findings import Finding
from adapter.rules import status
from adapter.rules.policy import Policy, current_confirmed, refs
from adapter.rules.premedication import premedicated


def _lifelong_cause(ev: ClaimEvidence, policy: Policy) -> bool:
    """Pernicious anemia, gastrectomy, bariatric surgery...: once current, no fresh lab needed."""
    return any(code in policy.codes.lifelong_causes
               for c in current_confirmed(ev) for code in c.fact.codes)


def may_be_between(lab: LabFact, start: date | None, end: date, guess: bool = True) -> bool:
    """The lab's day is from ``start`` (None: any time) to ``end``; with ``guess``, a lab
    stamped in UTC counts when one of the days it may be at the clinic is (SPEC 4.1 "Times":
    no facility_timezone to tell, ``LabFact.other_days``)."""
    day = lab.effective
    if (start is None or start <= day) and day <= end:  # the common case: no guess needed
        return True
    return guess and any((start is None or start <= d) and d <= end for d in lab.other_days)


def _b12_status_labs(ev: ClaimEvidence, policy: Policy, guess: bool) -> list[Linked[LabFact]]:
    """Usable B12-status labs on or before the service date (a value or an interpretation)."""
    day = ev.claim.service_date
    return [lab for lab in ev.labs
            if status.usable(lab.fact) and policy.lab_kinds[lab.fact.kind].b12_status
            and may_be_between(lab.fact, None, day, guess)
            and (lab.fact.value is not None or lab.fact.interpretation)]


def _in_lookback(
    labs: list[Linked[LabFact]], ev: ClaimEvidence, days: int, guess: bool
) -> list[Linked[LabFact]]:
    day = ev.claim.service_date
    start = day - timedelta(days=days)
    return [lab for lab in labs if may_be_between(lab.fact, start, day, guess)]


def _shows_deficiency(lab: LabFact, borderline_b12: bool, policy: Policy) -> bool:
    """Low B12 or high MMA count alone; high homocysteine only beside a B12 result below the
    borderline in the window, since folate, B6 and kidney disease raise it too."""
    if lab.kind == "homocysteine" and not borderline_b12:
        return False
    return policy.is_abnormal(lab)


def _below_borderline(labs: list[Linked[LabFact]], policy: Policy) -> bool:
    """A B12 result below the borderline ("<300" is; ">300" and 450 are not)."""
    borderline = policy.thresholds.homocysteine_b12_borderline_pg_ml
    for lab in labs:
        value, comparator = lab.fact.value, lab.fact.comparator
        if lab.fact.kind != "b12" or value is None or comparator in (">", ">="):
            continue
        if value < borderline or (comparator and value <= borderline):
            return True
    return False


def lab_evidence(ev: ClaimEvidence, policy: Policy) -> Iterator[Finding]:
    return _lab_evidence(ev, policy, True)


def _lab_evidence(ev: ClaimEvidence, policy: Policy, guess: bool) -> Iterator[Finding]:
    claimed = policy.claimed_b12(ev)
    if not claimed or _lifelong_cause(ev, policy) or premedicated(ev, policy):
        return
    code = claimed[0].code
    lookback = policy.thresholds.lab_lookback_days
    every = _b12_status_labs(ev, policy, guess)
    recent = _in_lookback(every, ev, lookback, guess)
    if not recent:
        yield Finding("lab-missing",
                      f"No B12, methylmalonic acid or homocysteine result in the {lookback} days "
                      f"before {ev.claim.service_date.isoformat()}, and no lifelong cause is "
                      "documented", diagnosis=code)
        return
    borderline = _below_borderline(recent, policy)
    if not any(_shows_deficiency(lab.fact, borderline, policy) for lab in every):
        high_hcy = any(lab.fact.kind == "homocysteine" and policy.is_abnormal(lab.fact)
                       for lab in recent)
        why = (" (a high homocysteine does not show B12 deficiency without a B12 result below "
               f"{policy.thresholds.homocysteine_b12_borderline_pg_ml:g} pg/mL beside it)"
               if high_hcy else "")
        yield Finding("lab-not-low",
                      f"{len(recent)} B12-status result(s) in the last {lookback} days, none low "
                      f"or abnormal, none ever low before, and no lifelong cause is documented"
                      f"{why}", diagnosis=code, evidence=refs(recent))


def anemia_supported(ev: ClaimEvidence, policy: Policy) -> Iterator[Finding]:
    """An anemia claimed must have been shown by a low hemoglobin at some time on or before
    the service date: treated anemia has a normal hemoglobin today (no recent window)."""
    return _anemia_supported(ev, policy, True)


def _anemia_supported(ev: ClaimEvidence, policy: Policy, guess: bool) -> Iterator[Finding]:
    anemia = next((d.code for d in policy.claimed_b12(ev) if d.code in policy.codes.b12_anemias),
                  None)
    if anemia is None:
        return
    day = ev.claim.service_date
    window = policy.thresholds.hemoglobin_window_days
    start = day - timedelta(days=window) if window is not None else None
    hemoglobin = [lab for lab in ev.labs
                  if lab.fact.kind == "hemoglobin" and status.usable(lab.fact)
                  and may_be_between(lab.fact, start, day, guess)]

    if not any(policy.hemoglobin_low(lab.fact, ev.patient) for lab in hemoglobin):
        threshold, whom = policy.hemoglobin_threshold(ev.patient, day)
        seen = f"{len(hemoglobin)} result(s), none" if hemoglobin else "no result"
        when = f"in the {window} days before" if window is not None else "on or before"
        yield Finding("anemia-not-supported",
                      f"{anemia} codes an anemia but hemoglobin {when} {day.isoformat()} shows "
                      f"{seen} below {threshold:g} g/dL (the cut-off for {whom})",
                      diagnosis=anemia, evidence=refs(hemoglobin))


def labs_guessed(ev: ClaimEvidence, policy: Policy) -> bool:
    """Whether counting a lab stamped in UTC on a day it may be at the clinic changed the lab
    findings: the run then says once to configure ``facility_timezone``."""
    if not any(lab.fact.other_days for lab in ev.labs):
        return False
    for rule in (_lab_evidence, _anemia_supported):
        guessed = [(f.code, f.diagnosis) for f in rule(ev, policy, True)]
        if guessed != [(f.code, f.diagnosis) for f in rule(ev, policy, False)]:
            return True
    return False
