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
        assert len(card["summary"]) < 140
        assert card["indicator"] in {"info", "warning"}  # billing: never critical
        assert card["source"]["label"]
        uuid.UUID(card["uuid"])
        for suggestion in card.get("suggestions", []):
            uuid.UUID(suggestion["uuid"])
            assert card["selectionBehavior"] == "at-most-one"
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
    assert prefetch["administrations"] == "MedicationAdministration?patient={{context.patientId}}"


def test_every_prefetch_template_keeps_to_the_recommended_subset_but_its_optional_include():
    # CDS Hooks 2.0: templates SHOULD use only a subset of FHIR search, which has no
    # _include; a client leaves out a key it cannot fill, so a required key must keep to it
    from adapter.mappings import load_mappings
    from adapter.service.cds_hooks import INCLUDED_PREFETCH_KEYS, PREFETCH_KEYS, discovery

    prefetch = discovery(load_mappings())["services"][0]["prefetch"]
    assert set(INCLUDED_PREFETCH_KEYS) == {"administrations-medication", "coverage-payor"}
    for key, template in prefetch.items():
        assert ("_include" in template) is (key in INCLUDED_PREFETCH_KEYS), key
    assert not set(INCLUDED_PREFETCH_KEYS) & set(PREFETCH_KEYS)  # optional
    assert prefetch["administrations-medication"] == (
        "MedicationAdministration?patient={{context.patientId}}"
        "&_include=MedicationAdministration:medication")


def test_a_resource_in_a_key_and_its_include_key_is_read_once_with_what_was_included():
    from adapter.mappings import load_mappings
    from adapter.service.cds_hooks import prefetched, read_request

    given = b.administration("a1", "p1", "2026-02-01")
    drug = {"resourceType": "Medication", "id": "m1", "code": {"coding": [
        {"system": b.RXNORM, "code": "309594"}]}}
    body = request(order(), chart=[given])
    body["prefetch"]["administrations-medication"] = bundle(given, drug)
    resources, missing = prefetched(read_request(body, "b12-injection", load_mappings()))
    assert missing == []
    assert sorted((r["resourceType"], r["id"]) for r in resources
                  if r["resourceType"] in ("MedicationAdministration", "Medication")) == [
        ("Medication", "m1"), ("MedicationAdministration", "a1")]


def test_an_order_the_chart_backs_gets_no_card(client):
    chart = [b.condition("c1", "p1", icd="E53.8"),
             b.lab("o1", "p1", "b12", 150, "pg/mL", "2026-02-10")]

    assert _cards(client, SIGN, request(order(), chart=chart)) == []


def test_an_order_whose_reason_the_chart_does_not_document_gets_a_warning_card(client):
    chart = [b.lab("o1", "p1", "b12", 150, "pg/mL", "2026-02-10")]

    cards = _cards(client, SIGN, request(order(reason="D51.0"), chart=chart))

    topics = {c["source"]["topic"]["code"]: c for c in cards}
    assert "dx-not-documented" in topics
    card = topics["dx-not-documented"]
    assert card["indicator"] == "warning"  # a payment matter, not patient safety
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


def test_without_prefetch_or_an_allowed_server_the_answer_is_412(client):
    body = request(order(), prefetch=False, fhir_server="http://127.0.0.1:9/fhir")

    response = client.post(SIGN, json=body)

    assert response.status_code == 412  # CDS Hooks 2.0: the data can be neither had nor fetched
    assert "not allowed" in response.json()["issue"][0]["diagnostics"]
    no_server = client.post(SIGN, json=request(order(), prefetch=False))
    assert no_server.status_code == 412
    assert "not given" in no_server.json()["issue"][0]["diagnostics"]


def test_a_malformed_hook_request_is_a_400_operation_outcome(client):
    for body in ({"hook": "patient-view", "hookInstance": "x", "context": {}},
                 {"hook": "order-sign", "context": {}},
                 {"hook": "order-sign", "hookInstance": "x", "context": {"patientId": "p1"}}):
        response = client.post(SIGN, json=body)
        assert response.status_code == 400, body
        assert response.json()["resourceType"] == "OperationOutcome"


