"""Map side: one line of a Bulk Data file -> the rows that cross the shuffle, keyed by patient.

What can matter to a check is decided here, before any shuffle, by the core's own readers
(``route``, the one place to extend when a rule reads a new type):

- a Claim is read and scoped on the spot: a skipped or unreadable claim is output at once,
  and only a claim in scope crosses the shuffle, keyed by its patient;
- a chart resource is read into a one-resource ``Chart``: a fact (a Condition, a B12 or
  hemoglobin Observation, a B12 or pemetrexed/pralatrexate medication use, an injection
  Procedure, a Patient) crosses keyed by its patient; anything else (other labs, other
  drugs) leaves only its reference (``known``), so a claim pointing at it is not told it is
  missing; a problem reading it is output here, once;
- a medication use whose drug is a Medication resource (``medicationReference``) waits for
  it: the job joins the two and ``resolve_uses`` judges the use as ``Chart.finish`` does;
- what a fact or a claim reaches by reference only crosses as a fact of no patient (or of
  another one), fetched by the job's join of references for the patients that name it: a
  note's Binary (its text), and when payer policies are configured a claim's insurer and
  focal Coverage and a Coverage's payors (a Coverage is its beneficiary's fact);
- any other type never leaves the map side.

Lines are read as file mode reads them (``adapter.sources.files``): in a file named for a
chart type, a line that the core's line test (``adapter.evidence.needs.line_tests``) finds
nothing of interest in is known by its ``Type/id`` only and never parsed, and a resource of
another type is an error, not read; in a file named for a claim type, anything but a claim
is an error, not read.

Rows are plain tuples in the order of ``ROW_FIELDS`` (the Spark schema is built from it).
"""

from __future__ import annotations

import json
import pickle
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from adapter.check import InScope, read_scoped
from adapter.evidence.chart import Chart
from adapter.evidence.facts import AdministrationFact, ConditionFact
from adapter.evidence.fields import has_id, normalize_reference, ref_of
from adapter.evidence.kinds import CHART_TYPES, USE
from adapter.evidence.needs import line_tests
from adapter.mappings import load_mappings
from adapter.notes.documents import NOTE_TYPES
from adapter.outcomes import ClaimOutcome, Problem
from adapter.output.detected_issue import build_detected_issue
from adapter.output.report import claim_dict
from adapter.payer_policies import NO_POLICIES, PayerPolicies
from adapter.rules import Policy
from adapter.sources import CLAIM_TYPES
from adapter.sources.bundles import unpack
from adapter.thresholds import Thresholds

Resource = dict[str, Any]

# kinds of row
FACT = "fact"  # a chart fact, keyed by its patient (None: a resource of no patient)
KNOWN = "known"  # a chart resource that gives no fact: only its reference
CLAIM = "claim"  # a claim in scope, keyed by its patient
OUT = "out"  # output already: a skipped claim or an error (section says which); ref: the
# claim's, for a claim's outcome (a second claim of an id replaces it), else None
WAITING = "waiting"  # a medication use whose drug is a Medication resource (links[0])
DRUG = "drug"  # a Medication resource, for the uses that name it

# output sections (the directories under --out)
CLAIMS, ISSUES, SKIPPED, ERRORS = "claims", "DetectedIssue", "skipped", "errors"

# (name, Spark SQL type, nullable): the job builds its schema from this
ROW_FIELDS = (("kind", "string", False), ("key", "string", True), ("ref", "string", True),
              ("text", "string", True), ("links", "array<string>", True),
              ("section", "string", True), ("file", "int", False), ("pos", "bigint", False),
              ("drug", "string", True))
# drug: the text of the Medication resource a fact's use names (the chart needs both)
Row = tuple[str, str | None, str | None, str | None, list[str] | None, str | None, int, int,
            str | None]
# What the check stage outputs, one row per claim, DetectedIssue, skip or error: the section,
# its JSON text, and for a checked claim (section CLAIMS) and each of its findings (ISSUES,
# the DetectedIssue's text) the columns of the Parquet tables, so they are written without
# parsing the JSON back (verdict: the claim's; code: the finding's; findings: how many)
OUTPUT_FIELDS = (("section", "string", False), ("text", "string", False),
                 ("verdict", "string", True), ("code", "string", True),
                 ("claim", "string", True), ("patient", "string", True),
                 ("service_date", "string", True), ("policy", "string", True),
                 ("code_set", "string", True), ("findings", "int", True),
                 ("finding", "int", True), ("severity", "string", True),
                 ("diagnosis", "string", True), ("message", "string", True),
                 ("suggested_code", "string", True), ("evidence", "array<string>", True),
                 ("quote", "string", True))
