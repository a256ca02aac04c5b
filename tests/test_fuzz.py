"""Property-based tests (hypothesis): real resources (a Synthea patient with a B12 claim, its
EOB, an HL7 example administration) mutated at random, field by field and byte by byte.
Whatever the input: no exception escapes, every claim is accounted for (judged, skipped or an
error), every DetectedIssue built validates, and the report prints as UTF-8."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.cli import main
from adapter.driver import Driver, Sink
from adapter.mappings import load_mappings
from adapter.outcomes import PageOutcome
from adapter.output.detected_issue import build_detected_issue
from adapter.output.report import Report
from adapter.rules import Policy
from adapter.sources import CLAIM_TYPES
from adapter.sources.memory import MemorySource
from tests.test_real_records import synthea_with_b12

HL7 = Path(__file__).resolve().parent.parent / "fixtures/realdata/hl7-r4-examples"
Resource = dict[str, Any]

HOSTILE = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["", "\ud800", "Patient/", "0001-01-01", "0000-13-45", "9999-12-31T23:59Z",
                     "2026-03-02T00:30:00Z", "<150", "NaN", "E538", "J1100", "../Patient/x",
                     "urn:uuid:", "#", "Medication/none", "\x00"]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=4), st.integers(),
                                                         max_size=2),
)


@st.composite
def mutated(draw: st.DrawFn) -> list[Resource]:
    """The scenario's resources with a few random fields replaced, deleted or retyped."""
    resources = copy.deepcopy(_base())
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        resource = draw(st.sampled_from(resources))
        node: Any = resource
        while True:
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            child = node[key]
            if isinstance(child, dict | list) and child and draw(st.booleans()):
                node = child
                continue
            if isinstance(node, dict) and draw(st.integers(0, 4)) == 0:
                del node[key]
            else:
                node[key] = draw(HOSTILE)
            break
    return resources


_BASE: list[Resource] = []


def _base() -> list[Resource]:
    if not _BASE:
        administration = json.loads((HL7 / "medicationadministration0301.json").read_text())
        _BASE.extend([*synthea_with_b12(eob=True), administration])
    return _BASE


class Outcomes(Sink):
    def __init__(self) -> None:
        self.claims = 0

    def write(self, page: PageOutcome) -> None:
        self.claims += len(page.claims)
        for result in page.results:
            for finding in result.findings:
                build_detected_issue(result, finding, _WHEN)  # validates, or raises


_WHEN = datetime(2026, 3, 3, tzinfo=UTC)


@settings(suppress_health_check=[HealthCheck.too_slow])  # examples: the profile's (conftest)
@given(mutated())
def test_mutated_real_resources_never_crash_and_every_claim_is_accounted_for(resources):
    mappings = load_mappings()
    report, outcomes = Report(), Outcomes()
    Driver(MemorySource(resources), Policy.from_mappings(mappings, mappings.thresholds),
           mappings, [report, outcomes]).run()
    claims = sum(1 for r in resources if isinstance(r.get("resourceType"), str)
                 and r["resourceType"] in CLAIM_TYPES)
    assert outcomes.claims == claims
    assert report.to_json().encode("utf-8", errors="backslashreplace")


@settings(max_examples=max(40, settings().max_examples // 10),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(min_value=0), st.binary(min_size=1, max_size=8)),
                min_size=1, max_size=6))
def test_corrupted_ndjson_bytes_never_crash_the_command_line(tmp_path_factory, edits):
    directory = tmp_path_factory.mktemp("export")
    data = bytearray("".join(json.dumps(r) + "\n" for r in _base()).encode())
    for position, garbage in edits:
        at = position % len(data)
        data[at:at + len(garbage)] = garbage
    (directory / "export.ndjson").write_bytes(bytes(data))
    try:
        status = main(["check", "--source", str(directory), "--format", "json"])
    except SystemExit as exc:  # argparse never exits here; anything else is a bug
        raise AssertionError(f"exited {exc.code}") from exc
    assert status in (0, 1, 2)
