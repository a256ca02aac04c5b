"""FhirClient: URLs, headers, timeouts, TLS, response checks, per-entry results, stats, logs."""

from __future__ import annotations

import json
import logging

import pytest
import responses

import adapter
from adapter.fhir import NO_RETRY, FhirClient, FhirError, FhirServerError, Query
from tests.fhir.testkit import (
    BASE,
    claim,
    conditional_create,
    entry,
    make_client,
    outcome,
    searchset,
    transaction,
)


def transaction_response(*statuses: str, kind: str = "transaction-response") -> dict:
    return {"resourceType": "Bundle", "type": kind,
            "entry": [{"response": {"status": status}} for status in statuses]}


@responses.activate
def test_search_reads_the_matches_with_the_client_page_size():
    responses.get(f"{BASE}/Claim?_id=k1&_count=100", json=searchset(claim("k1")))

    assert list(make_client().search("Claim", _id="k1")) == [claim("k1")]
    assert responses.calls[0].request.url == f"{BASE}/Claim?_id=k1&_count=100"


@responses.activate
def test_trailing_slash_of_the_base_url_is_normalised():
    responses.get(f"{BASE}/Claim", json=searchset())
    client = FhirClient(BASE + "/")

    list(client.search("Claim"))

    assert client.base_url == BASE
    assert responses.calls[0].request.url == f"{BASE}/Claim?_count=100"


@pytest.mark.parametrize("base", ["fhir.test/fhir", "ftp://fhir.test", "http://u:p@fhir.test/x"])
def test_unusable_base_urls_are_rejected_without_echoing_credentials(base):
    with pytest.raises(ValueError) as raised:
        FhirClient(base)
    assert "u:p" not in str(raised.value)


@pytest.mark.parametrize("rtype", ["claim", "Claim/k1", "", "../Patient"])
def test_searches_of_malformed_types_are_refused_before_sending(rtype):
    with pytest.raises(ValueError, match="not a FHIR resource type"):
        make_client().search(rtype)


@responses.activate
def test_every_request_carries_accept_and_user_agent_and_bodies_carry_content_type():
    responses.get(f"{BASE}/Claim", json=searchset())
    responses.post(BASE, json=transaction_response("201 Created"))
    client = make_client()

    list(client.search("Claim"))
    client.transaction(transaction(conditional_create()))

    get, post = (call.request for call in responses.calls)
    for request in (get, post):
        assert request.headers["Accept"] == "application/fhir+json"
        assert request.headers["User-Agent"] == f"b12-fhir-adapter/{adapter.__version__}"
    assert "Content-Type" not in get.headers
    assert post.headers["Content-Type"] == "application/fhir+json"
    assert json.loads(post.body)["entry"][0]["request"]["ifNoneExist"].startswith("identifier=")


@responses.activate
def test_timeouts_and_tls_settings_are_passed_on_every_call():
    responses.get(f"{BASE}/Claim", json=searchset(claim("k2")))
    responses.post(BASE, json=transaction_response("201 Created"))
    client = make_client(timeout=(3.0, 7.5), verify="/etc/ssl/hospital-ca.pem")

    list(client.search("Claim"))
    client.transaction(transaction(conditional_create()))

    assert len(responses.calls) == 2
    for call in responses.calls:
        assert call.request.req_kwargs["timeout"] == (3.0, 7.5)
        assert call.request.req_kwargs["verify"] == "/etc/ssl/hospital-ca.pem"


@responses.activate
def test_tls_certificates_are_verified_by_default(monkeypatch):
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):  # requests would use these instead
        monkeypatch.delenv(name, raising=False)
    responses.get(f"{BASE}/Claim", json=searchset())

    list(FhirClient(BASE).search("Claim"))

    assert responses.calls[0].request.req_kwargs["verify"] is True