Output = tuple[Any, ...]  # in the order of OUTPUT_FIELDS
_NO_COLUMNS = (None,) * (len(OUTPUT_FIELDS) - 2)

RELEVANT_TYPES = CLAIM_TYPES | CHART_TYPES | {"Bundle"}


def wanted_type(resource_type: str) -> bool:
    """Whether a file of this type can hold anything a check reads (layout.plan asks)."""
    return resource_type in RELEVANT_TYPES


@dataclass(frozen=True, slots=True)
class RunSpec:
    """What every executor rebuilds the judge from: small, picklable, the same everywhere."""

    thresholds: str  # Thresholds as JSON (the defaults plus the user's --config)
    identified: str  # the run's instant: DetectedIssue.identifiedDateTime
    zone: str | None = None  # the clinic's IANA time zone (facility_timezone), if set
    notes_quote: bool = True  # [notes] quote
    notes_required: bool = False  # [notes] required
    # [policies]: the PayerPolicies the configuration loaded, pickled (plain frozen values;
    # bytes keep the spec hashable, the key of ``judge``'s cache); empty: none configured
    payers: bytes = b""

    @classmethod
    def of(cls, thresholds: Thresholds, identified: datetime,
           zone: ZoneInfo | None = None, notes_quote: bool = True,
           notes_required: bool = False, payers: PayerPolicies = NO_POLICIES) -> RunSpec:
        return cls(json.dumps(thresholds.as_dict()), identified.isoformat(),
                   zone.key if zone is not None else None, notes_quote, notes_required,
                   pickle.dumps(payers) if payers.active else b"")

    @classmethod
    def of_policy(cls, policy: Policy, identified: datetime) -> RunSpec:
        """Everything ``adapter.judge.Judge.load`` built from the configuration: the
        executors judge exactly as ``check --config`` does."""
        return cls.of(policy.thresholds, identified, policy.zone, policy.notes_quote,
                      policy.notes_required, policy.payers)

    @property
    def payer_policies(self) -> bool:
        """Whether payer policies are configured (Coverages and payers then matter)."""
        return bool(self.payers)


@dataclass(frozen=True, slots=True)
class Judge:
    policy: Policy
    identified: datetime


@cache
def judge(spec: RunSpec) -> Judge:
    """Built once per Python worker: mappings load once, as in every other mode."""
    mappings = load_mappings()
    thresholds = Thresholds.from_dict(json.loads(spec.thresholds))
    zone = ZoneInfo(spec.zone) if spec.zone else None
    payers = pickle.loads(spec.payers) if spec.payers else NO_POLICIES
    policy = Policy.from_mappings(mappings, thresholds, zone, payers,
                                  notes_quote=spec.notes_quote,
                                  notes_required=spec.notes_required)
    return Judge(policy, datetime.fromisoformat(spec.identified))


def chart(judge: Judge) -> Chart:
    """An empty chart that reads as every mode's does (the clinic's time zone)."""
    return Chart(load_mappings(), zone=judge.policy.zone)


