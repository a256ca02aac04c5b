"""Idempotent write-back, decided without a server: creates, updates, cancels, nothing twice."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import requests
import responses

from adapter.fhir import FhirClient, RetryPolicy
from adapter.findings import Finding
from adapter.outcomes import ClaimOutcome, ClaimResult, PageOutcome
from adapter.output.detected_issue import IDENTIFIER_SYSTEM, build_detected_issue, key_of
from adapter.output.writeback import EARLIER_ISSUES, WriteBack, plan_writes

BASE = "http://fhir.test/fhir"

RUN_1 = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
RUN_2 = datetime(2026, 3, 4, 8, 0, tzinfo=UTC)


def _result(*findings: Finding, claim: str = "Claim/k1") -> ClaimResult:
    return ClaimResult(claim, "Patient/p1", date(2026, 3, 2), tuple(findings), version="2")


LAB = Finding("lab-missing", "No B12 lab", diagnosis="E53.8")
LINK = Finding("evidence-not-linked", "Not linked", diagnosis="E53.8", evidence=("Condition/c1",))


def _on_server(result: ClaimResult, finding: Finding, server_id: str) -> dict:
    issue = build_detected_issue(result, finding, RUN_1)
    return {**issue, "id": server_id, "meta": {"versionId": "1", "lastUpdated": "2026-03-03"}}


def test_new_findings_are_conditional_creates_on_their_identifier():
    plan = plan_writes([_result(LAB)], [], RUN_1)
    bundle = plan.transaction()
    assert [e["request"]["method"] for e in bundle["entry"]] == ["POST"]
    entry = bundle["entry"][0]
    assert entry["request"]["ifNoneExist"].startswith("identifier=urn%3Ab12-fhir-adapter")
    assert "Claim%2Fk1%3Alab-missing%3AE53.8" in entry["request"]["ifNoneExist"]
    assert "id" not in entry["resource"]


def test_rerun_with_same_findings_writes_nothing_even_at_a_later_time():
    existing = [_on_server(_result(LAB), LAB, "srv-1")]
    plan = plan_writes([_result(LAB)], existing, RUN_2)
    assert not plan
    assert plan.unchanged == 1
    assert plan.transaction()["entry"] == []


def test_changed_finding_updates_the_existing_issue_in_place():
    existing = [_on_server(_result(LAB), LAB, "srv-1")]
    reworded = Finding("lab-missing", "No B12 lab in 730 days", diagnosis="E53.8")
    plan = plan_writes([_result(reworded)], existing, RUN_2)
    assert [i["id"] for i in plan.updates] == ["srv-1"]
    entry = plan.transaction()["entry"][0]
    assert entry["request"] == {"method": "PUT", "url": "DetectedIssue/srv-1"}
    assert entry["resource"]["detail"] == "No B12 lab in 730 days"


def test_finding_gone_after_correction_is_cancelled_with_a_mitigation():
    existing = [_on_server(_result(LAB, LINK), LAB, "srv-1"),
                _on_server(_result(LAB, LINK), LINK, "srv-2")]
    plan = plan_writes([_result(LINK)], existing, RUN_2)
    assert [i["id"] for i in plan.cancels] == ["srv-1"]
    cancelled = plan.cancels[0]
    assert cancelled["status"] == "cancelled"
    assert "no longer" in cancelled["mitigation"][-1]["action"]["text"]
    assert plan.unchanged == 1 and not plan.creates


def test_already_cancelled_issue_is_not_cancelled_again():
    issue = _on_server(_result(LAB), LAB, "srv-1")
    issue["status"] = "cancelled"
    assert not plan_writes([_result()], [issue], RUN_2)


def test_reappearing_finding_reopens_its_cancelled_issue():
    issue = _on_server(_result(LAB), LAB, "srv-1")
    issue["status"] = "cancelled"
    plan = plan_writes([_result(LAB)], [issue], RUN_2)
    assert [(i["id"], i["status"]) for i in plan.updates] == [("srv-1", "final")]


def test_issues_of_other_claims_are_left_alone():
    other = _on_server(_result(LAB, claim="Claim/k2"), LAB, "srv-9")
    assert not plan_writes([_result()], [other], RUN_2)


def test_issues_of_a_claim_now_cancelled_are_cancelled_with_the_reason():
    issue = _on_server(_result(LAB), LAB, "srv-1")
    plan = plan_writes([], [issue], RUN_2, {"Claim/k1": "claim skipped: claim status is cancelled"})
    assert "claim status is cancelled" in plan.cancels[0]["mitigation"][-1]["action"]["text"]


def test_an_earlier_issue_whose_server_id_is_not_a_fhir_id_never_reaches_a_url():
    tampered = _on_server(_result(LAB), LAB, "../Patient/p1")
    plan = plan_writes([_result(LAB)], [tampered], RUN_2)
    assert not plan.updates and not plan.cancels
    entry = plan.transaction()["entry"][0]
    assert entry["request"]["method"] == "POST" and entry["request"]["url"] == "DetectedIssue"
    assert "ifNoneExist" in entry["request"]  # the server finds the issue by its identifier


def _page(*results: ClaimResult, found: list[dict] | None = None) -> PageOutcome:
    outcomes = tuple(ClaimOutcome(r.claim, result=r) for r in results)
    return PageOutcome(outcomes, found={EARLIER_ISSUES: found or []})


@responses.activate
def test_write_back_counts_what_the_server_confirmed_entry_by_entry():
    existing = _on_server(_result(LAB), LAB, "srv-1")
    reworded = Finding("lab-missing", "No B12 lab in 730 days", diagnosis="E53.8")
    statuses = ["201 Created", "200 OK", "400 Bad Request", "200 OK"]
    responses.post(BASE, json={"resourceType": "Bundle", "type": "transaction-response",
                               "entry": [{"response": {"status": s}} for s in statuses]})
    k2 = _result(LINK, LAB, claim="Claim/k2")
    k3 = _result(LINK, claim="Claim/k3")
    sink = WriteBack(FhirClient(BASE), clock=lambda: RUN_2)

    sink.write(_page(_result(reworded), k2, k3, found=[existing]))

    # sent: creates k2 LINK (201), k2 LAB (200: already there), k3 LINK (400); update srv-1
    assert (sink.totals.created, sink.totals.unchanged, sink.totals.failed,
            sink.totals.updated) == (1, 1, 1, 1)
    assert [p.resource for p in sink.problems] == [
        "DetectedIssue Claim/k3:evidence-not-linked:E53.8"]
    assert not sink.all_landed


@responses.activate
def test_write_back_of_a_page_whose_records_were_not_read_writes_nothing():
    sink = WriteBack(FhirClient(BASE), clock=lambda: RUN_2)
    existing = _on_server(_result(LAB), LAB, "srv-1")

    sink.write(PageOutcome((ClaimOutcome("Claim/k1"),), found={EARLIER_ISSUES: [existing]},
                           complete=False))

    assert len(responses.calls) == 0 and sink.all_landed


def test_identifier_is_stable_for_claim_code_and_diagnosis():
    first = build_detected_issue(_result(LAB), LAB, RUN_1)
    again = build_detected_issue(_result(LAB), LAB, RUN_2)
    assert key_of(first) == key_of(again) == "Claim/k1:lab-missing:E53.8"
    assert first["id"] == again["id"]
    assert first["identifier"][0]["system"] == IDENTIFIER_SYSTEM
    assert first["implicated"][0] == {"reference": "Claim/k1/_history/2"}


def test_writes_are_split_into_transactions_the_server_accepts():
    findings = [Finding("lab-missing", "x", diagnosis=f"D51.{n}") for n in (0, 1, 2, 3, 8, 9)]
    plan = plan_writes([_result(*findings)], [], RUN_1)
    bundles = plan.transactions(4)
    assert [len(b["entry"]) for b in bundles] == [4, 2]
    assert all(b["type"] == "transaction" for b in bundles)
    sent = [e["resource"]["identifier"][0]["value"] for b in bundles for e in b["entry"]]
    assert sent == [key_of(i) for i in plan.creates]


def _unversioned(*findings: Finding) -> ClaimResult:
    return ClaimResult("Claim/k1", "Patient/p1", date(2026, 3, 2), tuple(findings))


def test_a_redelivery_in_the_other_form_writes_nothing():
    """Issue 25: id-only (the claim read from the server, with its version) and full-resource
    (handed in, perhaps without meta.versionId) notifications of the same claim version."""
    read_from_server = [_on_server(_result(LAB), LAB, "srv-1")]
    assert not plan_writes([_unversioned(LAB)], read_from_server, RUN_2)
    handed_in = [_on_server(_unversioned(LAB), LAB, "srv-1")]
    plan = plan_writes([_result(LAB)], handed_in, RUN_2)
    assert not plan and plan.unchanged == 1


def test_a_new_claim_version_still_updates_the_issue():
    existing = [_on_server(_result(LAB), LAB, "srv-1")]
    newer = ClaimResult("Claim/k1", "Patient/p1", date(2026, 3, 2), (LAB,), version="3")
    plan = plan_writes([newer], existing, RUN_2)
    assert [i["implicated"][0]["reference"] for i in plan.updates] == ["Claim/k1/_history/3"]


def _resending_sink() -> WriteBack:
    """Write-back that resends at once (no waits), as the second run."""
    return WriteBack(FhirClient(BASE, retry=RetryPolicy(sleep=lambda s: None)),
                     clock=lambda: RUN_2)


def _timed_out_after_committing(committed: list[dict]):
    def callback(request):  # the server ran the transaction; its answer never came
        committed.append(json.loads(request.body))
        raise requests.ReadTimeout("read timed out")
    return callback


def _found(bundle: dict, status: str = "200 OK") -> dict:
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": [
        {"response": {"status": status},
         "resource": {**e["resource"], "id": f"srv-{n}"}} for n, e in enumerate(bundle["entry"])]}


@responses.activate
def test_creates_sent_again_after_a_lost_answer_are_counted_created_not_unchanged():
    """SERVERS.md: a transaction that timed out after the server committed it; the resent
    conditional creates answer 200 with the issues the first attempt made. The page's search
    found none of them before the first attempt: the run created them."""
    committed: list[dict] = []
    responses.add_callback(responses.POST, BASE, callback=_timed_out_after_committing(committed))
    responses.add_callback(responses.POST, BASE, callback=lambda request: (
        200, {}, json.dumps(_found(json.loads(request.body)))))
    sink = _resending_sink()

    sink.write(_page(_result(LINK, LAB), found=[]))

    assert len(committed) == 1 and len(responses.calls) == 2  # sent twice, committed once
    assert (sink.totals.created, sink.totals.unchanged, sink.totals.failed) == (2, 0, 0)


@responses.activate
def test_a_create_answered_200_at_once_or_after_a_refusal_found_another_writer_s_issue():
    """A 429 commits nothing: a 200 after it (or to a create sent once) finds an issue that
    another writer made since the page's search, not one this run made."""
    responses.post(BASE, status=429, json={"_msBeforeNext": 0})
    responses.add_callback(responses.POST, BASE, callback=lambda request: (
        200, {}, json.dumps(_found(json.loads(request.body)))))
    sink = _resending_sink()

    sink.write(_page(_result(LINK, LAB), found=[]))

    assert len(responses.calls) == 2
    assert (sink.totals.created, sink.totals.unchanged) == (0, 2)


