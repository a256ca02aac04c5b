"""Idempotent write-back, decided without a server: creates, updates, cancels, nothing twice."""

from __future__ import annotations

from datetime import UTC, date, datetime

from adapter.findings import Finding
from adapter.output.detected_issue import IDENTIFIER_SYSTEM, build_detected_issue, key_of
from adapter.output.report import ClaimResult
from adapter.output.writeback import plan_writes
from tests.scenario import clean_chart, run

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


def test_only_detected_issues_are_in_the_transaction():
    report = run(*clean_chart(supporting=()))
    plan = plan_writes(report.claims, [], RUN_1)
    assert plan.creates, "the unlinked evidence must produce a finding"
    types = {e["resource"]["resourceType"] for e in plan.transaction()["entry"]}
    assert types == {"DetectedIssue"}
    urls = {e["request"]["url"].split("/")[0] for e in plan.transaction()["entry"]}
    assert urls == {"DetectedIssue"}


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
