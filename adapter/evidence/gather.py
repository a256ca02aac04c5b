"""One claim + the chart -> ``ClaimEvidence``: explicit links first, then the record (SPEC 3)."""

from __future__ import annotations

from dataclasses import replace
from typing import TypeVar

from adapter.evidence.chart import REFERENCED_TYPES, Chart
from adapter.evidence.facts import (
    AdministrationFact,
    ClaimEvidence,
    ClaimFacts,
    ConditionFact,
    LabFact,
    Linked,
    Path,
)
from adapter.evidence.fields import BadResource
from adapter.evidence.payer import Party
from adapter.notes.day import note_evidence
from adapter.terminology import in_force

F = TypeVar("F", ConditionFact, LabFact, AdministrationFact)
LINKED, RECORD = Path.LINKED, Path.RECORD


def _resolve_diagnoses(claim: ClaimFacts, chart: Chart) -> ClaimFacts:
    """Give a diagnosis written only as a reference the code of the Condition it names: its
    ICD-10-CM code, else its SNOMED CT code mapped (SPEC 4.1, ``dx-derived``)."""
    if all(dx.code is not None or not dx.condition for dx in claim.diagnoses):
        return claim  # nothing to resolve (the common case): no copy
    diagnoses = []
    for dx in claim.diagnoses:
        if dx.code is None and dx.condition:
            target = chart.lookup(dx.condition)
            if isinstance(target, ConditionFact) and (target.written_icd or target.codes):
                code = sorted(target.written_icd or target.codes)[0]
                dx = replace(dx, code=code, written=code, derived_from=target.ref)
        diagnoses.append(dx)
    return replace(claim, diagnoses=tuple(diagnoses))


def _merge(
    record: list[F], linked_refs: set[str], chart: Chart, kind: type[F], claim: ClaimFacts,
    problems: list[BadResource], via: dict[str, str] | None = None,
) -> tuple[Linked[F], ...]:
    """The patient's facts of one kind, each marked linked or record-only. Another patient's
    fact is never evidence: an error names who links it, the claim or (``via``: the linked
    Condition whose evidence points at it) the Condition."""
    merged: dict[str, Linked[F]] = {
        fact.ref: Linked(fact, LINKED if fact.ref in linked_refs else RECORD) for fact in record
    }
    for ref in linked_refs.difference(merged):
        fact = chart.lookup(ref)
        if not isinstance(fact, kind):
            continue
        owner = chart.canonical(fact.patient) if fact.patient else None
        if owner != claim.patient:
            condition = via.get(ref) if via is not None else None
            if condition is not None:
                problems.append(BadResource(
                    condition, f"evidence points at {fact.ref}, which belongs to "
                    f"{owner or 'no patient'}, not {claim.patient} (the patient of "
                    f"{claim.ref}): not counted"))
            else:
                problems.append(BadResource(
                    claim.ref, f"references {fact.ref}, which belongs to "
                    f"{owner or 'no patient'}, not {claim.patient}"))
            continue
        merged[fact.ref] = Linked(fact, LINKED)
    return tuple(merged.values())


def gather(claim: ClaimFacts, chart: Chart) -> ClaimEvidence:
    """Collect what the chart says about the claim's patient, and which of it the claim links."""
    problems: list[BadResource] = []
    claim = _resolve_diagnoses(claim, chart)
    patient = chart.canonical(claim.patient)
    supporting = tuple(chart.canonical(r) for r in claim.supporting)
    diagnoses = tuple(
        replace(d, condition=chart.canonical(d.condition))
        if d.condition and chart.canonical(d.condition) != d.condition else d
        for d in claim.diagnoses
    )
    if (patient, supporting, diagnoses) != (claim.patient, claim.supporting, claim.diagnoses):
        claim = replace(claim, patient=patient, supporting=supporting, diagnoses=diagnoses)
    referenced = set(claim.referenced)
    for ref in sorted(referenced):
        if ref.startswith("#"):  # not silently nothing: the findings would not say why
            problems.append(BadResource(claim.ref, f"references {ref}, a resource contained in "
                                        "the claim: contained resources are not read as "
                                        "evidence"))
        elif ref.startswith("urn:uuid:") or (ref.split("/")[0] in REFERENCED_TYPES
                                             and not chart.has(ref)):
            problems.append(BadResource(claim.ref, f"references {ref}, which is not in the source"))

    encounters = {chart.canonical(e) for item in claim.b12_items for e in item.encounters}
    given = list(chart.administrations.get(patient, ()))
    admins = _merge(
        given,
        {a.ref for a in given if a.context and chart.canonical(a.context) in encounters},
        chart, AdministrationFact, claim, problems,
    )
    b12_dates = claim.b12_dates
    given_for = {
        chart.canonical(reason)
        for a in admins if a.fact.reasons
        and (a.fact.day in b12_dates or any(d in b12_dates for d in a.fact.other_days))
        for reason in a.fact.reasons
    }
    conditions = _merge(
        list(chart.conditions.get(patient, ())), referenced | given_for,
        chart, ConditionFact, claim, problems,
    )
    lab_links = set(referenced)
    via: dict[str, str] = {}  # a lab only a linked Condition's evidence points at: which
    for linked in conditions:
        if linked.path is Path.LINKED and linked.fact.evidence:
            for r in linked.fact.evidence:
                target = chart.canonical(r)
                if target not in referenced:
                    via.setdefault(target, linked.fact.ref)
                lab_links.add(target)
    labs = _merge(list(chart.labs.get(patient, ())), lab_links, chart, LabFact, claim, problems,
                  via)
    notes = note_evidence(claim, chart.notes.get(patient, ()), chart.canonical,
                          patient in chart.note_holders)
    return ClaimEvidence(
        claim=claim,
        patient=chart.patients.get(patient),
        conditions=conditions,
        labs=labs,
        administrations=admins,
        medications=tuple(chart.medications.get(patient, ())),
        procedures=tuple(chart.procedures.get(patient, ())),
        problems=tuple(problems),
        code_set=in_force.for_day(claim.service_date),
        notes=notes,
        loading_stated=frozenset(d.day for d in notes.days if d.loading_phase),
        payers=_payers(claim, chart),
        billed=tuple(sorted({(ref, day) for ref, day in chart.billed.get(patient, ())
                             if ref != claim.ref}, key=lambda billed: billed[1])),
    )


def _payers(claim: ClaimFacts, chart: Chart) -> tuple[Party, ...]:
    """The insurer, then the focal Coverage's payors, each with its Organization's keys when
    the chart holds it (SPEC 4.4)."""
    payer = claim.payer
    named: list[Party] = []
    if payer.insurer is not None:
        named.append(payer.insurer)
    if payer.contained:
        named.extend(payer.contained)
    elif payer.coverage is not None and (coverage := chart.coverage(payer.coverage)) is not None:
        named.extend(coverage.payors)
    found: list[Party] = []
    for party in named:
        org = chart.organization(party.ref) if party.ref else None
        if org is not None:
            party = Party(org.ref, tuple(dict.fromkeys((*org.keys, *party.keys))),
                          tuple(dict.fromkeys((*org.names, *party.names))))
        found.append(party)
    return tuple(found)
