"""CDS Hooks over HTTP: discovery, and order-sign/order-select cards from prefetched charts.

The chart comes in the prefetch (the EHR's copy); the draft order becomes a synthetic claim
checked like a real one. Cards say why the claim would not be backed and what to document.
"""

from __future__ import annotations

import uuid

from fixtures import builders as b
from tests.scenario import SERVICE
from tests.service.conftest import bundle

SIGN = "/cds-services/b12-injection"
SELECT = "/cds-services/b12-injection-select"


def order(oid: str = "mr1", reason: str | None = "E53.8", rxnorm: str | None = "309594",
          text: str | None = None) -> dict:
    medication: dict = {"coding": [{"system": b.RXNORM, "code": rxnorm}]} if rxnorm else {}
    if text:
        medication["text"] = text
    resource = {"resourceType": "MedicationRequest", "id": oid, "status": "draft",
                "intent": "order", "subject": {"reference": "Patient/p1"},
                "authoredOn": SERVICE, "medicationCodeableConcept": medication}
    if reason:
        resource["reasonCode"] = [{"coding": [{"system": b.ICD10CM, "code": reason}]}]
    return resource


def request(*orders: dict, chart: list[dict] | None = None, hook: str = "order-sign",
            prefetch: bool = True, fhir_server: str | None = None, **more) -> dict:
    chart = chart if chart is not None else []
    body = {"hook": hook, "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/u1", "patientId": "p1",
                        "draftOrders": bundle(*orders), **more}}
    if fhir_server:
        body["fhirServer"] = fhir_server
        body["fhirAuthorization"] = {"access_token": "ehr-token", "token_type": "Bearer",
                                     "expires_in": 300, "scope": "patient/*.read",
                                     "subject": "b12"}
    if prefetch:
        of = {t: [r for r in chart if r["resourceType"] == t] for t in
              ("Condition", "Observation", "MedicationAdministration")}
        body["prefetch"] = {
            "patient": b.patient("p1"), "conditions": bundle(*of["Condition"]),
            "observations": bundle(*of["Observation"]),
            "administrations": bundle(*of["MedicationAdministration"])}
    return body


def _cards(client, path: str, body: dict) -> list[dict]:
    response = client.post(path, json=body)
    assert response.status_code == 200, response.text
    cards = response.json()["cards"]
    for card in cards:
        assert len(card["summary"]) <= 140
        assert card["indicator"] in {"info", "warning", "critical"}
        assert card["source"]["label"]
        uuid.UUID(card["uuid"])
    return cards


def test_discovery_lists_the_service_with_its_prefetch_templates(client):
    services = client.get("/cds-services").json()["services"]

    sign = next(s for s in services if s["id"] == "b12-injection")
    assert sign["hook"] == "order-sign"
    assert {s["hook"] for s in services} == {"order-sign", "order-select"}
    prefetch = sign["prefetch"]
    assert prefetch["patient"] == "Patient/{{context.patientId}}"
    assert prefetch["conditions"] == "Condition?patient={{context.patientId}}"
    assert "http://loinc.org%7C2132-9" in prefetch["observations"]
    assert "718-7" in prefetch["observations"]
    assert prefetch["administrations"].startswith("MedicationAdministration?patient=")


def test_an_order_the_chart_backs_gets_no_card(client):
    chart = [b.condition("c1", "p1", icd="E53.8"),
             b.lab("o1", "p1", "b12", 150, "pg/mL", "2026-02-10")]

    assert _cards(client, SIGN, request(order(), chart=chart)) == []


def test_an_order_whose_reason_the_chart_does_not_document_gets_a_critical_card(client):
    chart = [b.lab("o1", "p1", "b12", 150, "pg/mL", "2026-02-10")]

    cards = _cards(client, SIGN, request(order(reason="D51.0"), chart=chart))

    topics = {c["source"]["topic"]["code"]: c for c in cards}
    assert "dx-not-documented" in topics
    card = topics["dx-not-documented"]
    assert card["indicator"] == "critical"
    assert "D51.0" in card["summary"]
    assert "Document the diagnosis in the chart" in card["detail"]
    # findings that need the injection given, or the claim's own lines, never show
    assert not {"admin-missing", "dose-units-mismatch", "item-dx-link",
                "evidence-not-linked"} & set(topics)


def test_a_missing_lab_is_a_warning_saying_which_lab_to_record(client):
    chart = [b.condition("c1", "p1", icd="E53.8")]

    cards = _cards(client, SIGN, request(order(), chart=chart))

    assert [c["source"]["topic"]["code"] for c in cards] == ["lab-missing"]
    assert cards[0]["indicator"] == "warning"
    assert "2132-9" in cards[0]["detail"]


def test_an_order_with_no_reason_is_told_to_add_one(client):
    chart = [b.condition("c1", "p1", icd="E53.8")]

    cards = _cards(client, SIGN, request(order(reason=None), chart=chart))

    assert "dx-no-indication" in {c["source"]["topic"]["code"] for c in cards}


def test_a_service_request_for_j3420_and_a_drug_named_in_text_are_b12_orders(client):
    chart = [b.lab("o1", "p1", "b12", 150, "pg/mL", "2026-02-10")]
    service_request = {"resourceType": "ServiceRequest", "id": "sr1", "status": "draft",
                       "intent": "order", "subject": {"reference": "Patient/p1"},
                       "code": {"coding": [{"system": b.HCPCS, "code": "J3420"}]},
                       "reasonCode": [{"coding": [{"system": b.ICD10CM, "code": "E53.8"}]}]}
    named = order("mr2", rxnorm=None, text="Cyanocobalamin 1000 mcg/mL IM")

    assert _cards(client, SIGN, request(service_request, chart=chart))
    assert _cards(client, SIGN, request(named, chart=chart))


def test_other_orders_get_no_card(client):
    other = order(rxnorm="197361")  # amlodipine

    assert _cards(client, SIGN, request(other, chart=[])) == []


def test_order_select_checks_only_the_selected_orders(client):
    unselected = order("mr1", reason="D51.0")
    selected = order("mr2")
    chart = [b.condition("c1", "p1", icd="E53.8"),
             b.lab("o1", "p1", "b12", 150, "pg/mL", "2026-02-10")]

    body = request(unselected, selected, chart=chart, hook="order-select",
                   selections=["MedicationRequest/mr2"])

    assert _cards(client, SELECT, body) == []
    body["context"]["selections"] = ["MedicationRequest/mr1"]
    assert _cards(client, SELECT, body)


def test_without_prefetch_or_an_allowed_server_the_answer_is_no_card_and_a_note(client):
    body = request(order(), prefetch=False, fhir_server="http://127.0.0.1:9/fhir")

    response = client.post(SIGN, json=body)

    assert response.status_code == 200
    assert response.json()["cards"] == []
    assert "not allowed" in response.json()["extension"]["org.b12-fhir-adapter.note"]


def test_a_malformed_hook_request_is_a_400_operation_outcome(client):
    for body in ({"hook": "patient-view", "hookInstance": "x", "context": {}},
                 {"hook": "order-sign", "context": {}},
                 {"hook": "order-sign", "hookInstance": "x", "context": {"patientId": "p1"}}):
        response = client.post(SIGN, json=body)
        assert response.status_code == 400, body
        assert response.json()["resourceType"] == "OperationOutcome"
