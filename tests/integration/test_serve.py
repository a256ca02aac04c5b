"""``b12-adapter serve`` against a real FHIR server process (Medplum's engine), end to end.

Processes: the test FHIR server (node, its own for this module: its Subscriptions must not
fire for other modules' claims) and uvicorn services started by the tests. The Subscription
path is driven by the FHIR server itself: the tests create a rest-hook Subscription pointing
at the service, write a Claim, and wait (bounded) until the service has written the claim's
DetectedIssues back.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from fixtures import builders as b
from tests.fhir_server_process import running_fhir_server
from tests.integration.test_server_mode import SERVICE, _chart, _codes, _issues, _load
from tests.service_process import Service, running_service

TOKEN = "serve-integration-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHECK = "/Claim/$b12-check"
MEDPLUM = ("--max-transaction-entries", "8")
WAIT_SECONDS = 30.0


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running_fhir_server() as base_url:
        yield base_url


@pytest.fixture(scope="module")
def service(server: str) -> Iterator[Service]:
    with running_service("--server", server, *MEDPLUM, "--api-token-env", "B12_SERVE_TOKEN",
                         "--cds-fhir-server", server,
                         env={"B12_SERVE_TOKEN": TOKEN}) as running:
        yield running


def _post(service: Service, path: str, body: Any = None, data: bytes | None = None
          ) -> requests.Response:
    return requests.post(service.url + path, json=body, data=data, headers=AUTH, timeout=60)


def _in_memory_codes(service: Service, resources: list[dict[str, Any]], claim: str) -> set[str]:
    """What the checker finds for ``claim`` from a Bundle of the same chart (no server)."""
    patient = next(r for r in resources if r["id"] == claim)["patient"]["reference"]
    chart = [r for r in resources if r["resourceType"] != "Claim" or r["id"] == claim]
    chart = [r for r in chart if r.get("resourceType") == "Claim"
             or (r.get("subject") or {}).get("reference") == patient
             or f"Patient/{r['id']}" == patient]
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": r} for r in chart]}
    answer = _post(service, CHECK, bundle).json()
    return {f["code"] for f in answer["claim"]["findings"]}


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"not within {WAIT_SECONDS:.0f} s: {what}")


def test_a_claim_reference_is_checked_on_the_server_and_its_issues_written_once(
        server, service):
    resources = _chart("svr")
    _load(server, resources)

    first = _post(service, CHECK, {"reference": "Claim/svr-k3"})
    again = _post(service, CHECK, {"resourceType": "Parameters", "parameter": [
        {"name": "claim", "valueReference": {"reference": f"{server}/Claim/svr-k3"}}]})

    assert first.status_code == 200, first.text
    answer = first.json()
    assert answer["claim"]["verdict"] == "unsupported"
    codes = {f["code"] for f in answer["claim"]["findings"]}
    assert codes == _in_memory_codes(service, resources, "svr-k3")
    assert _codes(server, "svr-k3") == codes
    assert answer["writes"]["created"] == len(codes) and answer["writes"]["failed"] == 0
    assert again.status_code == 200
    assert again.json()["writes"]["created"] == 0
    assert again.json()["writes"]["unchanged"] == len(codes)
    assert len(_issues(server, "svr-k3")) == len(codes)


def test_a_batch_of_claim_references_is_checked_on_the_server_one_result_per_claim(
        server, service):
    resources = _chart("sbt")
    _load(server, resources)
    refs = ["Claim/sbt-k1", "Claim/sbt-k2", "Claim/sbt-k3", "Claim/sbt-nowhere"]

    response = _post(service, CHECK, {"resourceType": "Parameters", "parameter": [
        {"name": "claim", "valueReference": {"reference": ref}} for ref in refs]})

    assert response.status_code == 200, response.text
    answer = response.json()
    assert sorted(c["claim"] for c in answer["claims"]) == refs[:3]
    assert answer["errors"] == [{"resource": "Claim/sbt-nowhere",
                                 "message": "not on the FHIR server"}]
    assert answer["summary"]["errors"] == 1  # named once
    for entry in answer["claims"]:
        claim = entry["claim"].partition("/")[2]
        assert _codes(server, claim) == {f["code"] for f in entry["findings"]}
    assert answer["writes"]["failed"] == 0
    assert answer["writes"]["created"] == sum(len(c["findings"]) for c in answer["claims"])


def test_the_operation_definition_says_it_writes_back(service):
    definition = requests.get(service.url + "/OperationDefinition/b12-check", timeout=30).json()

    assert definition["affectsState"] is True


def test_a_claim_not_on_the_server_is_a_404(service):
    response = _post(service, CHECK, {"reference": "Claim/nowhere-1"})

    assert response.status_code == 404
    assert "Claim/nowhere-1" in response.json()["issue"][0]["diagnostics"]


def test_a_posted_corrected_claim_is_judged_on_the_server_chart_and_stale_issues_cancelled(
        server, service):
    resources = _chart("svc")
    _load(server, resources)
    _post(service, CHECK, {"reference": "Claim/svc-k2"})
    assert "evidence-not-linked" in _codes(server, "svc-k2")

    corrected = b.claim("svc-k2", "svc-p2", SERVICE, diagnoses=("E53.8",),
                        supporting=("Condition/svc-c2",))
    response = _post(service, CHECK, corrected)

    assert response.status_code == 200, response.text
    assert "evidence-not-linked" not in {f["code"] for f in response.json()["claim"]["findings"]}
    assert response.json()["writes"]["cancelled"] >= 1
    assert "evidence-not-linked" in _codes(server, "svc-k2", status="cancelled")


def test_a_posted_bundle_is_checked_against_itself_and_nothing_is_written(server, service):
    resources = _chart("svb")
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": r} for r in resources if r["id"].endswith(("p3", "c3",
                                                                               "o3", "k3"))]}

    response = _post(service, CHECK, bundle)

    assert response.status_code == 200
    assert response.json()["writes"] is None
    assert _issues(server, "svb-k3") == []


def test_dry_run_answers_the_planned_writes_and_writes_nothing(server):
    _load(server, _chart("svd"))
    with running_service("--server", server, *MEDPLUM, "--dry-run") as dry:
        response = requests.post(dry.url + CHECK, json={"reference": "Claim/svd-k3"},
                                 timeout=60)

    assert response.status_code == 200
    writes = response.json()["writes"]
    assert writes["dry_run"] is True and writes["created"] == 0
    assert "create DetectedIssue Claim/svd-k3:admin-missing:-" in writes["planned"]
    assert _issues(server, "svd-k3") == []


def _subscribe(server: str, service: Service, criteria: str) -> dict[str, Any]:
    subscription = {
        "resourceType": "Subscription", "status": "active", "reason": "B12 claim check",
        "criteria": criteria,
        "channel": {"type": "rest-hook", "endpoint": f"{service.url}/subscription",
                    "payload": "application/fhir+json",
                    "header": [f"Authorization: Bearer {TOKEN}"]},
    }
    response = requests.post(f"{server}/Subscription", json=subscription, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


def test_the_fhir_server_notifies_a_new_claim_and_the_service_writes_its_issues(
        server, service):
    resources = _chart("sub")
    _subscribe(server, service, "Claim?patient=Patient/sub-p3")
    chart = [r for r in resources if r["resourceType"] != "Claim"]
    _load(server, chart)
    expected = _in_memory_codes(service, resources, "sub-k3")

    claim = next(r for r in resources if r["id"] == "sub-k3")
    created = requests.put(f"{server}/Claim/sub-k3", json=claim, timeout=30)
    assert created.status_code in (200, 201), created.text

    _wait_for(lambda: _codes(server, "sub-k3") == expected,
              f"DetectedIssues {sorted(expected)} for Claim/sub-k3")
    notified = [line for line in service.log_lines() if line.get("message") == "notification"
                and "Claim/sub-k3" in line.get("claims", [])]
    assert notified and notified[0]["subscription"].startswith("Subscription/")


def test_a_notified_lab_rechecks_the_patients_claims_and_cancels_what_it_fixed(
        server, service):
    resources = _chart("sbl")
    _load(server, resources)
    _post(service, CHECK, {"reference": "Claim/sbl-k2"})
    assert "lab-missing" in _codes(server, "sbl-k2")
    _subscribe(server, service, "Observation?subject=Patient/sbl-p2")

    lab = b.lab("sbl-o2", "sbl-p2", "b12", 120, "pg/mL", "2026-02-20")
    assert requests.put(f"{server}/Observation/sbl-o2", json=lab, timeout=30).ok

    _wait_for(lambda: "lab-missing" in _codes(server, "sbl-k2", status="cancelled"),
              "lab-missing cancelled for Claim/sbl-k2 after the lab was recorded")


def _status_bundle(kind: str, focus: list[str], entries: list[dict[str, Any]]) -> dict:
    status = {"resourceType": "SubscriptionStatus", "status": "active", "type": kind,
              "eventsSinceSubscriptionStart": "1",
              "subscription": {"reference": "Subscription/topic-1"},
              "topic": "http://example.org/SubscriptionTopic/claim-changed",
              "notificationEvent": [{"eventNumber": "1", "focus": {"reference": ref}}
                                    for ref in focus]}
    return {"resourceType": "Bundle", "type": "history", "timestamp": "2026-03-02T10:00:00Z",
            "entry": [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": status}, *entries]}


def test_topic_based_handshake_and_heartbeat_are_answered_without_checking(server, service):
    for kind in ("handshake", "heartbeat"):
        response = _post(service, "/subscription", _status_bundle(kind, [], []))
        assert response.status_code == 200
        assert response.json() == {"notification": kind}


def test_topic_based_id_only_and_full_resource_notifications_are_checked(server, service):
    resources = _chart("sbt")
    _load(server, resources)
    id_only = _status_bundle("event-notification", [f"{server}/Claim/sbt-k3"], [
        {"fullUrl": f"{server}/Claim/sbt-k3", "request": {"method": "PUT",
                                                          "url": "Claim/sbt-k3"},
         "response": {"status": "200"}}])
    claim = next(r for r in resources if r["id"] == "sbt-k2")
    full = _status_bundle("event-notification", ["Claim/sbt-k2"], [
        {"fullUrl": f"{server}/Claim/sbt-k2", "resource": claim}])

    first = _post(service, "/subscription", id_only)
    second = _post(service, "/subscription", full)
    repeat = _post(service, "/subscription", id_only)

    assert first.status_code == 200, first.text
    assert [c["claim"] for c in first.json()["checked"]] == ["Claim/sbt-k3"]
    assert _codes(server, "sbt-k3") == _in_memory_codes(service, resources, "sbt-k3")
    assert [c["claim"] for c in second.json()["checked"]] == ["Claim/sbt-k2"]
    assert _codes(server, "sbt-k2") == _in_memory_codes(service, resources, "sbt-k2")
    assert repeat.json()["writes"]["created"] == 0  # delivered twice: nothing new


def test_the_r4_backport_parameters_form_and_the_r4_put_form_are_read(server, service):
    resources = _chart("sbp")
    _load(server, resources)
    parameters = {"resourceType": "Parameters", "parameter": [
        {"name": "subscription", "valueReference": {"reference": "Subscription/b1"}},
        {"name": "type", "valueCode": "event-notification"},
        {"name": "notification-event", "part": [
            {"name": "event-number", "valueString": "3"},
            {"name": "focus", "valueReference": {"reference": "Claim/sbp-k3"}}]}]}
    backport = {"resourceType": "Bundle", "type": "history",
                "entry": [{"resource": parameters}]}
    claim = next(r for r in resources if r["id"] == "sbp-k2")

    first = _post(service, "/subscription", backport)
    put = requests.put(f"{service.url}/subscription/Claim/sbp-k2", json=claim, headers=AUTH,
                       timeout=60)
    mismatch = requests.put(f"{service.url}/subscription/Claim/other", json=claim,
                            headers=AUTH, timeout=60)

    assert first.status_code == 200, first.text
    assert [c["claim"] for c in first.json()["checked"]] == ["Claim/sbp-k3"]
    assert put.status_code == 200 and put.json()["checked"][0]["claim"] == "Claim/sbp-k2"
    assert _codes(server, "sbp-k2")
    assert mismatch.status_code == 400


def test_an_empty_notification_without_state_is_refused(service):
    response = _post(service, "/subscription", data=b"")

    assert response.status_code == 422
    assert "--state" in response.json()["issue"][0]["diagnostics"]


def test_an_empty_notification_runs_a_sync_of_the_changed_claims(tmp_path):
    with running_fhir_server() as fresh:
        resources = _chart("png")
        _load(fresh, resources)
        state = tmp_path / "state.json"
        with running_service("--server", fresh, *MEDPLUM, "--state", str(state)) as pinged:
            response = requests.post(f"{pinged.url}/subscription", data=b"", timeout=30)
            assert response.status_code == 202
            assert response.json() == {"notification": "ping", "sync": "started"}
            _wait_for(lambda: state.exists() and json.loads(state.read_text())["watermark"],
                      "the sync run's watermark")
            for claim in ("png-k2", "png-k3"):
                assert _codes(fresh, claim) == _in_memory_codes(pinged, resources, claim)
            _wait_for(lambda: 'b12_sync_runs_total{result="ok"} 1.0' in requests.get(
                f"{pinged.url}/metrics", timeout=30).text, "the sync run in /metrics")
            metrics = requests.get(f"{pinged.url}/metrics", timeout=30).text
            assert re.search(r"^b12_sync_lag_seconds \d", metrics, re.M)
            assert re.search(r'^b12_detectedissue_writes_total\{outcome="created"\} [1-9]',
                             metrics, re.M)
            assert re.search(r'^b12_claims_total\{source="sync",verdict="unsupported"\} [1-9]',
                             metrics, re.M)


def test_cds_hooks_reads_the_chart_from_an_allowed_fhir_server(server, service):
    _load(server, [b.patient("cds-p1"), b.condition("cds-c1", "cds-p1", icd="E53.8")])
    order = {"resourceType": "MedicationRequest", "id": "cds-mr1", "status": "draft",
             "intent": "order", "subject": {"reference": "Patient/cds-p1"},
             "authoredOn": SERVICE,
             "medicationCodeableConcept": {"coding": [{"system": b.RXNORM, "code": "309594"}]},
             "reasonCode": [{"coding": [{"system": b.ICD10CM, "code": "E53.8"}]}]}
    body = {"hook": "order-sign", "hookInstance": str(uuid.uuid4()), "fhirServer": server,
            "fhirAuthorization": {"access_token": "ehr-token", "token_type": "Bearer",
                                  "expires_in": 300, "scope": "user/*.read", "subject": "b12"},
            "context": {"userId": "Practitioner/u1", "patientId": "cds-p1",
                        "draftOrders": {"resourceType": "Bundle", "type": "collection",
                                        "entry": [{"resource": order}]}}}

    response = _post(service, "/cds-services/b12-injection", body)

    assert response.status_code == 200, response.text
    assert [c["source"]["topic"]["code"] for c in response.json()["cards"]] == ["lab-missing"]
    assert _issues(server, "b12-order-cds-mr1") == []  # an order writes nothing


def test_sigterm_lets_the_service_stop_gracefully(server):
    with running_service("--server", server) as running:
        assert requests.get(f"{running.url}/health", timeout=10).ok
    # uvicorn finishes its shutdown, then re-raises the SIGTERM it caught (exit by signal 15)
    assert running.exit_status in (0, -15)
    messages = [line.get("message") for line in running.log_lines()]
    assert messages.index("Shutting down") < messages.index("stopped") < messages.index(
        "Application shutdown complete.")
