"""FhirClient: URLs, headers, timeouts, TLS, resource checks, errors, stats and logging."""

from __future__ import annotations

import json
import logging

import pytest
import responses

import adapter
from adapter.fhir import (
    FhirBadResourceError,
    FhirClient,
    FhirGoneError,
    FhirNotFoundError,
    FhirRefusedError,
    PageExpiredError,
)
from tests.fhir.testkit import (
    BASE,
    TRANSACTION_RESPONSE,
    claim,
    conditional_create,
    entry,
    make_client,
    outcome,
    searchset,
    transaction,
)


@responses.activate
def test_read_returns_the_resource_from_type_and_id():
    responses.get(f"{BASE}/Claim/k1", json=claim("k1"))

    assert make_client().read("Claim", "k1") == claim("k1")
    assert responses.calls[0].request.url == f"{BASE}/Claim/k1"


@responses.activate
def test_trailing_slash_of_the_base_url_is_normalised():
    responses.get(f"{BASE}/Claim/k1", json=claim("k1"))
    client = FhirClient(BASE + "/")

    client.read("Claim", "k1")

    assert client.base_url == BASE
    assert responses.calls[0].request.url == f"{BASE}/Claim/k1"


@pytest.mark.parametrize("base", ["fhir.test/fhir", "ftp://fhir.test", "http://u:p@fhir.test/x"])
def test_unusable_base_urls_are_rejected_without_echoing_credentials(base):
    with pytest.raises(ValueError) as raised:
        FhirClient(base)
    assert "u:p" not in str(raised.value)


@pytest.mark.parametrize(("rtype", "rid"), [("claim", "k1"), ("Claim", "k1/../x"), ("Claim", "")])
def test_read_rejects_malformed_types_and_ids(rtype, rid):
    with pytest.raises(ValueError):
        make_client().read(rtype, rid)


@responses.activate
def test_every_request_carries_accept_and_user_agent_and_bodies_carry_content_type():
    responses.get(f"{BASE}/Claim/k1", json=claim("k1"))
    responses.post(BASE, json=TRANSACTION_RESPONSE)
    client = make_client()

    client.read("Claim", "k1")
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
    responses.get(f"{BASE}/Claim/k1", json=claim("k1"))
    responses.get(f"{BASE}/Claim?_count=100", json=searchset(claim("k2")))
    responses.get(f"{BASE}/metadata", json={"resourceType": "CapabilityStatement"})
    responses.post(BASE, json=TRANSACTION_RESPONSE)
    client = make_client(timeout=(3.0, 7.5), verify="/etc/ssl/hospital-ca.pem")

    client.read("Claim", "k1")
    list(client.search("Claim"))
    client.capabilities()
    client.transaction(transaction(conditional_create()))

    assert len(responses.calls) == 4
    for call in responses.calls:
        assert call.request.req_kwargs["timeout"] == (3.0, 7.5)
        assert call.request.req_kwargs["verify"] == "/etc/ssl/hospital-ca.pem"


def test_tls_verification_is_on_by_default():
    assert FhirClient(BASE).verify is True


@responses.activate
def test_capabilities_reads_the_metadata_endpoint():
    responses.get(
        f"{BASE}/metadata", json={"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1"}
    )

    assert make_client().capabilities()["fhirVersion"] == "4.0.1"


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

    assert [call.request.url for call in responses.calls] == [expected, expected]


@responses.activate
def test_page_size_comes_from_the_client_the_call_or_the_params():
    responses.get(f"{BASE}/Claim", json=searchset())
    client = make_client(page_size=50)

    list(client.search("Claim", {"status": "active"}))
    list(client.search("Claim", {"status": "active"}, count=10))
    list(client.search("Claim", {"status": "active", "_count": 5}))

    assert [call.request.url for call in responses.calls] == [
        f"{BASE}/Claim?status=active&_count=50",
        f"{BASE}/Claim?status=active&_count=10",
        f"{BASE}/Claim?status=active&_count=5",
    ]


@responses.activate
def test_token_search_values_are_percent_encoded():
    responses.get(f"{BASE}/Observation", json=searchset())

    list(make_client().search("Observation", {"code": "http://loinc.org|2132-9"}))

    assert responses.calls[0].request.url == (
        f"{BASE}/Observation?code=http://loinc.org%7C2132-9&_count=100"
    )


@responses.activate
def test_search_of_something_that_is_not_a_bundle_is_a_bad_resource():
    responses.get(f"{BASE}/Claim?_count=100", json=claim("k1"))

    with pytest.raises(FhirBadResourceError) as raised:
        list(make_client().search("Claim"))
    assert "expected Bundle, got Claim" in str(raised.value)


@responses.activate
def test_read_of_another_type_is_a_bad_resource():
    responses.get(f"{BASE}/Claim/k1", json={"resourceType": "Patient", "id": "k1"})

    with pytest.raises(FhirBadResourceError, match="expected Claim, got Patient"):
        make_client().read("Claim", "k1")


@responses.activate
def test_malformed_json_body_is_a_bad_resource_with_the_start_of_the_body():
    responses.get(f"{BASE}/Claim/k1", body='{"resourceType": "Claim", "id": ', status=200)

    with pytest.raises(FhirBadResourceError) as raised:
        make_client().read("Claim", "k1")
    error = raised.value
    assert (error.status, error.method, error.url) == (200, "GET", f"{BASE}/Claim/k1")
    assert error.outcome.startswith('body is not JSON: {"resourceType": "Claim"')


