"""Is the claimed diagnosis valid, an indication, and what the chart documents? (SPEC section 4)

Codes: dx-invalid, dx-no-indication, dx-not-documented, dx-more-specific-than-chart,
dx-not-current, dx-unconfirmed, specificity-loss, evidence-not-linked.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from adapter.evidence.facts import ClaimEvidence, ConditionFact, Linked
from adapter.findings import Finding
from adapter.rules import status
from adapter.rules.policy import Policy, refs
from adapter.terminology import icd10cm


def dx_invalid(ev: ClaimEvidence, policy: Policy) -> Iterator[Finding]:
    if not ev.claim.diagnoses:
        yield Finding("dx-invalid", "Claim has no diagnosis")
    for dx in ev.claim.diagnoses:
        if dx.code is None:
            shown = f" ({dx.written})" if dx.written else ""
            yield Finding("dx-invalid", f"Diagnosis {dx.sequence}{shown} has no ICD-10-CM code",
                          diagnosis=dx.written or None)
        elif not icd10cm.is_billable(dx.code):
            why = ("a category, not a billable code" if icd10cm.title(dx.code)
                   else "not an ICD-10-CM code")
            yield Finding("dx-invalid", f"{dx.code} is {why}", diagnosis=dx.code)


def dx_no_indication(ev: ClaimEvidence, policy: Policy) -> Iterator[Finding]:
    if any(policy.is_indication(dx.code) for dx in ev.claim.diagnoses):
        return
    codes = [dx.code for dx in ev.claim.diagnoses if dx.code]
    symptoms = [c for c in codes if c in policy.codes.symptoms]
    if symptoms:
        detail = f"only symptoms ({', '.join(symptoms)})"
    else:
        detail = f"only {', '.join(codes)}" if codes else "no usable diagnosis"
    yield Finding("dx-no-indication",
                  f"No diagnosis on the claim is an indication for B12 injections: {detail}",
                  diagnosis=codes[0] if codes else None)


def _documented_by(conditions: list[Linked[ConditionFact]], codes: dict[str, int]
                   ) -> dict[str, list[Linked[ConditionFact]]]:
    """Ladder code -> the Conditions documenting it."""
    found: dict[str, list[Linked[ConditionFact]]] = {}
    for c in conditions:
        for code in c.fact.codes & codes.keys():
            found.setdefault(code, []).append(c)
    return found


def _highest(found: dict[str, list[Linked[ConditionFact]]], ladder: dict[str, int]) -> str:
    return max(found, key=lambda code: (ladder[code], code))


def _not_current_because(fact: ConditionFact, day: date, policy: Policy) -> str:
    """Why a Condition does not document a current diagnosis, in a few words."""
    if any(code in policy.codes.history for code in fact.codes):
        history = ", ".join(sorted(c for c in fact.codes if c in policy.codes.history))
        return f"{fact.ref} is a personal-history code ({history})"
    if fact.onset and fact.onset > day:
        return f"{fact.ref} has onset {fact.onset.isoformat()}, after the service date"
    if fact.abatement and fact.abatement <= day:
        return f"{fact.ref} abated {fact.abatement.isoformat()}"
    return f"{fact.ref} is {fact.clinical_status or 'abated'}"


def _chart_match(ev: ClaimEvidence, policy: Policy, code: str) -> Iterator[Finding]:
    """Compare one claimed B12 code with the B12 diagnoses the chart documents."""
    ladder = policy.codes.ladder
    rank = ladder[code]
    day = ev.claim.service_date
    counting = [c for c in ev.conditions if status.counts(c.fact)]
    exact = [c for c in counting if code in c.fact.codes]
    history = [c for c in counting if any(
        h in c.fact.codes and code in spoken for h, spoken in policy.codes.history.items())]
    on_ladder = [c for c in counting if c.fact.codes & ladder.keys()]
    if not (exact or history or on_ladder):
        yield Finding("dx-not-documented",
                      f"No Condition in the chart documents {code} or any B12 diagnosis",
                      diagnosis=code)
        return

    current = [c for c in on_ladder if status.current_at(c.fact, day)]
    current_exact = [c for c in current if code in c.fact.codes]
    charted = _documented_by(current, ladder)
    confirmed = _documented_by([c for c in current if status.confirmed(c.fact)], ladder)

    at_or_above = [c for c in current if max(ladder[x] for x in c.fact.codes & ladder.keys())
                   >= rank]
    if not at_or_above and (exact or history or not current):
        stale = exact + history or on_ladder
        reasons = "; ".join(_not_current_because(c.fact, day, policy) for c in stale)
        yield Finding("dx-not-current",
                      f"No current Condition documents {code} on {day.isoformat()}: {reasons}",
                      diagnosis=code, evidence=refs(stale))
    documenting = current_exact or current
    if documenting and not any(status.confirmed(c.fact) for c in documenting):
        verification = documenting[0].fact.verification_status
        yield Finding("dx-unconfirmed", f"The Condition documenting {code} is {verification}, "
                      "not confirmed", diagnosis=code, evidence=refs(documenting))

    claimed = {d.code for d in policy.claimed_b12(ev)}
    higher = {c: found for c, found in confirmed.items() if ladder[c] > rank}
    if higher and not any(ladder[c] >= ladder[_highest(higher, ladder)] for c in claimed
                          if c != code):
        best = _highest(higher, ladder)
        yield Finding("specificity-loss",
                      f"Chart documents {best} ({icd10cm.title(best)}); claim codes only {code}",
                      diagnosis=code, suggested_code=best, evidence=refs(higher[best]))
    elif charted and not current_exact:
        best = _highest(charted, ladder)
        if ladder[best] < rank:
            yield Finding("dx-more-specific-than-chart",
                          f"Claim codes {code} but the chart documents only {best} "
                          f"({icd10cm.title(best)})",
                          diagnosis=code, suggested_code=best, evidence=refs(charted[best]))
        elif ladder[best] == rank:
            yield Finding("dx-not-documented",
                          f"Claim codes {code}; the chart documents {', '.join(sorted(charted))}",
                          diagnosis=code, evidence=refs(charted[best]))


def chart_documents_claim(ev: ClaimEvidence, policy: Policy) -> Iterator[Finding]:
    for dx in policy.claimed_b12(ev):
        assert dx.code is not None
        yield from _chart_match(ev, policy, dx.code)


def evidence_not_linked(ev: ClaimEvidence, policy: Policy) -> Iterator[Finding]:
    """Auditors want the claim to point at the Condition or the lab that backs it."""
    referenced = ev.claim.referenced
    if any(lab.fact.ref in referenced and status.usable(lab.fact)
           and policy.lab_kinds[lab.fact.kind].b12_status for lab in ev.labs):
        return
    day = ev.claim.service_date
    for dx in policy.claimed_b12(ev):
        backing = [c for c in ev.conditions if status.counts(c.fact) and dx.code in c.fact.codes
                   and status.current_at(c.fact, day)]
        if backing and not any(c.fact.ref in referenced for c in backing):
            yield Finding("evidence-not-linked",
                          f"{dx.code} is documented by {', '.join(refs(backing))}, found in the "
                          "patient's record; the claim references neither it nor a B12 lab",
                          diagnosis=dx.code, evidence=refs(backing))
