"""``POST /Claim/$b12-check`` over HTTP, with no FHIR server: a posted Bundle or Claim is
checked against what came with it, and the answer is the claim's JSON report entry (the same
as ``b12-adapter check``'s) and its DetectedIssues; bad input is a 4xx OperationOutcome."""

from __future__ import annotations

import json

from adapter.cli import main
from fixtures import builders as b
from tests.scenario import SERVICE, clean_chart
from tests.service.conftest import MAX_BODY, Client, bundle

CHECK = "/Claim/$b12-check"


def _outcome(response, status: int) -> str:
    """The response is ``status`` with an OperationOutcome; its diagnostics, joined."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome" and body["issue"]
    return " | ".join(issue["diagnostics"] for issue in body["issue"])


def test_a_posted_bundle_answers_the_same_report_entry_as_the_cli(client, tmp_path, capsys):
    chart = clean_chart(dx="D51.0")
    chart = [r for r in chart if r["id"] != "h1"]  # no hemoglobin: anemia-not-supported
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle(*chart)))
    main(["check", "--source", str(path), "--format", "json"])
    cli = json.loads(capsys.readouterr().out)

    response = client.post(CHECK, json=bundle(*chart))

    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["claim"] == cli["claims"][0]
    assert answer["claim"]["verdict"] == "review"
    assert answer["skipped"] is None and answer["errors"] == [] and answer["writes"] is None
    issues = [e["resource"] for e in answer["detected_issues"]["entry"]]
    assert [i["code"]["coding"][0]["code"] for i in issues] == \
        [f["code"] for f in answer["claim"]["findings"]] == ["anemia-not-supported"]
    assert issues[0]["implicated"][0] == {"reference": "Claim/k1"}
    assert issues[0]["identifier"][0]["value"] == "Claim/k1:anemia-not-supported:D51.0"


def test_a_bare_claim_is_checked_against_nothing_but_itself(client):
    response = client.post(CHECK, json=b.claim("k1", "p1", SERVICE, diagnoses=("E53.8",)),
                           headers={"Content-Type": "application/fhir+json"})

    assert response.status_code == 200
    codes = {f["code"] for f in response.json()["claim"]["findings"]}
    assert {"dx-not-documented", "admin-missing", "lab-missing"} <= codes


def test_a_parameters_wrapper_is_read_like_its_resource(client):
    chart = clean_chart()
    wrapped = {"resourceType": "Parameters",
               "parameter": [{"name": "resource", "resource": bundle(*chart)}]}

    response = client.post(CHECK, json=wrapped)

    assert response.status_code == 200
    assert response.json()["claim"]["verdict"] == "supported"
    assert response.json()["detected_issues"]["entry"] == []


def test_a_claim_out_of_scope_is_answered_as_skipped(client):
    claim = b.claim("k9", "p1", SERVICE, product=(b.CPT, "99213"), extra_items=False)

    response = client.post(CHECK, json=bundle(b.patient("p1"), claim))

    assert response.status_code == 200
    assert response.json()["skipped"] == {"claim": "Claim/k9", "reason": "no B12 injection item"}
    assert response.json()["claim"] is None


def test_an_unusable_evidence_resource_is_listed_and_the_claim_still_checked(client):
    chart = clean_chart()
    bad = b.lab("o2", "p1", "b12", None, None, "2026-02-11")
    bad["valueQuantity"] = {"value": "low"}

    response = client.post(CHECK, json=bundle(*chart, bad))

    assert response.status_code == 200
    assert response.json()["claim"]["verdict"] == "supported"
    assert response.json()["errors"][0]["resource"] == "Observation/o2"


def test_an_entry_whose_resource_type_is_not_a_string_is_an_error_not_a_crash(client):
    # found by schemathesis: {"resourceType": {}} made the memory source raise
    posted = bundle(*clean_chart())
    posted["entry"].append({"resource": {"resourceType": {}, "id": "x"}})

    response = client.post(CHECK, json=posted)

    assert response.status_code == 200, response.text
    assert response.json()["errors"] == [
        {"resource": "Bundle entry[5]", "message": "resource.resourceType is not a string"}]


def test_bad_input_is_a_4xx_operation_outcome_naming_the_problem(client):
    assert "not valid JSON" in _outcome(client.post(CHECK, data=b"{"), 400)
    assert "no body" in _outcome(client.post(CHECK, data=b""), 400)
    assert "JSON object" in _outcome(client.post(CHECK, json=[1, 2]), 400)
    assert "got a Patient" in _outcome(client.post(CHECK, json=b.patient("p1")), 400)
    assert "not supported" in _outcome(client.post(
        CHECK, data=b"<Claim/>", headers={"Content-Type": "application/fhir+xml"}), 415)
    assert "no Claim" in _outcome(client.post(CHECK, json=bundle(b.patient("p1"))), 422)
    nameless = b.claim("k3", "p1", SERVICE)
    del nameless["patient"]
    assert "Claim/k3: Claim has no patient" in _outcome(client.post(CHECK, json=nameless), 422)
    assert "needs a FHIR server" in _outcome(client.post(CHECK, json={"reference": "Claim/k1"}),
                                             400)
    assert "not a Claim reference" in _outcome(
        client.post(CHECK, json={"reference": "Patient/p1"}), 400)


def test_an_explanation_of_benefit_is_checked_at_its_own_endpoint(client):
    chart = clean_chart()
    eob = {**chart[-1], "resourceType": "ExplanationOfBenefit", "id": "e1"}

    response = client.post("/ExplanationOfBenefit/$b12-check", json=bundle(*chart[:-1], eob))

    assert response.status_code == 200
    assert response.json()["claim"]["claim"] == "ExplanationOfBenefit/e1"
    assert response.json()["claim"]["verdict"] == "supported"


def test_a_body_over_the_limit_is_refused_with_413(client):
    big = bundle(*clean_chart())
    big["padding"] = "x" * MAX_BODY
    assert "over the limit" in _outcome(client.post(CHECK, json=big), 413)


def test_a_streamed_body_over_the_limit_is_refused_with_413(client):
    def chunks():
        yield b'{"resourceType": "Bundle", "padding": "'
        for _ in range(MAX_BODY // 1024 + 1):
            yield b"x" * 1024
        yield b'"}'

    response = client.post(CHECK, data=chunks())  # chunked: no Content-Length
    assert "over the limit" in _outcome(response, 413)


def test_callers_need_the_token_and_probes_do_not(service):
    anonymous, wrong = Client(service, token=None), Client(service, token="guess")

    assert anonymous.get("/health").json() == {"status": "ok"}
    ready = anonymous.get("/ready").json()
    assert ready["status"] == "ready"
    assert "FY2026-04" in ready["icd10cm"]  # the releases it judges with, not a code's title
    response = anonymous.post(CHECK, json=bundle(*clean_chart()))
    assert "bearer token" in _outcome(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    _outcome(wrong.post(CHECK, json=bundle(*clean_chart())), 401)
    _outcome(anonymous.get("/openapi.json"), 401)


def test_request_ids_are_honoured_or_made_and_logged_without_phi(client, service):
    chart = clean_chart()
    chart[0]["name"] = [{"family": "Quixote-Sentinel"}]

    given = client.post(CHECK, json=bundle(*chart), headers={"X-Request-ID": "engine-42"})
    made = client.post(CHECK, json=bundle(*chart), headers={"X-Request-ID": "bad id\u00e9"})

    assert given.headers["x-request-id"] == "engine-42"
    assert len(made.headers["x-request-id"]) == 32
    lines = service.log_lines()
    mine = [line for line in lines if line.get("request_id") == "engine-42"]
    assert any(line["message"] == "request" and line["status"] == 200 for line in mine)
    assert any(line.get("claim") == "Claim/k1" for line in mine)
    assert "Quixote-Sentinel" not in service.log_path.read_text()


def test_unknown_paths_and_methods_answer_an_operation_outcome(client):
    assert _outcome(client.get("/Patient/p1"), 404)
    assert _outcome(client.get(CHECK), 405)


def test_the_openapi_document_describes_every_endpoint(client):
    paths = client.get("/openapi.json").json()["paths"]

    assert {"/Claim/$b12-check", "/ExplanationOfBenefit/$b12-check", "/subscription",
            "/subscription/{resource_type}/{resource_id}", "/cds-services",
            "/cds-services/b12-injection", "/health", "/ready"} <= set(paths)
    check = paths["/Claim/$b12-check"]["post"]
    assert {"200", "400", "413", "422"} <= set(check["responses"])


def test_the_openapi_document_describes_the_bearer_auth_and_refuses_blank_strings(client):
    document = client.get("/openapi.json").json()

    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert document["paths"][CHECK]["post"]["security"] == [{"bearer": []}]
    assert "security" not in document["paths"]["/health"]["get"]
    assert "security" not in document["paths"]["/metadata"]["get"]
    hook = document["paths"]["/cds-services/b12-injection"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]
    assert hook["properties"]["hookInstance"]["minLength"] == 1
    assert hook["properties"]["hookInstance"]["pattern"] == r"\S"
    check = document["paths"][CHECK]["post"]["requestBody"]["content"]["application/json"][
        "schema"]["anyOf"]
    reference = next(s for s in check if "reference" in s.get("properties", {}))
    assert reference["properties"]["reference"]["minLength"] == 1
