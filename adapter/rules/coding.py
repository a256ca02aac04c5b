"""Is the claim coded the way ICD-10-CM and the payer expect? (SPEC section 4)

Codes: manifestation-sequencing, cause-not-coded, item-dx-link.
"""

from __future__ import annotations

from collections.abc import Iterator

from adapter.evidence.facts import ClaimEvidence
from adapter.findings import Finding
from adapter.rules.policy import Policy, code_set, current_confirmed, refs
from adapter.rules.premedication import premedicated


def manifestation_sequencing(ev: ClaimEvidence, policy: Policy) -> Iterator[Finding]:
    """A "code first" manifestation of B12 deficiency (read from the ICD-10-CM notes) must
    follow an underlying B12 diagnosis; the notes say "such as", so any B12 diagnosis listed
    before it will do (G63's note names only the range E40-E64)."""
    diagnoses = ev.claim.diagnoses
    underlying = policy.codes.b12_diagnoses
    words = policy.codes.manifestation_note_words
    codes = code_set(ev)
    for position, dx in enumerate(diagnoses):
        if not dx.code or dx.code in policy.codes.manifestation_excluded or \
                not codes.is_manifestation_of(dx.code, underlying, words):
            continue
        before = [d.code for d in diagnoses[:position] if d.code in underlying]
        if position == 0:
            problem = "is first-listed; a manifestation code may never be"
        elif not before:
            problem = "does not follow a B12 diagnosis (E53.8, D51.-) it must be sequenced after"
        else:
            continue
        yield Finding("manifestation-sequencing",
                      f"{dx.code} ({codes.title(dx.code)}) {problem}", diagnosis=dx.code)


def cause_not_coded(ev: ClaimEvidence, policy: Policy) -> Iterator[Finding]:
    claimed = {d.code for d in ev.claim.diagnoses if d.code}
    missing = {code: c for c in current_confirmed(ev) for code in c.fact.codes
               if code in policy.codes.causes and code not in claimed}
    if missing:
        codes = sorted(missing)
        yield Finding("cause-not-coded",
                      f"The chart documents {', '.join(codes)} (cause of B12 malabsorption), "
                      "absent from the claim",
                      evidence=refs(list(missing.values())))


def item_dx_link(ev: ClaimEvidence, policy: Policy) -> Iterator[Finding]:
    """The B12 line must point at an indication (under premedication, any diagnosis will do:
    the cancer treated is what the line should point at)."""
    by_sequence = {d.sequence: d for d in ev.claim.diagnoses}
    indicated_anyway = premedicated(ev, policy)
    for item in ev.claim.b12_items:
        if not item.diagnosis_sequences:
            if ev.claim.ref.startswith("ExplanationOfBenefit/"):
                continue  # payer lines often carry no pointer (SPEC 4.1, CARIN Blue Button)
            yield Finding("item-dx-link",
                          f"B12 item {item.sequence} has no diagnosisSequence")
            return
        pointed = [by_sequence[s] for s in item.diagnosis_sequences if s in by_sequence]
        if indicated_anyway and pointed:
            continue
        if not any(policy.is_indication(d.code) for d in pointed):
            shown = ", ".join(f"{s}" for s in item.diagnosis_sequences)
            codes = ", ".join(d.code or d.written for d in pointed) or "nothing"
            yield Finding("item-dx-link",
                          f"B12 item {item.sequence} points at diagnosis {shown} ({codes}), "
                          "not at an indication",
                          diagnosis=pointed[0].code if pointed else None)
            return