@responses.activate
def test_search_params_may_repeat_as_pairs_or_list_values():
    window = [
        ("_lastUpdated", "ge2026-03-01T00:00:00Z"),
        ("_lastUpdated", "lt2026-03-02T00:00:00Z"),
    ]
    expected = (
        f"{BASE}/Claim?_lastUpdated=ge2026-03-01T00:00:00Z"
        "&_lastUpdated=lt2026-03-02T00:00:00Z&_count=100"
    )
    responses.get(expected, json=searchset())
    client = make_client()

    list(client.search("Claim", window))
    list(client.search("Claim", {"_lastUpdated": [value for _, value in window]}))
    list(client.search(Query("Claim", tuple(window))))

    assert [call.request.url for call in responses.calls] == [expected] * 3


@responses.activate
def test_page_size_comes_from_the_client_unless_the_query_names_it():
    responses.get(f"{BASE}/Claim", json=searchset())
    client = make_client(page_size=50)

    list(client.search("Claim", status="active"))
    list(client.search("Claim", status="active", _count=5))

    assert [call.request.url for call in responses.calls] == [
        f"{BASE}/Claim?status=active&_count=50",
        f"{BASE}/Claim?status=active&_count=5",
    ]


@responses.activate
def test_token_search_values_are_percent_encoded():
    responses.get(f"{BASE}/Observation", json=searchset())

    list(make_client().search("Observation", code="http://loinc.org|2132-9"))

    assert responses.calls[0].request.url == (
        f"{BASE}/Observation?code=http://loinc.org%7C2132-9&_count=100"
    )


@responses.activate
def test_a_search_answered_with_something_that_is_not_a_bundle_is_an_error():
    responses.get(f"{BASE}/Claim", json=claim("k1"))

    with pytest.raises(FhirError, match="expected Bundle, got Claim"):
        list(make_client().search("Claim"))


@responses.activate
def test_a_malformed_json_body_is_an_error_that_does_not_quote_the_body():
    responses.get(f"{BASE}/Claim", body='{"resourceType": "Claim", "name": "Jane Doe", ',
                  status=200)

    with pytest.raises(FhirError) as raised:
        list(make_client().search("Claim"))
    error = raised.value
    assert (error.status, error.method) == (200, "GET")
    assert error.outcome == "body is not JSON"
    assert "Jane" not in str(error)


@responses.activate
def test_422_with_operation_outcome_is_an_error_with_the_diagnostics_on_one_line():
    responses.get(
        f"{BASE}/Claim?_count=100",
        json=outcome('Unknown search parameter "foo"', "Valid: patient, status"),
        status=422,
    )

    with pytest.raises(FhirError) as raised:
        list(make_client().search("Claim"))
    error = raised.value
    assert type(error) is FhirError and error.status == 422
    assert str(error) == (
        f'GET {BASE}/Claim?_count=100 -> 422: Unknown search parameter "foo"; '
        "Valid: patient, status"
    )


@responses.activate
def test_transaction_answers_each_entry_with_what_the_server_did():
    responses.post(BASE, json={"resourceType": "Bundle", "type": "transaction-response", "entry": [
        {"response": {"status": "201 Created", "location": "DetectedIssue/d1/_history/1"}},
        {"response": {"status": "200 OK"}},
        {"response": {"status": "400 Bad Request", "outcome": outcome("Invalid id")}},
        {"response": {"status": "429", "outcome": outcome("Too many requests")}},
    ]})
    sent = transaction(*(conditional_create(f"k{n}") for n in range(4)))

    created, existing, refused, limited = make_client(retry=NO_RETRY).transaction(sent)

    assert (created.ok, created.status, created.location) == (
        True, 201, "DetectedIssue/d1/_history/1")
    assert (existing.ok, existing.status) == (True, 200)
    assert (refused.ok, refused.status, refused.outcome) == (False, 400, "Invalid id")
    assert type(refused.error()) is FhirError
    assert str(refused.error()) == f"POST {BASE}/DetectedIssue -> 400: Invalid id"
    assert isinstance(limited.error(), FhirServerError)  # temporary: may be retried
    assert len(responses.calls) == 1  # without retries (tests/fhir/test_entry_retry.py)


