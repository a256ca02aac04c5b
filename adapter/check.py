"""One claim -> its outcome: read it, decide its scope, gather its evidence, run the rules.

Pure: the chart is read, never changed, and nothing is written anywhere; the driver hands the
outcomes to the sinks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache
from typing import Any

from adapter.evidence.chart import Chart
from adapter.evidence.facts import ClaimEvidence, ClaimFacts, Path
from adapter.evidence.fields import BadResource, has_id, ref_of
from adapter.evidence.gather import gather
from adapter.evidence.names import parts_key
from adapter.evidence.read_claims import read_claim, read_claim_head
from adapter.findings import Finding
from adapter.outcomes import NO_NAMES, ClaimOutcome, ClaimResult, Problem
from adapter.rules import Policy, check_each
from adapter.rules.administration import guessed_days
from adapter.rules.coverage import applicable
from adapter.rules.labs import labs_guessed
from adapter.rules.scope import NO_B12, Skip, in_scope, out_of_scope
from adapter.sources.base import Unbilled
from adapter.terminology.releases import Needed
from adapter.values import value


@value
class InScope:
    """A claim the rules will judge, waiting for its chart."""

    facts: ClaimFacts
    last_updated: str | None


def problem(exc: BadResource) -> Problem:
    return Problem(exc.ref, exc.problem)


def read_scoped(resource: dict[str, Any], policy: Policy) -> InScope | ClaimOutcome:
    """The claim in scope, or its outcome already: skipped, or unreadable."""
    ref = ref_of(resource)
    updated = last_updated(resource)
    if not has_id(ref):
        return ClaimOutcome(ref, updated, problems=(Problem(
            ref, "has no id (or not a FHIR id): it cannot be named in a report or a "
            "DetectedIssue"),))
    try:
        head = read_claim_head(resource, ref)
        if (skip := out_of_scope(head, policy.drugs)) is not None:
            return ClaimOutcome(ref, updated, skipped=skip.reason)
        record = read_claim(resource, policy.zone, head)
        scoped = in_scope(record, policy.drugs)
    except BadResource as exc:
        return ClaimOutcome(ref, updated, problems=(problem(exc),))
    if isinstance(scoped, Skip):
        return ClaimOutcome(record.ref, updated, skipped=scoped.reason)
    return InScope(scoped, updated)


def unbilled(claim: Unbilled) -> ClaimOutcome:
    """A claim the file scan passed over, its line naming no B12 product: skipped unparsed."""
    return ClaimOutcome(claim.ref, None, skipped=NO_B12.reason)


def last_updated(resource: dict[str, Any]) -> str | None:
    """``meta.lastUpdated`` as the server sent it (as text, even when it is not a string), so
    a sync can place every claim it saw in time, or say which one it cannot."""
    meta = resource.get("meta")
    value = meta.get("lastUpdated") if isinstance(meta, dict) else None
    return value if isinstance(value, str) or value is None else repr(value)


def with_paths(findings: list[Finding], evidence: ClaimEvidence) -> tuple[Finding, ...]:
    """Mark which of each finding's evidence came through explicit links (SPEC section 3)."""
    if not any(finding.evidence for finding in findings):
        return tuple(findings)
    linked = {item.fact.ref for group in (evidence.conditions, evidence.labs,
                                          evidence.administrations)
              for item in group if item.path is Path.LINKED}
    return tuple(replace(finding, linked=frozenset(linked.intersection(finding.evidence)))
                 if finding.evidence else finding for finding in findings)


def check_claim(claim: InScope, chart: Chart, policy: Policy, *,
                evidence: bool = True) -> ClaimOutcome:
    """Judge one claim in scope against the chart (``check_claims`` of one)."""
    return check_claims([claim], chart, policy, evidence=evidence)[0]


def check_claims(claims: Sequence[InScope], chart: Chart, policy: Policy, *,
                 evidence: bool = True) -> list[ClaimOutcome]:
    """Judge claims in scope against the chart, in order; each outcome carries the evidence
    (unless ``evidence`` is False) and the names a sink asked the chart to keep, for sinks
    that show them. A page is judged step by step, each step over every claim (gathering,
    then each rule, then the results): a quarter less CPU than claim by claim, the same
    outcomes (``adapter.rules.check_each``)."""
    gathered = [gather(claim.facts, chart) for claim in claims]
    findings = check_each(gathered, policy)
    return [_outcome(claim, ev, found, chart, policy, evidence)
            for claim, ev, found in zip(claims, gathered, findings, strict=True)]


def _outcome(claim: InScope, gathered: ClaimEvidence, findings: list[Finding], chart: Chart,
             policy: Policy, evidence: bool) -> ClaimOutcome:
    codes = gathered.code_set
    payer = applicable(gathered, policy)
    result = ClaimResult(
        claim=gathered.claim.ref,
        patient=gathered.claim.patient,
        service_date=gathered.claim.service_date,
        findings=with_paths(findings, gathered),
        version=gathered.claim.version,
        code_set=codes.label if codes is not None else "",
        code_set_needed=_describe(codes.needed) if codes is not None and codes.missing
        else None,
        policy=payer.id if payer is not None else None,
        zone_guessed=policy.zone is None and (bool(guessed_days(gathered)) or any(
            d.guessed for d in gathered.notes.days) or labs_guessed(gathered, policy)),
    )
    names = NO_NAMES
    if chart.name_types or chart.keeps_name_parts:
        gathered = _canonical_providers(gathered, chart)
        kept: dict[str, str] = {
            ref: name for ref in (gathered.claim.patient, *gathered.claim.providers)
            if (name := chart.name(ref))}
        parts = chart.name_parts(gathered.claim.patient)
        if parts:
            kept[parts_key(gathered.claim.patient)] = parts
        names = kept
    return ClaimOutcome(result.claim, claim.last_updated, result=result,
                        problems=tuple(problem(p) for p in gathered.problems),
                        evidence=gathered if evidence else None, names=names)


@lru_cache(maxsize=256)
def _describe(needed: Needed) -> str:
    return needed.describe()


def _canonical_providers(evidence: ClaimEvidence, chart: Chart) -> ClaimEvidence:
    """Providers as ``Type/id`` (a Bundle's ``urn:uuid:`` references resolved), so a report
    can tell a Practitioner from a Location."""
    providers = tuple(dict.fromkeys(chart.canonical(p) for p in evidence.claim.providers))
    if providers == evidence.claim.providers:
        return evidence
    return replace(evidence, claim=replace(evidence.claim, providers=providers))