@responses.activate
def test_a_create_refused_429_on_the_resend_after_a_lost_answer_still_counts_created():
    """The retry after the lost answer finds one issue (200) and is rate-limited on the other
    ("429" inside the 200); that entry, sent once more, finds what the first attempt made."""
    committed: list[dict] = []
    responses.add_callback(responses.POST, BASE, callback=_timed_out_after_committing(committed))

    def one_limited(request):
        answer = _found(json.loads(request.body))
        answer["entry"][1] = {"response": {"status": "429"}}
        return 200, {"RateLimit": '"fhirInteractions";r=0;t=0'}, json.dumps(answer)

    responses.add_callback(responses.POST, BASE, callback=one_limited)
    responses.add_callback(responses.POST, BASE, callback=lambda request: (
        200, {}, json.dumps(_found(json.loads(request.body)))))
    sink = _resending_sink()

    sink.write(_page(_result(LINK, LAB), found=[]))

    assert len(responses.calls) == 3
    assert (sink.totals.created, sink.totals.unchanged, sink.totals.failed) == (2, 0, 0)


def test_a_note_finding_s_detail_gives_the_message_then_the_note_s_sentence():
    said = Finding("note-symptom-only", "The note gives only symptoms (date of service "
                   "2026-03-02)", evidence=("DocumentReference/n1",),
                   quote="B12 shot for [[low energy]].")
    issue = build_detected_issue(_result(said), said, RUN_2)
    assert issue["detail"] == ("The note gives only symptoms (date of service 2026-03-02). "
                               "The note says: \u201cB12 shot for [[low energy]].\u201d")
    ended = Finding("note-symptom-only", "Only symptoms.", quote="tired")
    assert build_detected_issue(_result(ended), ended, RUN_2)["detail"].startswith(
        "Only symptoms. The note says")
