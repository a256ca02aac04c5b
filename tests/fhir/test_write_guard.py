"""Write guard: only writable types are written, checked before anything is sent."""

from __future__ import annotations

import pytest
import responses

from adapter.fhir import FhirClient, WriteNotAllowedError
from tests.fhir.testkit import (
    BASE,
    TRANSACTION_RESPONSE,
    answer_every_entry,
    claim,
    conditional_create,
    detected_issue,
    entry,
    make_client,
    transaction,
)


@responses.activate
def test_a_transaction_with_a_claim_put_is_refused_and_nothing_is_sent():
    responses.post(BASE, json=TRANSACTION_RESPONSE)
    bundle = transaction(conditional_create(), entry("PUT", "Claim/k1", claim("k1")))
    client = make_client()

    with pytest.raises(WriteNotAllowedError) as raised:
        client.transaction(bundle)

    assert len(responses.calls) == 0
    assert client.stats.total == 0
    assert raised.value.status is None
    assert "entry 1 PUT Claim/k1 writes Claim; this client may write only DetectedIssue" in str(
        raised.value
    )


@pytest.mark.parametrize(
    "bad_entry",
    [
        entry("POST", "DetectedIssue", claim("k1")),  # url says one type, the body another
        entry("DELETE", "Condition/c1"),
        entry("PATCH", "Claim/k1", {"resourceType": "Parameters"}),
        entry("PUT", "Observation?identifier=x", {"resourceType": "Observation"}),
        entry("PUT", "https://other.example/fhir/DetectedIssue/d1", detected_issue()),
        entry("POST", "$process-message", {"resourceType": "Bundle"}),
        entry("PUT", "DetectedIssue/../Patient/p1", detected_issue()),  # a server-sent id
        entry("PUT", "DetectedIssue/d1/_history/2", detected_issue()),
        entry("PUT", "DetectedIssue/%2E%2E%2FPatient%2Fp1", detected_issue()),
        {"resource": detected_issue()},  # no request: cannot prove it is allowed
    ],
    ids=["body-type", "delete", "patch", "cond-update", "other-server", "operation",
         "dot-dot-id", "history", "encoded-dot-dot", "no-request"],
)
@responses.activate
def test_batches_with_any_write_outside_the_writable_types_are_refused(bad_entry):
    responses.post(BASE, json=TRANSACTION_RESPONSE)

    with pytest.raises(WriteNotAllowedError):
        make_client().batch(transaction(conditional_create(), bad_entry, kind="batch"))
    assert len(responses.calls) == 0


@responses.activate
def test_detected_issue_writes_and_reads_of_anything_pass():
    responses.add_callback(responses.POST, BASE, callback=answer_every_entry())
    bundle = transaction(
        conditional_create("a"),
        entry("PUT", "DetectedIssue?identifier=urn:b12|b", detected_issue("b")),
        entry("PUT", f"{BASE}/DetectedIssue/d1", detected_issue("c")),
        entry("PATCH", "DetectedIssue/d2", {"resourceType": "Parameters"}),
        entry("GET", "Claim?_lastUpdated=ge2026-03-01"),
        entry("GET", "Observation?patient=p1"),
        kind="batch",
    )

    make_client().batch(bundle)

    assert len(responses.calls) == 1


@responses.activate
def test_a_fixture_loader_may_widen_the_writable_types_explicitly():
    responses.add_callback(responses.POST, BASE, callback=answer_every_entry())
    loader = FhirClient(BASE, writable_types=frozenset({"Claim", "Patient"}))

    loader.transaction(transaction(entry("PUT", "Claim/k1", claim("k1"))))

    assert len(responses.calls) == 1
    with pytest.raises(WriteNotAllowedError):
        loader.transaction(transaction(conditional_create()))
