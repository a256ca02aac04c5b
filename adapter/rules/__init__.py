"""The checks: pure functions from ``ClaimEvidence`` to findings. One module per rule family."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import date

from adapter.evidence.facts import ClaimEvidence
from adapter.findings import Finding
from adapter.rules import (
    administration,
    coding,
    coverage,
    diagnosis,
    labs,
    notes,
    premedication,
    release,
)
from adapter.rules.policy import Policy

Rule = Callable[[ClaimEvidence, Policy], Iterator[Finding]]

RULES: tuple[Rule, ...] = (
    diagnosis.dx_invalid,
    diagnosis.dx_derived,
    diagnosis.dx_no_indication,
    diagnosis.chart_documents_claim,
    diagnosis.dx_not_b12,
    diagnosis.dx_drift,
    release.dx_excludes1,
    labs.lab_evidence,
    labs.anemia_supported,
    coding.manifestation_sequencing,
    coding.cause_not_coded,
    coding.item_dx_link,
    administration.admin_missing,
    administration.dose_units,
    premedication.premedication_timing,
    coverage.dx_not_covered,
    coverage.frequency_exceeds_policy,
    diagnosis.evidence_not_linked,
    notes.dx_text_only,
    notes.note_findings,
    release.code_set_missing,
)


def check(ev: ClaimEvidence, policy: Policy) -> list[Finding]:
    """Every finding for one claim, in rule order; a finding for a code the claim lists twice
    (CMS carrier EOBs do) is given once (SPEC 4.1 "Same code twice"): one finding, one
    DetectedIssue identifier for each (code, diagnosis, date)."""
    return check_each([ev], policy)[0]


def check_each(evidence: Sequence[ClaimEvidence], policy: Policy) -> list[list[Finding]]:
    """``check`` of each claim, run rule by rule over them all: each rule's code stays hot in
    the processor's caches, which judges a page of claims a quarter faster in CPython than
    claim by claim (bench/RESULTS.md, issue 24 round six). Rules are pure, so the order
    they run in changes no finding."""
    found: list[list[Finding]] = [[] for _ in evidence]
    seen: list[set[tuple[str, str | None, date | None]]] = [set() for _ in evidence]
    for rule in RULES:
        for ev, findings, keys in zip(evidence, found, seen, strict=True):
            for finding in rule(ev, policy):
                key = (finding.code, finding.diagnosis, finding.day)
                if key not in keys:
                    keys.add(key)
                    findings.append(_dated(finding, ev.claim.service_date))
    return found


def _dated(finding: Finding, earliest: date) -> Finding:
    """The finding, its message naming the date it concerns (SPEC 4.1 "Dates of service"):
    its own date for a finding judged per B12 line, else the claim's earliest B12 date,
    which the diagnosis, lab and anemia checks use. Rules that name it already are left."""
    when = (finding.day or earliest).isoformat()
    if when in finding.message:
        return finding
    return replace(finding, message=f"{finding.message} (date of service {when})")


__all__ = ["RULES", "Policy", "check", "check_each"]
