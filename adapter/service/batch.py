"""A batch of claims in one ``$b12-check`` call, answered one result per claim.

Integration engines batch: a Bundle of claims with their charts (checked against the Bundle),
claims alone (against the configured FHIR server's chart), or claim references read from the
server. A batch is bounded by ``--max-batch-claims``; over it, 422 ``too-costly`` before any
work (send it with ``Prefer: respond-async``, or split it).

The JSON answer is the report of ``b12-adapter check --format json`` (SPEC section 5:
``claims``, ``skipped``, ``errors``, ``summary``), plus ``detected_issues`` (a Bundle) and
``writes``; the FHIR answer a Parameters with one ``result`` per claim.
"""

from __future__ import annotations

from typing import Any

from adapter import sources as claim_sources
from adapter.evidence.fields import ref_of
from adapter.service import fhir_answer
from adapter.service.checking import CheckRun
from adapter.service.operation import Posted, claim_count
from adapter.service.outcome import ServiceError

Resource = dict[str, Any]


def size(posted: Posted) -> int:
    """How many claims the batch holds (references, or claims among its resources)."""
    if posted.references:
        return len(posted.references)
    return sum(claim_count(r) if r.get("resourceType") == "Bundle"
               else int(r.get("resourceType") in claim_sources.CLAIM_TYPES)
               for r in posted.resources)


def bound(posted: Posted, claim_type: str, limit: int) -> int:
    """The batch's claim count; 422 when it is over ``limit`` (``--max-batch-claims``, or
    ``--max-async-claims`` for a job) or holds the other claim type (each type has its own
    endpoint)."""
    count = size(posted)
    if count > limit:
        raise ServiceError(422, f"the batch holds {count} claims, over the limit of {limit} "
                                "(--max-batch-claims; --max-async-claims with Prefer: "
                                "respond-async): split it", code="too-costly")
    other = ({"Claim", "ExplanationOfBenefit"} - {claim_type}).pop()
    for resource in posted.resources:
        entries = resource.get("entry") or [] if resource.get("resourceType") == "Bundle" \
            else [{"resource": resource}]
        for entry in entries:
            inner = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(inner, dict) and inner.get("resourceType") == other:
                raise ServiceError(400, f"this operation checks {claim_type}s; the batch holds "
                                        f"{ref_of(inner)} (post it to "
                                        f"/{other}/$b12-check)")
    return count


def answer(checked: CheckRun) -> Resource:
    """The JSON answer: the report (one entry per claim, checked or skipped), the
    DetectedIssues and the writes."""
    return {**checked.report.to_dict(), "detected_issues": checked.issues_bundle(),
            "writes": checked.writes_dict()}


def parameters(found: Resource) -> Resource:
    """The FHIR answer for a batch's JSON answer: a ``result`` per claim."""
    results = [fhir_answer.result_parameter(claim, None) for claim in found["claims"]]
    results += [fhir_answer.result_parameter(None, skipped) for skipped in found["skipped"]]
    issues = [entry["resource"] for entry in found["detected_issues"]["entry"]]
    return fhir_answer.parameters(results, issues, found["errors"], found["writes"])