@responses.activate
def test_422_with_operation_outcome_is_refused_with_the_diagnostics_on_one_line():
    responses.get(
        f"{BASE}/Claim?_count=100",
        json=outcome('Unknown search parameter "foo"', "Valid: patient, status"),
        status=422,
    )

    with pytest.raises(FhirRefusedError) as raised:
        list(make_client().search("Claim"))
    error = raised.value
    assert error.status == 422
    assert error.outcome == 'Unknown search parameter "foo"; Valid: patient, status'
    assert str(error) == (
        f'GET {BASE}/Claim?_count=100 -> 422: Unknown search parameter "foo"; '
        "Valid: patient, status"
    )


@responses.activate
def test_404_and_410_on_a_read_are_not_found_and_gone_not_expired_pages():
    responses.get(f"{BASE}/Claim/missing", json=outcome("HAPI-2001: not known"), status=404)
    responses.get(f"{BASE}/Claim/deleted", json=outcome("HAPI-2244: deleted"), status=410)
    client = make_client()

    with pytest.raises(FhirNotFoundError, match="HAPI-2001: not known"):
        client.read("Claim", "missing")
    with pytest.raises(FhirGoneError) as raised:
        client.read("Claim", "deleted")
    assert not isinstance(raised.value, PageExpiredError)


@responses.activate
def test_get_url_follows_relative_and_same_server_links_only():
    responses.get(f"{BASE}/Condition/c1", json={"resourceType": "Condition", "id": "c1"})
    client = make_client()

    assert client.get_url("Condition/c1")["id"] == "c1"
    assert client.get_url(f"{BASE}/Condition/c1")["id"] == "c1"
    with pytest.raises(ValueError, match="not on the FHIR server"):
        client.get_url("https://elsewhere.example/fhir/Condition/c1")
    assert len(responses.calls) == 2


@responses.activate
def test_transaction_posts_to_the_base_and_returns_the_response_bundle():
    responses.post(BASE, json=TRANSACTION_RESPONSE)

    result = make_client().transaction(transaction(conditional_create()))

    assert result == TRANSACTION_RESPONSE
    assert responses.calls[0].request.method == "POST"
    assert responses.calls[0].request.url == BASE


def test_transaction_and_batch_insist_on_their_bundle_type():
    client = make_client()
    with pytest.raises(ValueError, match="transaction"):
        client.transaction(transaction(conditional_create(), kind="batch"))
    with pytest.raises(ValueError, match="batch"):
        client.batch({"resourceType": "Parameters"})


@responses.activate
def test_stats_count_requests_by_method_and_type_and_can_be_diffed_per_claim():
    responses.get(f"{BASE}/Claim/k1", json=claim("k1"))
    responses.get(f"{BASE}/Condition?patient=p1&_count=100", json=searchset())
    responses.post(BASE, json=TRANSACTION_RESPONSE)
    client = make_client()
    client.read("Claim", "k1")
    before = client.stats.snapshot()

    list(client.search("Condition", {"patient": "p1"}))
    client.transaction(transaction(conditional_create()))
    client.batch(transaction(kind="batch"))

    spent = client.stats - before
    assert client.stats.total == 4
    assert spent.as_dict() == {
        "total": 3,
        "retries": 0,
        "by_method": {"GET": 1, "POST": 2},
        "by_type": {"Condition": 1, "batch": 1, "transaction": 1},
    }


@responses.activate
def test_one_debug_line_per_request_with_path_status_and_time(caplog):
    responses.get(f"{BASE}/Claim?status=active&_count=100", json=searchset())
    caplog.set_level(logging.DEBUG, logger="adapter.fhir")

    list(make_client().search("Claim", {"status": "active"}))

    lines = [r for r in caplog.records if r.name == "adapter.fhir"]
    assert len(lines) == 1
    assert lines[0].levelno == logging.DEBUG
    message = lines[0].getMessage()
    assert message.startswith("GET /fhir/Claim?status=active&_count=100 -> 200 (")
    assert message.endswith(" ms)")
    assert "fhir.test" not in message


@responses.activate
def test_batch_entry_results_turn_entry_statuses_into_resources_or_errors():
    sent = transaction(
        entry("GET", "Condition?patient=p1"),
        entry("GET", "Observation/missing"),
        conditional_create(),
        kind="batch",
    )
    responses.post(
        BASE,
        json={
            "resourceType": "Bundle",
            "type": "batch-response",
            "entry": [
                {"resource": searchset(), "response": {"status": "200 OK"}},
                {"response": {"status": "404 Not Found", "outcome": outcome("HAPI-2001: gone")}},
                {"response": {"status": "201 Created", "location": "DetectedIssue/d1/_history/1"}},
            ],
        },
    )
    client = make_client()

    found, missing, created = client.entry_results(sent, client.batch(sent))

    assert found["resource"]["type"] == "searchset"
    assert isinstance(missing, FhirNotFoundError)
    assert str(missing) == f"GET {BASE}/Observation/missing -> 404: HAPI-2001: gone"
    assert created["response"]["location"] == "DetectedIssue/d1/_history/1"


def test_batch_entry_results_must_answer_every_entry():
    sent = transaction(entry("GET", "Condition?patient=p1"), kind="batch")
    answered = {"resourceType": "Bundle", "type": "batch-response", "entry": []}

    with pytest.raises(FhirBadResourceError, match="1 entries sent, 0 answered"):
        make_client().entry_results(sent, answered)
