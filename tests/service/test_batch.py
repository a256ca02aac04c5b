"""A batch of claims in one ``$b12-check`` call over HTTP: a Bundle of claims with their
charts answers the report ``b12-adapter check --format json`` prints for the same Bundle
(one entry per claim), plus its DetectedIssues; bounded by ``--max-batch-claims``."""

from __future__ import annotations

import json

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.parameters import Parameters

from adapter.cli import main
from fixtures import builders as b
from tests.scenario import SERVICE
from tests.service.conftest import TOKEN, Client, bundle
from tests.service_process import running_service

CHECK = "/Claim/$b12-check"


def chart(n: int, dx: str = "E53.8", hemoglobin: bool = True) -> list[dict]:
    """One patient's backed claim, every id suffixed with ``n``."""
    pid = f"p{n}"
    resources = [b.patient(pid), b.condition(f"c{n}", pid, icd=dx),
                 b.lab(f"o{n}", pid, "b12", 150, "pg/mL", "2026-02-10"),
                 b.administration(f"a{n}", pid, SERVICE)]
    if dx.startswith("D51") and hemoglobin:
        resources.append(b.lab(f"h{n}", pid, "hemoglobin", 10.9, "g/dL", "2026-02-10"))
    resources.append(b.claim(f"k{n}", pid, SERVICE, diagnoses=(dx,),
                             supporting=(f"Condition/c{n}", f"Observation/o{n}")))
    return resources


def batch_bundle() -> dict:
    skipped = b.claim("k9", "p1", SERVICE, product=(b.CPT, "99213"), extra_items=False)
    return bundle(*chart(1), *chart(2, dx="D51.0", hemoglobin=False), skipped)


def test_a_bundle_of_claims_answers_the_report_the_cli_prints(client, tmp_path, capsys):
    posted = batch_bundle()
    path = tmp_path / "batch.json"
    path.write_text(json.dumps(posted))
    main(["check", "--source", str(path), "--format", "json"])
    cli = json.loads(capsys.readouterr().out)

    response = client.post(CHECK, json=posted)

    assert response.status_code == 200, response.text
    answer = response.json()
    assert {k: answer[k] for k in ("claims", "skipped", "errors", "summary")} == cli
    assert answer["summary"] == {"checked": 2, "supported": 1, "review": 1, "unsupported": 0,
                                 "skipped": 1, "errors": 0}
    Bundle.model_validate(answer["detected_issues"])
    assert [e["resource"]["identifier"][0]["value"]
            for e in answer["detected_issues"]["entry"]] == \
        ["Claim/k2:anemia-not-supported:D51.0"]
    assert answer["writes"] is None


def test_a_batch_bundle_of_one_claim_still_answers_the_batch_shape(client):
    posted = {**bundle(*chart(1)), "type": "batch"}

    answer = client.post(CHECK, json=posted).json()

    assert answer["summary"]["checked"] == 1
    assert answer["claims"][0]["claim"] == "Claim/k1"


def test_a_fhir_client_gets_one_result_per_claim(client):
    answer = client.post(CHECK, json=batch_bundle(),
                         headers={"Accept": "application/fhir+json"}).json()

    Parameters.model_validate(answer)
    results = [p for p in answer["parameter"] if p["name"] == "result"]
    claims = [next(part["valueReference"]["reference"] for part in r["part"]
                   if part["name"] == "claim") for r in results]
    assert claims == ["Claim/k1", "Claim/k2", "Claim/k9"]
    assert [p["name"] for p in answer["parameter"]].count("detectedIssue") == 1


def test_a_parameters_of_several_claims_is_a_batch(client):
    wrapped = {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": bundle(*chart(1))},
        {"name": "resource", "resource": bundle(*chart(2))}]}

    answer = client.post(CHECK, json=wrapped).json()

    assert [c["claim"] for c in answer["claims"]] == ["Claim/k1", "Claim/k2"]


def test_claim_references_need_a_server_and_types_stay_at_their_endpoint(client):
    references = {"resourceType": "Parameters", "parameter": [
        {"name": "claim", "valueReference": {"reference": "Claim/k1"}},
        {"name": "claim", "valueReference": {"reference": "Claim/k2"}}]}
    response = client.post(CHECK, json=references)
    assert response.status_code == 400
    assert "needs a FHIR server" in response.json()["issue"][0]["diagnostics"]

    eob = {**b.claim("e1", "p1", SERVICE), "resourceType": "ExplanationOfBenefit"}
    response = client.post(CHECK, json=bundle(*chart(1), eob, b.claim("k2", "p1", SERVICE)))
    assert response.status_code == 400
    assert "ExplanationOfBenefit/e1" in response.json()["issue"][0]["diagnostics"]


@pytest.fixture(scope="module")
def small_batches():
    with running_service("--api-token-env", "B12_TEST_API_TOKEN", "--max-batch-claims", "2",
                         env={"B12_TEST_API_TOKEN": TOKEN}) as running:
        yield Client(running)


def test_a_batch_over_the_limit_is_refused_before_any_work(small_batches):
    assert small_batches.post(CHECK, json=bundle(*chart(1), *chart(2))).status_code == 200

    response = small_batches.post(CHECK, json=bundle(*chart(1), *chart(2), *chart(3)))

    assert response.status_code == 422
    issue = response.json()["issue"][0]
    assert issue["code"] == "too-costly"
    assert "3 claims, over the limit of 2" in issue["diagnostics"]