@responses.activate
def test_a_response_that_does_not_answer_every_entry_is_an_error():
    responses.post(BASE, json=transaction_response(kind="batch-response"))

    with pytest.raises(FhirError, match="1 entries sent, 0 answered"):
        make_client().batch(transaction(entry("GET", "Condition?patient=p1"), kind="batch"))


def test_transaction_and_batch_insist_on_their_bundle_type():
    client = make_client()
    with pytest.raises(ValueError, match="transaction"):
        client.transaction(transaction(conditional_create(), kind="batch"))
    with pytest.raises(ValueError, match="batch"):
        client.batch({"resourceType": "Parameters"})


@responses.activate
def test_batch_search_runs_every_search_in_one_request_and_pages_each_on_its_own():
    page_2 = f"{BASE}?_getpages=c1&_getpagesoffset=1"
    responses.post(BASE, json={"resourceType": "Bundle", "type": "batch-response", "entry": [
        {"resource": searchset({"resourceType": "Condition", "id": "c1"}, next_url=page_2),
         "response": {"status": "200 OK"}},
        {"resource": searchset(), "response": {"status": "200 OK"}},
    ]})
    responses.get(page_2, json=searchset({"resourceType": "Condition", "id": "c2"}))
    client = make_client()

    conditions, patients = client.batch_search([
        Query.of("Condition", patient="Patient/p1"), Query.of("Patient", _id="p1")])

    sent = json.loads(responses.calls[0].request.body)
    assert [e["request"] for e in sent["entry"]] == [
        {"method": "GET", "url": "Condition?patient=Patient/p1&_count=100"},
        {"method": "GET", "url": "Patient?_id=p1&_count=100"},
    ]
    assert len(responses.calls) == 1  # later pages are read only when iterated
    assert [c["id"] for c in conditions] == ["c1", "c2"]
    assert list(patients) == []
    assert [c.request.url for c in responses.calls][1:] == [page_2]


@responses.activate
def test_batch_search_raises_the_error_of_a_refused_entry():
    responses.post(BASE, json={"resourceType": "Bundle", "type": "batch-response", "entry": [
        {"response": {"status": "400 Bad Request", "outcome": outcome("Unknown parameter")}},
    ]})

    with pytest.raises(FhirError, match="400: Unknown parameter"):
        make_client().batch_search([Query.of("Condition", foo="x")])


@responses.activate
def test_stats_count_requests_by_method_and_type_and_can_be_diffed():
    responses.get(f"{BASE}/Claim", json=searchset(claim("k1")))
    responses.get(f"{BASE}/Condition?patient=p1&_count=100", json=searchset())
    responses.post(BASE, json=transaction_response("201 Created"))
    client = make_client()
    list(client.search("Claim"))
    before = client.stats.snapshot()

    list(client.search("Condition", patient="p1"))
    client.transaction(transaction(conditional_create()))

    spent = client.stats - before
    assert client.stats.total == 3
    assert spent.as_dict() == {
        "total": 2,
        "retries": 0,
        "by_method": {"GET": 1, "POST": 1},
        "by_type": {"Condition": 1, "transaction": 1},
    }


@responses.activate
def test_one_debug_line_per_request_with_path_status_and_time(caplog):
    responses.get(f"{BASE}/Claim?status=active&_count=100", json=searchset())
    caplog.set_level(logging.DEBUG, logger="adapter.fhir")

    list(make_client().search("Claim", status="active"))

    lines = [r for r in caplog.records if r.name == "adapter.fhir"]
    assert len(lines) == 1
    assert lines[0].levelno == logging.DEBUG
    message = lines[0].getMessage()
    assert message.startswith("GET /fhir/Claim?status=active&_count=100 -> 200 (")
    assert message.endswith(" ms)")
    assert "fhir.test" not in message
