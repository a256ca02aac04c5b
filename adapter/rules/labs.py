"""Do the labs back the diagnosis? (SPEC section 4)

Codes: lab-missing, lab-not-low, anemia-not-supported.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from adapter.evidence.facts import ClaimEvidence, LabFact, Linked
from adapter.findings import Finding
from adapter.rules import status
from adapter.rules.policy import Policy, current_confirmed, refs


def _lifelong_cause(ev: ClaimEvidence, policy: Policy) -> bool:
    """Pernicious anemia, gastrectomy, bariatric surgery...: once current, no fresh lab needed."""
    return any(code in policy.codes.lifelong_causes
               for c in current_confirmed(ev) for code in c.fact.codes)


def _b12_status_labs(ev: ClaimEvidence, policy: Policy) -> list[Linked[LabFact]]:
    """Usable B12-status labs on or before the service date (a value or an interpretation)."""
    day = ev.claim.service_date
    return [lab for lab in ev.labs
            if status.usable(lab.fact) and policy.lab_kinds[lab.fact.kind].b12_status
            and lab.fact.effective <= day
            and (lab.fact.value is not None or lab.fact.interpretation)]


def _in_lookback(
    labs: list[Linked[LabFact]], ev: ClaimEvidence, days: int
) -> list[Linked[LabFact]]:
    start = ev.claim.service_date - timedelta(days=days)
    return [lab for lab in labs if lab.fact.effective >= start]


def lab_evidence(ev: ClaimEvidence, policy: Policy) -> Iterator[Finding]:
    claimed = policy.claimed_b12(ev)
    if not claimed or _lifelong_cause(ev, policy):
        return
    code = claimed[0].code
    lookback = policy.thresholds.lab_lookback_days
    every = _b12_status_labs(ev, policy)
    recent = _in_lookback(every, ev, lookback)
    if not recent:
        yield Finding("lab-missing",
                      f"No B12, methylmalonic acid or homocysteine result in the {lookback} days "
                      f"before {ev.claim.service_date.isoformat()}, and no lifelong cause is "
                      "documented", diagnosis=code)
    elif not any(policy.is_abnormal(lab.fact) for lab in every):
        yield Finding("lab-not-low",
                      f"{len(recent)} B12-status result(s) in the last {lookback} days, none low "
                      "or abnormal, none ever low before, and no lifelong cause is documented",
                      diagnosis=code, evidence=refs(recent))


def anemia_supported(ev: ClaimEvidence, policy: Policy) -> Iterator[Finding]:
    anemia = next((d.code for d in policy.claimed_b12(ev) if d.code in policy.codes.b12_anemias),
                  None)
    if anemia is None:
        return
    threshold, whom = policy.hemoglobin_threshold(ev)
    day = ev.claim.service_date
    window = policy.thresholds.hemoglobin_window_days
    start = day - timedelta(days=window)
    hemoglobin = [lab for lab in ev.labs
                  if lab.fact.kind == "hemoglobin" and status.usable(lab.fact)
                  and start <= lab.fact.effective <= day]

    def low(lab: LabFact) -> bool:
        if lab.value is not None:
            return lab.value < threshold
        return bool(lab.interpretation & {"L", "LL"})

    if not any(low(lab.fact) for lab in hemoglobin):
        seen = f"{len(hemoglobin)} result(s), none" if hemoglobin else "no result"
        yield Finding("anemia-not-supported",
                      f"{anemia} codes an anemia but hemoglobin in the {window} days before "
                      f"{day.isoformat()} shows {seen} below {threshold:g} g/dL (the cut-off for "
                      f"{whom})", diagnosis=anemia, evidence=refs(hemoglobin))