BACKED = [b.condition("c1", "p1", icd="E53.8"),
          b.lab("o1", "p1", "b12", 150, "pg/mL", "2026-02-10")]


def test_a_reason_reference_to_the_coded_condition_is_the_orders_diagnosis(client):
    by_reference = order(reason=None)
    by_reference["reasonReference"] = [{"reference": "Condition/c1"}]

    assert _cards(client, SIGN, request(by_reference, chart=BACKED)) == []


def test_a_reason_reference_to_a_condition_the_chart_lacks_still_gets_a_card(client):
    by_reference = order(reason=None)
    by_reference["reasonReference"] = [{"reference": "Condition/nowhere"}]

    assert _cards(client, SIGN, request(by_reference, chart=BACKED))


def test_a_contained_condition_as_reason_is_read_by_its_code(client):
    contained = order(reason=None)
    contained["contained"] = [{"resourceType": "Condition", "id": "r1", "code": {
        "coding": [{"system": b.ICD10CM, "code": "E53.8"}]}}]
    contained["reasonReference"] = [{"reference": "#r1"}]

    assert _cards(client, SIGN, request(contained, chart=BACKED)) == []
    contained["contained"][0]["code"]["coding"][0]["code"] = "D51.0"
    assert "dx-more-specific-than-chart" in {c["source"]["topic"]["code"]
                                   for c in _cards(client, SIGN, request(contained,
                                                                         chart=BACKED))}


def _by_medication_reference(target: str) -> dict:
    ordered = order(rxnorm=None, reason="D51.0")  # undocumented: a card when recognised
    del ordered["medicationCodeableConcept"]
    ordered["medicationReference"] = {"reference": target}
    return ordered


def test_a_medication_reference_to_a_contained_or_bundled_medication_is_read(client):
    medication = {"resourceType": "Medication", "id": "med1",
                  "code": {"coding": [{"system": b.RXNORM, "code": "309594"}]}}
    contained = _by_medication_reference("#med1")
    contained["contained"] = [medication]
    assert _cards(client, SIGN, request(contained, chart=BACKED))

    for target, full_url in (("Medication/med1", None),
                             ("urn:uuid:0b6f7e0a-3f59-4d2c-9d0e-6a1f2b3c4d5e",
                              "urn:uuid:0b6f7e0a-3f59-4d2c-9d0e-6a1f2b3c4d5e")):
        body = request(_by_medication_reference(target), chart=BACKED)
        entry = {"resource": medication}
        if full_url:
            entry["fullUrl"] = full_url
        body["context"]["draftOrders"]["entry"].append(entry)
        assert _cards(client, SIGN, body), target


def test_a_medication_reference_the_service_cannot_read_is_said_in_a_note(client):
    response = client.post(SIGN, json=request(_by_medication_reference("Medication/elsewhere"),
                                              chart=BACKED))

    assert response.status_code == 200
    assert response.json()["cards"] == []
    assert "MedicationRequest/mr1" in response.json()["extension"]["org.b12-fhir-adapter.note"]


def test_a_null_prefetch_key_is_no_data_not_missing(client):
    body = request(order(), chart=[b.condition("c1", "p1", icd="E53.8")])
    body["prefetch"]["observations"] = None  # the EHR found no labs

    cards = _cards(client, SIGN, body)

    assert [c["source"]["topic"]["code"] for c in cards] == ["lab-missing"]


def test_a_missing_lab_card_suggests_ordering_one(client):
    cards = _cards(client, SIGN, request(order(), chart=[b.condition("c1", "p1", icd="E53.8")]))

    suggestion = cards[0]["suggestions"][0]
    action = suggestion["actions"][0]
    assert action["type"] == "create"
    assert action["resource"]["resourceType"] == "ServiceRequest"
    assert action["resource"]["code"]["coding"][0]["code"] == "2132-9"


