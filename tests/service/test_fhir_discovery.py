"""The service as a FHIR client sees it, over HTTP: ``GET /metadata``, the ``$b12-check``
OperationDefinition, a ``Parameters`` answer for ``Accept: application/fhir+json`` (the JSON
report entry for ``application/json``), and a valid DetectedIssue Bundle. Every resource the
service returns is validated with fhir.resources, as write-back validates its own."""

from __future__ import annotations

import re

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationdefinition import OperationDefinition
from fhir.resources.R4B.parameters import Parameters

from adapter.service.fhir_answer import CANONICAL, wants_fhir
from tests.scenario import clean_chart
from tests.service.conftest import Client, bundle

CHECK = "/Claim/$b12-check"
FHIR = {"Accept": "application/fhir+json"}
URN_UUID = re.compile(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _review_chart() -> list[dict]:
    return [r for r in clean_chart(dx="D51.0") if r["id"] != "h1"]  # anemia-not-supported


def test_metadata_is_an_open_capability_statement_naming_the_operation(service):
    response = Client(service, token=None).get("/metadata")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    statement = response.json()
    CapabilityStatement.model_validate(statement)
    assert statement["fhirVersion"] == "4.0.1" and statement["kind"] == "instance"
    assert statement["implementation"]["url"] == service.url
    rest = statement["rest"][0]
    by_type = {r["type"]: r for r in rest["resource"]}
    for rtype in ("Claim", "ExplanationOfBenefit"):
        assert by_type[rtype]["operation"] == [
            {"name": "b12-check", "definition": CANONICAL,
             "documentation": "Check the claim against the chart (B12 injections)"}]


def test_the_operation_definition_says_what_goes_in_and_out(service):
    definition = Client(service, token=None).get("/OperationDefinition/b12-check").json()

    OperationDefinition.model_validate(definition)
    assert definition["url"] == CANONICAL and definition["code"] == "b12-check"
    assert definition["resource"] == ["Claim", "ExplanationOfBenefit"]
    assert definition["type"] is True and definition["instance"] is False
    assert definition["affectsState"] is False  # no FHIR server: nothing is written
    params = {(p["use"], p["name"]) for p in definition["parameter"]}
    assert {("in", "resource"), ("in", "claim"), ("out", "result"), ("out", "detectedIssue"),
            ("out", "outcome")} <= params


def test_a_fhir_client_gets_parameters_with_the_result_and_detected_issues(client):
    response = client.post(CHECK, json=bundle(*_review_chart()), headers=FHIR)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    answer = response.json()
    Parameters.model_validate(answer)
    names = [p["name"] for p in answer["parameter"]]
    assert names == ["result", "detectedIssue"]
    result = {p["name"]: p for p in answer["parameter"][0]["part"]}
    assert result["claim"]["valueReference"] == {"reference": "Claim/k1"}
    assert result["verdict"]["valueCode"] == "review"
    assert result["serviceDate"]["valueDate"] == "2026-03-02"
    finding = {p["name"]: p for p in result["finding"]["part"]}
    assert finding["code"]["valueCode"] == "anemia-not-supported"
    assert finding["severity"]["valueCode"] == "moderate"
    assert finding["diagnosis"]["valueCode"] == "D51.0"
    issue = answer["parameter"][1]["resource"]
    assert issue["resourceType"] == "DetectedIssue"
    assert issue["code"]["coding"][0]["code"] == "anemia-not-supported"


def test_unusable_resources_come_back_as_an_operation_outcome_part(client):
    from fixtures import builders as b

    bad = b.lab("o2", "p1", "b12", None, None, "2026-02-11")
    bad["valueQuantity"] = {"value": "low"}

    answer = client.post(CHECK, json=bundle(*clean_chart(), bad), headers=FHIR).json()

    Parameters.model_validate(answer)
    outcome = next(p["resource"] for p in answer["parameter"] if p["name"] == "outcome")
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["diagnostics"].startswith("Observation/o2: ")


def test_a_skipped_claim_is_a_result_with_the_reason(client):
    from fixtures import builders as b
    from tests.scenario import SERVICE

    claim = b.claim("k9", "p1", SERVICE, product=(b.CPT, "99213"), extra_items=False)
    answer = client.post(CHECK, json=bundle(b.patient("p1"), claim),
                         headers={"Accept": "application/fhir+json; fhirVersion=4.0"}).json()

    Parameters.model_validate(answer)
    assert answer["parameter"] == [{"name": "result", "part": [
        {"name": "claim", "valueReference": {"reference": "Claim/k9"}},
        {"name": "skipped", "valueString": "no B12 injection item"}]}]


def test_application_json_keeps_the_json_report_entry(client):
    for headers in ({"Accept": "application/json"}, {}, {"Accept": "*/*"},
                    {"Accept": "application/json, application/fhir+json;q=0.5"}):
        answer = client.post(CHECK, json=bundle(*_review_chart()), headers=headers).json()
        assert answer["claim"]["verdict"] == "review", headers
    assert client.post(CHECK + "?_format=json", json=bundle(*_review_chart()),
                       headers={"Accept": "application/json"}).json()["resourceType"] \
        == "Parameters"


def test_the_detected_issues_bundle_is_a_valid_collection(client):
    answer = client.post(CHECK, json=bundle(*_review_chart())).json()

    issues = answer["detected_issues"]
    Bundle.model_validate(issues)
    assert issues["type"] == "collection" and "total" not in issues  # bdl-1
    assert issues["entry"]
    for entry in issues["entry"]:
        assert URN_UUID.fullmatch(entry["fullUrl"]), entry["fullUrl"]
        assert entry["fullUrl"][9:].replace("-", "") == entry["resource"]["id"][4:]


def test_accept_negotiation():
    assert wants_fhir("application/fhir+json")
    assert wants_fhir("application/fhir+json;q=1.0, application/json+fhir;q=0.9")
    assert wants_fhir("application/json, application/fhir+json")  # a tie goes to FHIR
    assert not wants_fhir("application/json")
    assert not wants_fhir(None)
    assert not wants_fhir("*/*")
    assert not wants_fhir("application/fhir+json;q=0.2, application/json")
    assert not wants_fhir("application/fhir+json;q=0")
    assert wants_fhir("application/json", "json")
    assert not wants_fhir("application/fhir+json", "xml")


def test_the_operation_affects_state_when_it_writes_back():
    from adapter.service.fhir_answer import operation_definition

    assert operation_definition(writes_back=True)["affectsState"] is True
    OperationDefinition.model_validate(operation_definition(writes_back=True))
