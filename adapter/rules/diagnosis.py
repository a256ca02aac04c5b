"""Is the claimed diagnosis valid, an indication, and what the chart documents? (SPEC 4, 4.1)

Codes: dx-invalid, dx-derived, dx-no-indication, dx-not-documented,
dx-more-specific-than-chart, dx-not-current, dx-unconfirmed, specificity-loss, dx-not-b12,
dx-drift, evidence-not-linked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from functools import lru_cache

from adapter.evidence.facts import ClaimEvidence, ConditionFact, Linked, Path
from adapter.findings import Finding
from adapter.rules import status
from adapter.rules.policy import Policy, code_set, refs
from adapter.rules.premedication import premedicated
from adapter.terminology.systems import ICD10CM


def dx_invalid(ev: ClaimEvidence, policy: Policy) -> Iterator[Finding]:
    """A code present and wrong, or a written diagnosis with no ICD-10-CM coding. A diagnosis
    given only by reference is judged by the code taken from its Condition (``dx-derived``)."""
    codes = code_set(ev)
    if not ev.claim.diagnoses:
        yield Finding("dx-invalid", "Claim has no diagnosis")
    for dx in ev.claim.diagnoses:
        taken = f" (taken from {dx.derived_from})" if dx.derived_from else ""
        if dx.code is None:
            if dx.condition and not dx.written:
                continue  # only a reference to a Condition whose code cannot be read as ICD
            shown = f" ({dx.written})" if dx.written else ""
            yield Finding("dx-invalid", f"Diagnosis {dx.sequence}{shown} has no ICD-10-CM code"
                          f"{'' if dx.system is None else _coded_under(dx.system)}",
                          diagnosis=dx.written or None)
        elif not codes.is_billable(dx.code):
            why = ("a category, not a billable code" if codes.title(dx.code)
                   else "not an ICD-10-CM code")
            yield Finding("dx-invalid", f"{dx.code}{taken} is {why} in ICD-10-CM "
                          f"{codes.label}", diagnosis=dx.code)


def _coded_under(system: str) -> str:
    """Why a code written is no ICD-10-CM code when it may look like one: its system."""
    if not system:
        return f": it is coded with no system (ICD-10-CM's is {ICD10CM})"
    return f": it is coded under {system}, not ICD-10-CM ({ICD10CM})"


def dx_derived(ev: ClaimEvidence, policy: Policy) -> Iterator[Finding]:
    """Auditors want the claim to carry the ICD-10-CM code itself, not only a reference."""
    for dx in ev.claim.diagnoses:
        if dx.derived_from and dx.code:
            yield Finding("dx-derived",
                          f"Diagnosis {dx.sequence} carries no ICD-10-CM code; {dx.code} taken "
                          f"from {dx.derived_from}", diagnosis=dx.code,
                          evidence=(dx.derived_from,))


def dx_no_indication(ev: ClaimEvidence, policy: Policy) -> Iterator[Finding]:
    if any(policy.is_indication(dx.code) for dx in ev.claim.diagnoses):
        return
    if premedicated(ev, policy):
        return  # B12 before pemetrexed or pralatrexate is covered whatever the diagnosis
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
        for code in c.fact.codes.intersection(codes):
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
    if fact.clinical_status in ("resolved", "inactive", "remission"):
        return f"{fact.ref} is {fact.clinical_status} with no abatement date"
    return f"{fact.ref} is {fact.clinical_status or 'abated'}"


def _chart_match(ev: ClaimEvidence, policy: Policy, code: str) -> Iterator[Finding]:
    """Compare one claimed B12 code with the B12 diagnoses the chart documents."""
    ladder = policy.codes.ladder
    rank = ladder[code]
    day = ev.claim.service_date
    counting = [c for c in ev.conditions if status.counts(c.fact)]
    exact = [c for c in counting if code in c.fact.codes]
    spoken_by = [h for h, spoken in policy.codes.history.items() if code in spoken]
    history = [c for c in counting if not c.fact.codes.isdisjoint(spoken_by)]
    on_ladder = [c for c in counting if not c.fact.codes.isdisjoint(ladder)]
    if not (exact or history or on_ladder):
        yield Finding("dx-not-documented",
                      f"No Condition in the chart documents {code} or any B12 diagnosis",
                      diagnosis=code)
        return

    current = [c for c in on_ladder if status.current_at(c.fact, day)]
    current_exact = [c for c in current if code in c.fact.codes]
    charted = _documented_by(current, ladder)
    confirmed = _documented_by([c for c in current if status.confirmed(c.fact)], ladder)

    at_or_above = [c for c in current if max(ladder[x] for x in c.fact.codes.intersection(ladder))
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

    claimed = {d.code for d in policy.claimed_b12(ev) if d.code}
    higher = {c: found for c, found in confirmed.items() if ladder[c] > rank}
    if higher and not any(ladder[c] >= ladder[_highest(higher, ladder)] for c in claimed
                          if c != code):
        best = _highest(higher, ladder)
        yield Finding("specificity-loss",
                      f"Chart documents {best} ({code_set(ev).title(best)}); "
                      f"claim codes only {code}",
                      diagnosis=code, suggested_code=best, evidence=refs(higher[best]))
    elif charted and not current_exact:
        best = _highest(charted, ladder)
        if ladder[best] < rank:
            yield Finding("dx-more-specific-than-chart",
                          f"Claim codes {code} but the chart documents only {best} "
                          f"({code_set(ev).title(best)})",
                          diagnosis=code, suggested_code=best, evidence=refs(charted[best]))
        elif ladder[best] == rank:
            yield Finding("dx-not-documented",
                          f"Claim codes {code}; the chart documents {', '.join(sorted(charted))}",
                          diagnosis=code, evidence=refs(charted[best]))


def _cause_documented(ev: ClaimEvidence, policy: Policy, code: str) -> Iterator[Finding]:
    """A claimed malabsorption cause needs a Condition documenting it (the same family:
    K50.- for a claimed K50.10) as much as a B12 diagnosis does."""
    family = policy.codes.causes.family(code)
    if family is None:
        return
    if not any(family.matches(charted) for c in ev.conditions if status.counts(c.fact)
               for charted in c.fact.codes):
        yield Finding("dx-not-documented",
                      f"No Condition in the chart documents {code} ({code_set(ev).title(code)}), "
                      "claimed as the cause of B12 malabsorption", diagnosis=code)


def chart_documents_claim(ev: ClaimEvidence, policy: Policy) -> Iterator[Finding]:
    for dx in ev.claim.diagnoses:
        if dx.code in policy.codes.b12_diagnoses:
            yield from _chart_match(ev, policy, dx.code)
        elif dx.code and dx.code in policy.codes.causes:
            yield from _cause_documented(ev, policy, dx.code)


def _says(text: str, words: tuple[str, ...]) -> bool:
    return _words_pattern(words).search(text) is not None


@lru_cache(maxsize=64)
def _words_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    """Any of the words, at the start of a word (one pattern per word list: this runs per
    Condition of every claim)."""
    return re.compile("|".join(rf"\b{re.escape(word)}" for word in words) or r"(?!)")


def dx_not_b12(ev: ClaimEvidence, policy: Policy) -> Iterator[Finding]:
    """E53.8 is shared with folate, biotin and pantothenic-acid deficiency: the Conditions
    documenting it must not all be about another vitamin."""
    if "E53.8" not in {d.code for d in ev.claim.diagnoses}:
        return
    wording = policy.codes.e53_8_wording
    day = ev.claim.service_date
    documenting = [c for c in ev.conditions if "E53.8" in c.fact.codes
                   and status.counts(c.fact) and status.current_at(c.fact, day)]
    if not documenting:
        return

    def about_b12(fact: ConditionFact) -> bool:
        return bool(fact.snomed & wording.b12_snomed) or _says(fact.text.lower(),
                                                               wording.b12_words)

    if any(about_b12(c.fact) for c in documenting):
        return
    other = [c for c in documenting if _says(c.fact.text.lower(), wording.other_words)]
    if other:
        said = "; ".join(f"{c.fact.ref} says {c.fact.text!r}" for c in other)
        yield Finding("dx-not-b12",
                      f"E53.8 is documented for a deficiency other than B12 ({said}); nothing in "
                      "the chart says B12", diagnosis="E53.8", evidence=refs(other))


def dx_drift(ev: ClaimEvidence, policy: Policy) -> Iterator[Finding]:
    """The assessment of the day (an encounter-diagnosis Condition on the service date or on
    the claim's encounter) outranks an old problem-list entry: a claimed B12 code it does not
    document has drifted, whichever way (SPEC 4.1: "a different B12 code"); a more specific
    assessment is ``specificity-loss`` too, which suggests the code."""
    ladder = policy.codes.ladder
    day = ev.claim.service_date
    assessed = [c for c in ev.conditions
                if policy.of_the_day(c.fact, ev.claim)
                and status.counts(c.fact) and c.fact.codes.intersection(ladder)]
    if not assessed:
        return
    of_the_day = {code for c in assessed for code in c.fact.codes.intersection(ladder)}
    for dx in policy.claimed_b12(ev):
        assert dx.code is not None
        if dx.code in of_the_day:
            continue
        shown = ", ".join(sorted(of_the_day))
        yield Finding("dx-drift",
                      f"Claim codes {dx.code}; the assessment of {day.isoformat()} "
                      f"({', '.join(refs(assessed))}, encounter diagnosis) documents {shown}",
                      diagnosis=dx.code, evidence=refs(assessed))


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
            found = ("reached only through the injection's record (its encounter or reason), "
                     if any(c.path is Path.LINKED for c in backing)
                     else "found in the patient's record; ")
            yield Finding("evidence-not-linked",
                          f"{dx.code} is documented by {', '.join(refs(backing))}, {found}"
                          "the claim references neither it nor a B12 lab",
                          diagnosis=dx.code, evidence=refs(backing))