def loads(text: str) -> Any:
    """JSON text parsed by orjson (several times faster), else by ``json`` as before: what
    orjson refuses (integers beyond 64 bits, NaN, lone surrogates) reads as it always did,
    and malformed text raises ``json``'s own error, named as file mode names it."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


@cache
def _line_tests() -> dict[str, Any]:
    return line_tests(load_mappings())


@cache
def _leading(rtype: str) -> re.Pattern[str]:
    """How an export starts a line of ``rtype``: the file source knows such a line by its
    ``Type/id`` without parsing it (``adapter.sources.line_scan.scan``)."""
    return re.compile(r'\{"resourceType": ?"' + re.escape(rtype)
                      + r'", ?"id": ?"([A-Za-z0-9\-.]{1,64})"[,}]')


def _out(section: str, data: Mapping[str, Any], file: int, pos: int,
         claim: str | None = None) -> Row:
    return (OUT, None, claim, json.dumps(data, ensure_ascii=False), None, section, file, pos,
            None)


def error_row(problem: Problem, file: int = -1, pos: int = 0) -> Row:
    return _out(ERRORS, {"resource": problem.resource, "message": problem.message}, file, pos)


def plain_output(section: str, text: str) -> Output:
    """A skip or an error: its text only."""
    return (section, text, *_NO_COLUMNS)


def problem_output(resource: str, message: str) -> Output:
    return plain_output(ERRORS, json.dumps({"resource": resource, "message": message},
                                           ensure_ascii=False))


def outcome_outputs(outcome: ClaimOutcome, identified: datetime) -> Iterator[Output]:
    """One claim's outcome as the JSON report and the DetectedIssue NDJSON write it, with
    the claims and findings tables' columns (the report's own values)."""
    if outcome.result is not None:
        result = outcome.result
        entry = claim_dict(result)
        verdict, shown = entry["verdict"], entry["findings"]
        head = (entry["claim"], entry["patient"], entry["service_date"], entry["policy"],
                entry["code_set"])
        yield (CLAIMS, json.dumps(entry, ensure_ascii=False), verdict, None, *head,
               len(shown), None, None, None, None, None, None, None)
        for index, (finding, item) in enumerate(zip(result.findings, shown, strict=True)):
            issue = build_detected_issue(result, finding, identified)
            yield (ISSUES, json.dumps(issue, separators=(",", ":")), verdict, item["code"],
                   *head, None, index, item["severity"], item["diagnosis"], item["message"],
                   item["suggested_code"], item["evidence"], item.get("quote"))
    elif outcome.skipped is not None:
        yield plain_output(SKIPPED, json.dumps({"claim": outcome.claim,
                                                "reason": outcome.skipped}))
    for p in outcome.problems:
        yield problem_output(p.resource, p.message)


def route(resource: Resource, text: str, judge: Judge, file: int, pos: int) -> Iterator[Row]:
    """The one filter: what of this resource crosses the shuffle, and under which patient."""
    rtype = resource.get("resourceType")
    if rtype in CLAIM_TYPES:
        scoped = read_scoped(resource, judge.policy)
        if isinstance(scoped, InScope):
            facts = scoped.facts
            refs = set(facts.referenced)
            if judge.policy.payers.active:  # its payer: what file mode reads for it too
                refs.update(r for r in (facts.payer.coverage, facts.payer.insurer.ref
                                        if facts.payer.insurer else None) if r)
            yield (CLAIM, facts.patient, facts.ref, text, _chart_refs(refs), None,
                   file, pos, None)
        else:
            for section, data, *_ in outcome_outputs(scoped, judge.identified):
                yield (OUT, None, scoped.claim, data, None, section, file, pos, None)
    elif rtype in CHART_TYPES:
        one = chart(judge)
        entries = one.read(resource)
        one.put(entries)
        if rtype not in NOTE_TYPES:  # a note's defects: named where its patient is judged
            for bad in one.problems:
                yield error_row(Problem(bad.ref, bad.problem), file, pos)
        ref = ref_of(resource)
        if rtype == "Medication":
            yield (DRUG, None, ref, text, None, None, file, pos, None)
            return
        waiting = next((use for what, use in entries if what == USE and use.drug is None),
                       None)
        if waiting is not None:  # its drug is a Medication resource: the job joins it in
            yield (WAITING, None, ref, text, [waiting.medication_ref], None, file, pos, None)
            return
        yield _fact_row(one, rtype, ref, text, file, pos,
                        payers=judge.policy.payers.active)


def resolve_uses(rows: Iterable[tuple[str, int, int, str | None]], spec: RunSpec
                 ) -> Iterator[Row]:
    """Medication uses (text, file, pos) with the Medication resource they name (its text,
    None when the source has none), judged as ``Chart.finish`` judges them once every
    Medication is read: a fact, a reference only, or a problem."""
    run = judge(spec)
    for text, file, pos, drug in rows:
        one = chart(run)
        use = loads(text)
        one.add(use)
        if drug is not None:
            one.add(loads(drug))
        one.problems.clear()  # reading either was reported where it was read
        one.finish()
        for bad in one.problems:
            yield error_row(Problem(bad.ref, bad.problem), file, pos)
        yield _fact_row(one, str(use.get("resourceType")), ref_of(use), text, file, pos, drug)


def _fact_row(one: Chart, rtype: str, ref: str, text: str, file: int, pos: int,
              drug: str | None = None, payers: bool = False) -> Row:
    """A fact keyed by its patient, or only the reference of a resource that gives none.
    ``payers``: payer policies are configured (Coverages and Organizations are facts)."""
    fact: object
    key: str | None = None
    links: list[str] = []
    if rtype == "Patient":
        fact = one.patients.get(ref)
        key = ref if fact is not None else None
    elif rtype in NOTE_TYPES:  # a clinical note goes to its patient, read there again
        note = next((note for notes in one.notes.values() for note in notes), None)
        fact = note
        if note is not None:
            key = note.patient
            links = [note.binary] if note.binary else []  # its text, in a Binary
    elif rtype == "Binary":  # a note's text: fetched for the notes that name it
        fact = ref if has_id(ref) else None
    elif rtype == "Coverage" and payers:  # its beneficiary's; the payors it names follow
        coverage = one.coverages.get(ref)
        fact = coverage
        if coverage is not None:
            key = coverage.patient
            links = _chart_refs(p.ref for p in coverage.payors if p.ref)
    elif rtype == "Organization" and payers:  # a payer, for the claims and Coverages naming it
        fact = one.organizations.get(ref)
    else:
        fact = one.by_ref.get(ref)
        key = fact.patient if fact is not None else None
        links = _fact_links(fact)
    if fact is None:
        return (KNOWN, None, ref, None, None, None, file, pos, None)
    return (FACT, key, ref, text, links, None, file, pos, drug)


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


def line_rows(line: str, where: str, spec: RunSpec, file: int, pos: int,
              rtype: str | None = None, name: str = "") -> Iterator[Row]:
    """One NDJSON line (``where`` names it in errors) of file ``name``, named for ``rtype``
    (None: a file of mixed or unknown types), read as the file source reads it; a malformed
    line is an error row."""
    raw = line.lstrip("\ufeff")
    text = raw.strip()
    if not text:
        return
    tests = _line_tests()
    if rtype in tests and (found := _leading(rtype).match(raw)) is not None \
            and raw.rstrip().endswith("}") \
            and not tests[rtype].keeps(raw.encode("utf-8", "surrogatepass")):
        # nothing in it can matter: known by its Type/id, not parsed (file mode's prefilter)
        yield (KNOWN, None, f"{rtype}/{found.group(1)}", None, None, None, file, pos, None)
        return
    try:
        resource = loads(text)
    except json.JSONDecodeError as exc:
        yield error_row(Problem(where, f"not valid JSON ({exc.msg})"), file, pos)
        return
    except RecursionError:
        yield error_row(Problem(where, "JSON nested too deeply to read"), file, pos)
        return
    judge_ = judge(spec)
    for item, item_text, at in _entries(resource, text, where, pos):
        if isinstance(item, Problem):
            yield error_row(item, file, at)
            continue
        found_type = item["resourceType"]
        if rtype in CLAIM_TYPES and found_type not in CLAIM_TYPES:
            yield error_row(Problem(f"{found_type}/{item.get('id')}",
                                    f"in {name}, a file of {rtype}: not read"), file, at)
        elif rtype in tests and found_type != rtype:
            yield error_row(Problem(where, f"a {found_type} in a file of {rtype}: not read"),
                            file, at)
        elif found_type in RELEVANT_TYPES:
            yield from route(item, item_text(), judge_, file, at)


def file_rows(text: str, where: str, spec: RunSpec, file: int) -> Iterator[Row]:
    """A whole JSON file: a Bundle, or one resource."""
    try:
        data = loads(text.lstrip("\ufeff"))
    except json.JSONDecodeError as exc:
        yield error_row(Problem(where, f"not valid JSON ({exc.msg})"), file)
        return
    except RecursionError:
        yield error_row(Problem(where, "JSON nested too deeply to read"), file)
        return
    judge_ = judge(spec)
    for item, item_text, at in _entries(data, text, where, 0):
        if isinstance(item, Problem):
            yield error_row(item, file, at)
        elif item["resourceType"] in RELEVANT_TYPES:
            yield from route(item, item_text(), judge_, file, at)


Entry = tuple[Resource | Problem, Callable[[], str], int]


def _entries(data: Any, text: str, where: str, pos: int) -> Iterator[Entry]:
    """The resources of what one line or file holds: itself, or a Bundle's resources with
    their ``urn:uuid:`` references resolved within the Bundle (the file source resolves them
    across the whole source; a Bulk Data export has none). Each comes with its JSON text (made
    only when asked: most resources are not routed) and its position."""
    if isinstance(data, list):  # an array of resources, as file mode reads one
        for index, item in enumerate(data):
            yield from _entries(item, json.dumps(item), f"{where}[{index}]", pos + index)
        return
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
        yield Problem(where, "not a FHIR resource (no resourceType)"), str, pos
        return
    if data["resourceType"] != "Bundle":
        yield data, lambda: text, pos
        return
    aliases: dict[str, str] = {}
    for index, item in enumerate(list(unpack(data, where, aliases))):
        if isinstance(item, Problem):
            yield item, str, pos + index
            continue
        resource = _resolved(item, aliases) if aliases else item
        yield resource, lambda r=resource: json.dumps(r), pos + index


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
