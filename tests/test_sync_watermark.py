"""The sync watermark rule (adapter/sync.py): it never passes a claim the run did not process,
whatever order the server returns, and a claim it cannot place in time keeps it where it was.
The server is faked with `responses` because no real server ignores `_sort` on demand; the
integration tests run the same rule against the test FHIR server's fault mode."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses

from adapter import modes
from adapter.evidence.kinds import CHART_TYPES
from adapter.fhir import FhirClient
from adapter.fhir.retry import RetryPolicy
from adapter.mappings import load_mappings
from adapter.rules import Policy
from adapter.sync import WATERMARK, _since, instant
from adapter.sync_state import SyncState
from fixtures import builders as b
from tests.scenario import SERVICE

BASE = "http://127.0.0.1:9/fhir"


def _claim(kid: str, updated: Any) -> dict[str, Any]:
    claim = b.claim(kid, f"p-{kid}", SERVICE, diagnoses=("E53.8",))
    claim["meta"] = {"versionId": "1", "lastUpdated": updated}
    return claim


class ClaimServer:
    """Claims answered in ``order`` (the server's own, ``_sort`` ignored unless ``sorts``),
    filtered by ``_lastUpdated`` ge/le as servers do; evidence batches come back empty and
    every write lands."""

    def __init__(self, claims: list[dict[str, Any]], *, sorts: bool = False) -> None:
        self.claims = claims
        self.sorts = sorts
        self.searches: list[dict[str, list[str]]] = []
        responses.add_callback(responses.GET, f"{BASE}/Claim", callback=self.search)
        responses.get(f"{BASE}/ExplanationOfBenefit",  # payer EOBs: none here
                      json={"resourceType": "Bundle", "type": "searchset", "entry": []})
        for rtype in CHART_TYPES:  # charts changed since the watermark: none here
            responses.get(f"{BASE}/{rtype}",
                          json={"resourceType": "Bundle", "type": "searchset", "entry": []})
        responses.add_callback(responses.POST, BASE, callback=self.bundle)

    def search(self, request: Any) -> tuple[int, dict[str, str], str]:
        params: dict[str, list[str]] = {}
        for name, value in parse_qsl(urlsplit(request.url).query):
            params.setdefault(name, []).append(value)
        self.searches.append(params)
        found = [c for c in self.claims if _in_range(c, params.get("_lastUpdated", []))]
        if self.sorts and params.get("_sort") == ["_lastUpdated"]:
            found.sort(key=lambda c: instant(c["meta"]["lastUpdated"]))
        return 200, {}, json.dumps({"resourceType": "Bundle", "type": "searchset",
                                    "entry": [{"resource": c, "search": {"mode": "match"}}
                                              for c in found]})

    def bundle(self, request: Any) -> tuple[int, dict[str, str], str]:
        sent = json.loads(request.body)
        if sent["type"] == "batch":
            entries = [{"response": {"status": "200 OK"}, "resource": {
                "resourceType": "Bundle", "type": "searchset", "entry": []}}
                for _ in sent["entry"]]
        else:
            entries = [{"response": {"status": "201 Created"}} for _ in sent["entry"]]
        return 200, {}, json.dumps({"resourceType": "Bundle", "type": f"{sent['type']}-response",
                                    "entry": entries})

    def verifications(self) -> list[dict[str, list[str]]]:
        return [p for p in self.searches if any(v.startswith("le")
                                                for v in p.get("_lastUpdated", []))]


def _in_range(claim: dict[str, Any], bounds: list[str]) -> bool:
    when = instant(claim["meta"].get("lastUpdated"))
    if when is None:
        return True
    for bound in bounds:
        limit = instant(bound[2:])
        assert limit is not None, bound
        if (bound.startswith("ge") and when < limit) or (bound.startswith("le") and when > limit):
            return False
    return True


def _sync(state: Path, max_claims: int | None = None) -> tuple[modes.ServerRun, Any]:
    mappings = load_mappings()
    judge = modes.Judge(mappings, Policy.from_mappings(mappings, mappings.thresholds))
    client = FhirClient(BASE, retry=RetryPolicy(max_attempts=2, sleep=lambda seconds: None))
    return modes.sync(judge, client, state, dry_run=False, max_entries=50,
                      overlap=timedelta(minutes=5), max_claims=max_claims)


K1 = _claim("k1", "2026-03-01T10:00:00.000Z")
K2 = _claim("k2", "2026-03-02T10:00:00.000Z")
K3 = _claim("k3", "2026-03-03T10:00:00.000Z")  # newest, yet first in the server's own order


def _processed(run: modes.ServerRun) -> list[str]:
    return [c.claim for c in run.report.claims] + [s.claim for s in run.report.skipped]


@responses.activate
def test_a_server_ignoring_sort_cannot_make_max_claims_skip_an_older_claim(tmp_path):
    state = tmp_path / "state.json"
    server = ClaimServer([K3, K1, K2])

    run, outcome = _sync(state, max_claims=1)

    assert _processed(run) == ["Claim/k3"]
    assert not outcome.moved and not state.exists()
    problem = next(e for e in run.report.errors if e.resource == WATERMARK)
    assert "out of _lastUpdated order" in problem.message and "--max-claims" in problem.message
    assert server.verifications()[0]["_lastUpdated"] == ["le2026-03-03T10:00:00.000Z"]

    run, outcome = _sync(state)  # without --max-claims the run reads everything
    assert sorted(_processed(run)) == ["Claim/k1", "Claim/k2", "Claim/k3"]
    assert SyncState.load(state).watermark == "2026-03-03T10:00:00.000Z"


@responses.activate
def test_out_of_order_claims_move_the_watermark_only_to_before_the_oldest_unread(tmp_path,
                                                                                caplog):
    state = tmp_path / "state.json"
    ClaimServer([K3, K1, K2])

    run, outcome = _sync(state, max_claims=2)

    assert _processed(run) == ["Claim/k3", "Claim/k1"]
    assert SyncState.load(state).watermark == "2026-03-01T10:00:00.000Z"  # k2 is not passed
    assert not [e for e in run.report.errors if e.resource == WATERMARK]
    assert "moves only to 2026-03-01T10:00:00.000Z" in caplog.text

    # the next run starts before k2, but this server hands out k3 and k1 first again: the
    # watermark cannot move past k2, and the run says so instead of stalling in silence
    run, outcome = _sync(state, max_claims=2)
    assert "Claim/k2" not in _processed(run) and not outcome.moved
    assert any(e.resource == WATERMARK and "Run without --max-claims" in e.message
               for e in run.report.errors)


@responses.activate
def test_a_sorting_server_with_max_claims_moves_to_the_last_claim_checked(tmp_path):
    state = tmp_path / "state.json"
    server = ClaimServer([K3, K1, K2], sorts=True)

    run, outcome = _sync(state, max_claims=2)

    assert _processed(run) == ["Claim/k1", "Claim/k2"]
    assert outcome.moved and SyncState.load(state).watermark == "2026-03-02T10:00:00.000Z"
    assert len(server.verifications()) == 1


@responses.activate
def test_a_run_that_reads_everything_moves_to_the_newest_without_asking_again(tmp_path):
    state = tmp_path / "state.json"
    server = ClaimServer([K3, K1, K2])

    run, _ = _sync(state)

    assert SyncState.load(state).watermark == "2026-03-03T10:00:00.000Z"
    assert server.verifications() == [] and not run.report.errors


@pytest.mark.parametrize("updated", [
    "garbage", "2026-02-30T10:00:00Z", "2026-03-02", "2026-03-02T10:00:00", 20260302, None,
    "2999-01-01T00:00:00Z",
], ids=["text", "no-such-day", "date-only", "no-zone", "number", "absent", "far-future"])
@responses.activate
def test_a_claim_that_cannot_be_placed_in_time_is_reported_and_the_watermark_stays(
        tmp_path, updated):
    state = tmp_path / "state.json"
    SyncState(watermark="2026-02-01T00:00:00.000Z").save(state)
    bad = _claim("kbad", updated)
    if updated is None:
        del bad["meta"]["lastUpdated"]
    ClaimServer([K1, bad, K2])

    run, outcome = _sync(state)

    assert sorted(_processed(run)) == ["Claim/k1", "Claim/k2", "Claim/kbad"]  # all checked
    problem = next(e for e in run.report.errors if e.resource == "Claim/kbad")
    assert "sync watermark stays" in problem.message
    assert not outcome.moved
    assert SyncState.load(state).watermark == "2026-02-01T00:00:00.000Z"


@responses.activate
def test_an_unreached_claim_that_cannot_be_placed_in_time_keeps_the_watermark(tmp_path):
    state = tmp_path / "state.json"
    ClaimServer([K1, _claim("kbad", "yesterday"), K2], sorts=False)

    run, outcome = _sync(state, max_claims=1)

    assert _processed(run) == ["Claim/k1"]
    assert any(e.resource == "Claim/kbad" for e in run.report.errors)
    assert not outcome.moved and not state.exists()


@responses.activate
def test_a_failed_check_of_what_was_left_unread_keeps_the_watermark(tmp_path):
    state = tmp_path / "state.json"
    ClaimServer([K1, K2])
    responses.add(responses.GET, f"{BASE}/Claim", status=400,
                  match=[responses.matchers.query_param_matcher(
                      {"_lastUpdated": "le2026-03-01T10:00:00.000Z", "_count": "1000"})])

    run, outcome = _sync(state, max_claims=1)

    assert not outcome.moved
    assert any(e.resource == WATERMARK and "could not ask the server" in e.message
               for e in run.report.errors)


@responses.activate
def test_a_negative_overlap_is_refused_before_any_request(tmp_path):
    # it would search from after the watermark: a claim updated just after it never checked
    mappings = load_mappings()
    judge = modes.Judge(mappings, Policy.from_mappings(mappings, mappings.thresholds))
    with pytest.raises(ValueError, match="must not be negative"):
        modes.sync(judge, FhirClient(BASE), tmp_path / "state.json", dry_run=False,
                   max_entries=50, overlap=timedelta(seconds=-5), max_claims=None)
    assert not responses.calls and not (tmp_path / "state.json").exists()


def test_an_out_of_range_saved_watermark_does_not_crash_the_next_run():
    assert _since("0001-01-01T00:00:00Z", timedelta(minutes=5)) == "0001-01-01T00:00:00.000Z"
    assert _since("not a date", timedelta(minutes=5)) is None


def test_instants_are_fhir_instants():
    assert instant("2026-03-02T10:00:00.123+01:00") == datetime(2026, 3, 2, 9, 0, 0, 123000,
                                                                tzinfo=UTC)
    assert instant("2026-03-02T10:00:00Z") is not None
    assert instant("2026-03-02") is None and instant("2026-03-02T10:00") is None
