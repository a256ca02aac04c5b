"""Map side: one line of a Bulk Data file -> the rows that cross the shuffle, keyed by patient.

What can matter to a check is decided here, before any shuffle, by the core's own readers
(``route``, the one place to extend when a rule reads a new type):

- a Claim is read and scoped on the spot: a skipped or unreadable claim is output at once,
  and only a claim in scope crosses the shuffle, keyed by its patient;
- a chart resource is read into a one-resource ``Chart``: a fact (a Condition, a B12 or
  hemoglobin Observation, a B12 MedicationAdministration, a Patient) crosses keyed by its
  patient; anything else (other labs, other drugs) leaves only its reference (``known``),
  so a claim pointing at it is not told it is missing; a problem reading it is output here,
  once;
- any other type never leaves the map side.

Rows are plain tuples in the order of ``ROW_FIELDS`` (the Spark schema is built from it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from adapter.check import InScope, read_scoped
from adapter.evidence.chart import CHART_TYPES, Chart
from adapter.evidence.facts import AdministrationFact, ConditionFact
from adapter.evidence.fields import normalize_reference, ref_of
from adapter.mappings import load_mappings
from adapter.outcomes import ClaimOutcome, Problem
from adapter.output.detected_issue import build_detected_issue
from adapter.output.report import claim_dict
from adapter.rules import Policy
from adapter.sources import CLAIM_TYPES
from adapter.sources.bundles import unpack
from adapter.thresholds import Thresholds

Resource = dict[str, Any]

# kinds of row
FACT = "fact"  # a chart fact, keyed by its patient (None: a resource of no patient)
KNOWN = "known"  # a chart resource that gives no fact: only its reference
CLAIM = "claim"  # a claim in scope, keyed by its patient
OUT = "out"  # output already: a skipped claim or an error (section says which)

# output sections (the directories under --out)
CLAIMS, ISSUES, SKIPPED, ERRORS = "claims", "DetectedIssue", "skipped", "errors"

ROW_FIELDS = ("kind", "key", "ref", "text", "links", "section", "file", "pos")
Row = tuple[str, str | None, str | None, str | None, list[str] | None, str | None, int, int]
Output = tuple[str, str, str | None]  # (section, JSON text, verdict of a checked claim)

RELEVANT_TYPES = CLAIM_TYPES | CHART_TYPES | {"Bundle"}


def wanted_type(resource_type: str) -> bool:
    """Whether a file of this type can hold anything a check reads (layout.plan asks)."""
    return resource_type in RELEVANT_TYPES


@dataclass(frozen=True, slots=True)
class RunSpec:
    """What every executor rebuilds the judge from: small, picklable, the same everywhere."""

    thresholds: str  # Thresholds as JSON (the defaults plus the user's --config)
    identified: str  # the run's instant: DetectedIssue.identifiedDateTime

    @classmethod
    def of(cls, thresholds: Thresholds, identified: datetime) -> RunSpec:
        return cls(json.dumps(thresholds.as_dict()), identified.isoformat())


@dataclass(frozen=True, slots=True)
class Judge:
    policy: Policy
    identified: datetime


@cache
def judge(spec: RunSpec) -> Judge:
    """Built once per Python worker: mappings load once, as in every other mode."""
    mappings = load_mappings()
    thresholds = Thresholds.from_dict(json.loads(spec.thresholds))
    policy = Policy.from_mappings(mappings, thresholds)
    return Judge(policy, datetime.fromisoformat(spec.identified))


def _out(section: str, data: Mapping[str, Any], file: int, pos: int) -> Row:
    return (OUT, None, None, json.dumps(data, ensure_ascii=False), None, section, file, pos)


def error_row(problem: Problem, file: int = -1, pos: int = 0) -> Row:
    return _out(ERRORS, {"resource": problem.resource, "message": problem.message}, file, pos)


def outcome_outputs(outcome: ClaimOutcome, identified: datetime) -> Iterator[Output]:
    """One claim's outcome as the JSON report and the DetectedIssue NDJSON write it."""
    if outcome.result is not None:
        result = outcome.result
        yield CLAIMS, json.dumps(claim_dict(result), ensure_ascii=False), result.verdict.value
        for finding in result.findings:
            issue = build_detected_issue(result, finding, identified)
            yield ISSUES, json.dumps(issue, separators=(",", ":")), None
    elif outcome.skipped is not None:
        yield SKIPPED, json.dumps({"claim": outcome.claim, "reason": outcome.skipped}), None
    for p in outcome.problems:
        yield ERRORS, json.dumps({"resource": p.resource, "message": p.message},
                                 ensure_ascii=False), None