def test_a_less_specific_reason_gets_the_charts_code_as_a_suggestion_and_a_link(client):
    chart = [b.condition("c1", "p1", icd="D51.0"),
             b.lab("o1", "p1", "b12", 150, "pg/mL", "2026-02-10"),
             b.lab("h1", "p1", "hemoglobin", 10.5, "g/dL", "2026-02-10")]
    body = request(order(reason="E53.8"), chart=chart)
    body["fhirServer"] = "https://ehr.example.org/fhir/"  # only for links: prefetch is whole

    cards = _cards(client, SIGN, body)

    card = next(c for c in cards if c["source"]["topic"]["code"] == "specificity-loss")
    action = card["suggestions"][0]["actions"][0]
    assert action["type"] == "update"
    assert action["resource"]["id"] == "mr1"
    assert [c["coding"][0]["code"] for c in action["resource"]["reasonCode"]] == ["D51.0"]
    assert card["links"] == [{"label": "Documenting Condition/c1", "type": "absolute",
                              "url": "https://ehr.example.org/fhir/Condition/c1"}]
    assert all(c["indicator"] != "critical" for c in cards)


def test_feedback_is_accepted_and_logged(client, service):
    card = str(uuid.uuid4())
    response = client.post(SIGN + "/feedback", json={"feedback": [
        {"card": card, "outcome": "overridden",
         "overrideReason": {"reason": {"code": "patient-declined", "system": "x"},
                            "userComment": "Quixote-Sentinel said no"},
         "outcomeTimestamp": "2026-03-02T10:00:00Z"}]})

    assert response.status_code == 200
    logged = [line for line in service.log_lines() if line.get("card") == card]
    assert logged and logged[0]["outcome"] == "overridden"
    assert logged[0]["override_reason"] == "patient-declined"
    assert "Quixote-Sentinel" not in service.log_path.read_text()
    assert client.post(SIGN + "/feedback", json={"feedback": [{"card": card}]}
                       ).status_code == 400
    # found by schemathesis: an outcome that is an object made a 500
    assert client.post(SIGN + "/feedback", json={"feedback": [{"card": card, "outcome": {}}]}
                       ).status_code == 400


def test_feedback_without_what_cds_hooks_requires_is_refused(client):
    # CDS Hooks 2.0: outcomeTimestamp is required; acceptedSuggestions for "accepted"
    card, when = str(uuid.uuid4()), "2026-03-02T10:00:00Z"
    accepted = {"card": card, "outcome": "accepted", "outcomeTimestamp": when,
                "acceptedSuggestions": [{"id": str(uuid.uuid4())}]}
    assert client.post(SIGN + "/feedback", json={"feedback": [accepted]}).status_code == 200
    for wrong in ({"outcomeTimestamp": None}, {"outcomeTimestamp": "yesterday"},
                  {"acceptedSuggestions": []}):
        response = client.post(SIGN + "/feedback", json={"feedback": [{**accepted, **wrong}]})
        assert response.status_code == 400, wrong
        assert "feedback[0]" in response.text


def test_a_draft_entry_whose_resource_type_is_not_a_string_is_ignored(client):
    # found by schemathesis: {"resourceType": {}} in draftOrders made a 500
    body = request(order(), chart=BACKED)
    body["context"]["draftOrders"]["entry"].append({"resource": {"resourceType": {}}})

    assert _cards(client, SIGN, body) == []


CRD = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"


def _with_coverage(ordered: dict, *, per: str | None = "/mo", count: int = 1,
                   doc: str | None = "clinical") -> dict:
    parts: list[dict] = [{"url": "covered", "valueCode": "conditional"}]
    if doc:
        parts.append({"url": "doc-needed", "valueCode": doc})
    if per:
        parts.append({"url": "detail", "extension": [
            {"url": "code", "valueCodeableConcept": {"coding": [
                {"system": "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp",
                 "code": "allowed-quantity"}]}},
            {"url": "value", "valueQuantity": {"value": count, "system":
                                               "http://unitsofmeasure.org", "code": per}}]})
    return {**ordered, "extension": [{"url": CRD, "extension": parts}]}


