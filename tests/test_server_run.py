"""A server run when the server misbehaves in ways the real test server won't on demand
(a 503 storm on an evidence batch, a refused write, an entry refused inside an HTTP 200):
the run goes on, nothing already done is lost, counts are what the server confirmed, and a
sync keeps its watermark."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import responses

from adapter import modes
from adapter.fhir import FhirClient
from adapter.fhir.retry import RetryPolicy
from adapter.mappings import load_mappings
from adapter.rules import Policy
from adapter.sources.server import ClaimSelection
from adapter.sync_state import SyncState
from fixtures import builders as b
from tests.scenario import SERVICE

BASE = "http://127.0.0.1:9/fhir"
STORM = {"resourceType": "OperationOutcome", "issue": [{"diagnostics": "overloaded"}]}


def _searchset(*resources: dict[str, Any], next_url: str | None = None) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle", "type": "searchset",
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources]}
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def _claim(kid: str, pid: str, updated: str) -> dict[str, Any]:
    claim = b.claim(kid, pid, SERVICE)
    claim["meta"] = {"versionId": "1", "lastUpdated": updated}
    return claim


class FakeServer:
    """Two pages of claims; each POST answered with the next status of ``script`` (then 200).

    ``entry_status``: what each entry of a transaction is answered inside the HTTP 200.
    """

    def __init__(self, chart: list[dict[str, Any]], script: list[int],
                 entry_status: str = "201 Created", first_entry_statuses: tuple[str, ...] = ()
                 ) -> None:
        self.chart = chart
        self.script = script
        self.entry_status = entry_status
        self.first_entry_statuses = list(first_entry_statuses)  # per transaction, then entry_status
        self.posts: list[dict[str, Any]] = []
        responses.get(f"{BASE}/Claim", json=_searchset(
            _claim("k1", "p1", "2026-03-01T10:00:00Z"), next_url=f"{BASE}/Claim?page=2"),
            match=[responses.matchers.query_param_matcher({"_sort": "_lastUpdated"},
                                                          strict_match=False)])
        responses.get(f"{BASE}/Claim?page=2",
                      json=_searchset(_claim("k2", "p2", "2026-03-02T10:00:00Z")))
        responses.get(f"{BASE}/ExplanationOfBenefit", json=_searchset())
        responses.add_callback(responses.POST, BASE, callback=self.answer)

    def answer(self, request: Any) -> tuple[int, dict[str, str], str]:
        sent = json.loads(request.body)
        self.posts.append(sent)
        status = self.script.pop(0) if self.script else 200
        if status != 200:
            return status, {}, json.dumps(STORM)
        if sent["type"] == "transaction":
            status = (self.first_entry_statuses.pop(0) if self.first_entry_statuses
                      else self.entry_status)
            entries = [{"response": {"status": status, "outcome": STORM}}
                       for _ in sent["entry"]]
            return 200, {}, json.dumps({"resourceType": "Bundle",
                                        "type": "transaction-response", "entry": entries})
        entries = []
        for entry in sent["entry"]:
            rtype = entry["request"]["url"].split("?")[0]
            found = [r for r in self.chart if r["resourceType"] == rtype]
            entries.append({"response": {"status": "200 OK"}, "resource": _searchset(*found)})
        return 200, {}, json.dumps({"resourceType": "Bundle", "type": "batch-response",
                                    "entry": entries})


def _client() -> FhirClient:
    return FhirClient(BASE, retry=RetryPolicy(max_attempts=3, sleep=lambda seconds: None))


def _judge() -> modes.Judge:
    mappings = load_mappings()
    return modes.Judge(mappings, Policy.from_mappings(mappings, mappings.thresholds))


def _check() -> modes.ServerRun:
    return modes.check_server(_judge(), _client(), ClaimSelection(oldest_first=True),
                              dry_run=False, max_entries=50)


def _sync(state: Path) -> tuple[modes.ServerRun, Any]:
    return modes.sync(_judge(), _client(), state, dry_run=False, max_entries=50,
                      overlap=timedelta(minutes=5), max_claims=None)


CHART = [b.patient("p2"), b.condition("c2", "p2", icd="E53.8"),
         b.lab("o2", "p2", "b12", 150, "pg/mL", "2026-02-01"),
         b.administration("a2", "p2", SERVICE)]


@responses.activate
def test_a_503_storm_on_one_pages_evidence_reports_its_claims_and_the_next_page_is_checked():
    server = FakeServer(CHART, [503] * 3)
    run = _check()
    assert run.totals.read_failures == 1 and run.failed
    assert [e.resource for e in run.report.errors] == ["Claim/k1"]
    assert "503" in run.report.errors[0].message and "overloaded" in run.report.errors[0].message
    assert [c.claim for c in run.report.claims] == ["Claim/k2"]
    assert server.posts[-1]["type"] == "transaction"  # page 2's findings were still written


@responses.activate
def test_sync_keeps_its_watermark_when_a_page_could_not_be_read(tmp_path: Path):
    state = tmp_path / "state.json"
    SyncState(watermark="2026-02-01T00:00:00.000Z").save(state)
    FakeServer(CHART, [503] * 3)
    _, outcome = _sync(state)
    assert not outcome.moved
    assert SyncState.load(state).watermark == "2026-02-01T00:00:00.000Z"


@responses.activate
def test_sync_keeps_its_watermark_when_a_write_is_refused(tmp_path: Path):
    state = tmp_path / "state.json"
    FakeServer(CHART, [200, 200, 200, 422])  # batch, transaction, batch, refused transaction
    run, _ = _sync(state)
    assert run.writes.failed >= 1 and run.failed
    [refused] = [e.message for e in run.report.errors if e.resource == "DetectedIssue transaction"]
    # whose issues were not written: the refused Bundle's entry numbers mean nothing to a user
    assert "422" in refused and refused.endswith(
        f"; not written: {run.writes.failed} DetectedIssue write(s) of Claim/k2")
    assert not state.exists()


@responses.activate
def test_entries_refused_inside_an_http_200_are_counted_failed_not_created(tmp_path: Path):
    state = tmp_path / "state.json"
    FakeServer(CHART, [], entry_status="429 Too Many Requests")
    run, outcome = _sync(state)
    assert run.writes.created == 0 and run.writes.failed > 0
    refused = [e for e in run.report.errors if e.resource.startswith("DetectedIssue Claim/")]
    assert refused and all("429" in e.message and "overloaded" in e.message for e in refused)
    assert not outcome.moved and not state.exists()


@responses.activate
def test_entries_rate_limited_once_land_when_sent_again_and_count_as_created(tmp_path: Path):
    state = tmp_path / "state.json"
    server = FakeServer(CHART, [], first_entry_statuses=("429 Too Many Requests",))
    run, outcome = _sync(state)
    first, resent, page_2 = [p["entry"] for p in server.posts if p["type"] == "transaction"]
    assert resent == first  # every entry was refused for now, every one sent again
    assert run.writes.created == len(first) + len(page_2) and run.writes.failed == 0
    assert outcome.moved and not run.report.errors


@responses.activate
def test_sync_moves_its_watermark_to_the_newest_claim_when_all_went_well(tmp_path: Path):
    state = tmp_path / "state.json"
    FakeServer(CHART, [])
    run, outcome = _sync(state)
    assert outcome.moved and run.writes.created > 0 and run.writes.failed == 0
    assert SyncState.load(state).watermark == "2026-03-02T10:00:00Z"
    assert SyncState.load(state).server == BASE


@responses.activate
def test_a_claim_search_whose_total_says_more_than_came_is_a_problem_and_the_watermark_stays(
        tmp_path: Path):
    state = tmp_path / "state.json"
    SyncState(watermark="2026-02-01T00:00:00.000Z").save(state)
    server = FakeServer(CHART, [])
    responses.replace(responses.GET, f"{BASE}/Claim", json={
        **_searchset(_claim("k2", "p2", "2026-03-02T10:00:00Z")), "total": 500})
    run, outcome = _sync(state)
    assert [c.claim for c in run.report.claims] == ["Claim/k2"]  # what came is checked
    assert server.posts[-1]["type"] == "transaction"  # and its findings written
    problems = [e for e in run.report.errors if e.resource == "Claim search"]
    assert len(problems) == 1 and "total says 500 matches, 1 were read" in problems[0].message
    assert run.failed and not outcome.moved
    assert SyncState.load(state).watermark == "2026-02-01T00:00:00.000Z"


@responses.activate
def test_sync_asks_for_the_total_so_a_claim_the_paging_slid_past_keeps_the_watermark(
        tmp_path: Path):
    """An offset-paged server (Medplum) whose claim k1 is updated mid-run: k1 moves to the end
    and k3 slides into the page already read, so it never comes. Only the total, which
    Medplum gives only when asked (SERVERS.md), says that fewer came than matched."""
    state = tmp_path / "state.json"
    SyncState(watermark="2026-02-01T00:00:00.000Z").save(state)
    FakeServer(CHART, [])
    asked = [responses.matchers.query_param_matcher({"_total": "accurate"}, strict_match=False)]
    responses.replace(responses.GET, f"{BASE}/Claim", match=asked, json={
        **_searchset(_claim("k1", "p1", "2026-03-01T10:00:00Z"),
                     next_url=f"{BASE}/Claim?page=2"), "total": 3})
    responses.replace(responses.GET, f"{BASE}/Claim?page=2", json={
        **_searchset(_claim("k2", "p2", "2026-03-02T10:00:00Z")), "total": 3})
    run, outcome = _sync(state)
    problems = [e.message for e in run.report.errors if e.resource == "Claim search"]
    assert problems and "total says 3 matches, 2 were read" in problems[0]
    assert run.failed and not outcome.moved
    assert SyncState.load(state).watermark == "2026-02-01T00:00:00.000Z"