def route(resource: Resource, text: str, judge: Judge, file: int, pos: int) -> Iterator[Row]:
    """The one filter: what of this resource crosses the shuffle, and under which patient."""
    rtype = resource.get("resourceType")
    if rtype in CLAIM_TYPES:
        scoped = read_scoped(resource, judge.policy)
        if isinstance(scoped, InScope):
            facts = scoped.facts
            yield (CLAIM, facts.patient, facts.ref, text, _chart_refs(facts.referenced), None,
                   file, pos)
        else:
            for section, data, _ in outcome_outputs(scoped, judge.identified):
                yield (OUT, None, None, data, None, section, file, pos)
    elif rtype in CHART_TYPES:
        chart = Chart(load_mappings())
        chart.add(resource)
        for bad in chart.problems:
            yield error_row(Problem(bad.ref, bad.problem), file, pos)
        ref = ref_of(resource)
        if rtype == "Patient":
            fact = chart.patients.get(ref)
            key = ref if fact is not None else None
            links: list[str] = []
        else:
            fact = chart.by_ref.get(ref)
            key = fact.patient if fact is not None else None
            links = _fact_links(fact)
        if fact is None:
            yield (KNOWN, None, ref, None, None, None, file, pos)
        else:
            yield (FACT, key, ref, text, links, None, file, pos)


def _chart_refs(refs: Any) -> list[str]:
    return sorted(r for r in refs if r.split("/", 1)[0] in CHART_TYPES)


def _fact_links(fact: object) -> list[str]:
    """What a fact points at that gather may follow: a Condition's evidence, an
    administration's reasons (they may name another patient's resource: an error to report)."""
    if isinstance(fact, ConditionFact):
        return _chart_refs(fact.evidence)
    if isinstance(fact, AdministrationFact):
        return _chart_refs(fact.reasons)
    return []


# --- lines and files --------------------------------------------------------------------


def line_rows(line: str, where: str, spec: RunSpec, file: int, pos: int) -> Iterator[Row]:
    """One NDJSON line (``where`` names it in errors); a malformed line is an error row."""
    text = line.lstrip("\ufeff").strip()
    if not text:
        return
    try:
        resource = json.loads(text)
    except json.JSONDecodeError as exc:
        yield error_row(Problem(where, f"not valid JSON ({exc.msg})"), file, pos)
        return
    if not isinstance(resource, dict) or "resourceType" not in resource:
        yield error_row(Problem(where, "not a FHIR resource (no resourceType)"), file, pos)
    elif resource["resourceType"] == "Bundle":
        yield from bundle_rows(resource, where, spec, file, pos)
    elif resource["resourceType"] in RELEVANT_TYPES:
        yield from route(resource, text, judge(spec), file, pos)


def file_rows(text: str, where: str, spec: RunSpec, file: int) -> Iterator[Row]:
    """A whole JSON file: a Bundle, or one resource."""
    try:
        data = json.loads(text.lstrip("\ufeff"))
    except json.JSONDecodeError as exc:
        yield error_row(Problem(where, f"not valid JSON ({exc})"), file)
        return
    if not isinstance(data, dict) or "resourceType" not in data:
        yield error_row(Problem(where, "not a FHIR JSON resource or Bundle"), file)
    elif data["resourceType"] == "Bundle":
        yield from bundle_rows(data, where, spec, file, 0)
    else:
        yield from route(data, text, judge(spec), file, 0)


def bundle_rows(bundle: Resource, where: str, spec: RunSpec, file: int, pos: int
                ) -> Iterator[Row]:
    """A Bundle's resources, their ``urn:uuid:`` references resolved within the Bundle (the
    file source resolves them across the whole source; a Bulk Data export has none)."""
    aliases: dict[str, str] = {}
    entries = list(unpack(bundle, where, aliases))
    for index, item in enumerate(entries):
        if isinstance(item, Problem):
            yield error_row(item, file, pos)
            continue
        if item["resourceType"] not in RELEVANT_TYPES:
            continue
        resource = _resolved(item, aliases) if aliases else item
        yield from route(resource, json.dumps(resource), judge(spec), file, pos + index)


def _resolved(value: Any, aliases: MutableMapping[str, str]) -> Any:
    """A copy with every Reference to a Bundle entry's fullUrl written as ``Type/id``."""
    if isinstance(value, list):
        return [_resolved(v, aliases) for v in value]
    if not isinstance(value, dict):
        return value
    copy = {k: _resolved(v, aliases) for k, v in value.items()}
    target = copy.get("reference")
    if isinstance(target, str):
        canonical = aliases.get(target) or aliases.get(normalize_reference(target))
        if canonical:
            copy["reference"] = canonical
    return copy