def test_the_payers_coverage_information_is_said_on_the_cards(client):
    cards = _cards(client, SIGN, request(_with_coverage(order(), per=None),
                                         chart=[b.condition("c1", "p1", icd="E53.8")]))

    assert [c["source"]["topic"]["code"] for c in cards] == ["lab-missing"]
    assert "documentation needed: clinical" in cards[0]["detail"]
    assert "coverage: conditional" in cards[0]["detail"]


def test_an_order_over_the_payers_frequency_limit_gets_a_card(client):
    chart = [*BACKED, b.administration("a0", "p1", "2026-02-20")]  # 10 days before the order

    cards = _cards(client, SIGN, request(_with_coverage(order()), chart=chart))

    assert [c["source"]["topic"]["code"] for c in cards] == ["payer-frequency-limit"]
    assert cards[0]["indicator"] == "warning"
    assert "1 per 30 days" in cards[0]["summary"]
    assert "has 1 B12 injection(s)" in cards[0]["detail"]


def test_an_order_within_the_payers_frequency_limit_gets_no_card(client):
    older = [*BACKED, b.administration("a0", "p1", "2026-01-20")]  # 41 days before
    not_given = [*BACKED, b.administration("a0", "p1", "2026-02-20", status="not-done")]

    assert _cards(client, SIGN, request(_with_coverage(order()), chart=older)) == []
    assert _cards(client, SIGN, request(_with_coverage(order()), chart=not_given)) == []
    assert _cards(client, SIGN, request(_with_coverage(order(), count=2),
                                        chart=[*BACKED, b.administration(
                                            "a0", "p1", "2026-02-20")])) == []


def test_malformed_coverage_information_is_ignored():
    from adapter.service import crd

    assert crd.read({"extension": [{"url": CRD, "extension": [
        {"url": "covered", "valueCode": {}}, {"url": "detail", "extension": [
            {"url": "code", "valueCodeableConcept": {"coding": [{"code": "allowed-quantity"}]}},
            {"url": "value", "valueQuantity": {"value": "1", "code": "/mo"}}]},
        "junk"]}]}) is None
    assert crd.read({"extension": "nope"}) is None
    limited = crd.read(_with_coverage(order(), per="/wk", count=2))
    assert limited is not None and limited.limit == crd.Limit(2.0, 7)


def test_an_order_dated_where_the_icd10cm_release_is_not_installed_gets_an_info_card(client):
    # SPEC 4.3: FY2027 (from 2026-10-01) ships nowhere; the order is judged with April 2026
    chart = [b.condition("c1", "p1", icd="E53.8"),
             b.lab("o1", "p1", "b12", 150, "pg/mL", "2026-10-20")]
    late = {**order(), "authoredOn": "2026-11-02"}
    cards = _cards(client, SIGN, request(late, chart=chart))
    (card,) = [c for c in cards if c["source"]["topic"]["code"] == "code-set-missing"]
    assert card["indicator"] == "info"
    assert "ICD-10-CM FY2027, in force from 2026-10-01, is not installed" in card["detail"]
    assert "b12-adapter codes add" in card["detail"]
    on_time = _cards(client, SIGN, request({**order(), "authoredOn": "2026-05-04"},
                                           chart=chart))
    assert "code-set-missing" not in {c["source"]["topic"]["code"] for c in on_time}


def test_a_fhir_authorization_without_its_fhir_server_is_refused(client):
    # CDS Hooks 2.0: fhirServer "If fhirAuthorization is provided, this field is REQUIRED"
    body = request(order(), chart=BACKED, fhir_server="https://ehr.example.org/fhir")
    del body["fhirServer"]
    response = client.post(SIGN, json=body)
    assert response.status_code == 400 and "fhirServer" in response.text
