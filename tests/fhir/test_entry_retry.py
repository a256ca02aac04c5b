"""Entries refused for now inside an HTTP 200 (429, 5xx: Medplum's rate limit mid-transaction)
are sent again after the server's window, within the retry budget; the rest are left alone."""

from __future__ import annotations

import json
import logging
from typing import Any

import responses

from adapter.fhir import Query
from adapter.fhir.errors import FhirServerError
from tests.fhir.testkit import (
    BASE,
    FakeTime,
    conditional_create,
    detected_issue,
    entry,
    make_client,
    outcome,
    policy,
    searchset,
    transaction,
)

MEDPLUM_WINDOW = {"RateLimit": '"fhirInteractions";r=0;t=58'}


class BundleServer:
    """Answers each POST [base] with the next round of entry statuses (one per entry sent)
    and ``headers``; records what was sent."""

    def __init__(self, *rounds: list[str], headers: dict[str, str] | None = None) -> None:
        self.rounds = list(rounds)
        self.headers = headers or {}
        self.sent: list[dict[str, Any]] = []
        responses.add_callback(responses.POST, BASE, callback=self.answer)

    def answer(self, request: Any) -> tuple[int, dict[str, str], str]:
        sent = json.loads(request.body)
        self.sent.append(sent)
        statuses = self.rounds.pop(0)
        assert len(statuses) == len(sent["entry"]), (statuses, sent["entry"])
        entries = []
        for number, status in enumerate(statuses):
            response: dict[str, Any] = {"status": status}
            if status.startswith("201"):
                response["location"] = f"Patient/srv-{len(self.sent)}-{number}/_history/1"
            elif not status.startswith("2"):
                response["outcome"] = outcome(f"refused: {status}")
            entries.append({"response": response})
        body = {"resourceType": "Bundle", "type": f"{sent['type']}-response", "entry": entries}
        return 200, self.headers, json.dumps(body)

    def keys(self, number: int) -> list[str]:
        """The finding identifiers of the entries sent in request ``number``."""
        return [e["resource"]["identifier"][0]["value"] for e in self.sent[number]["entry"]]


@responses.activate
def test_entries_rate_limited_inside_a_200_are_sent_again_after_the_ratelimit_window(caplog):
    fake = FakeTime()
    server = BundleServer(["201 Created", "429 Too Many Requests", "429 Too Many Requests"],
                          ["201 Created", "200 OK"], headers=MEDPLUM_WINDOW)
    client = make_client(fake)
    caplog.set_level(logging.WARNING, logger="adapter.fhir")

    results = client.transaction(transaction(*(conditional_create(k) for k in "abc")))

    assert [r.status for r in results] == [201, 201, 200]
    assert fake.sleeps == [58.0]
    assert server.keys(1) == ["b", "c"]  # only the refused entries, in their order
    assert client.stats.retries == 1 and client.stats.total == 2
    assert "retrying 2 of 3 entries of transaction (refused with 429)" in caplog.text


@responses.activate
def test_refused_entries_that_cannot_succeed_later_are_not_sent_again():
    fake = FakeTime()
    BundleServer(["201 Created", "400 Bad Request", "412 Precondition Failed"])
    client = make_client(fake)

    results = client.transaction(transaction(*(conditional_create(k) for k in "abc")))

    assert [r.status for r in results] == [201, 400, 412]
    assert results[1].outcome == "refused: 400 Bad Request"
    assert len(responses.calls) == 1 and fake.sleeps == []


@responses.activate
def test_a_window_longer_than_the_budget_leaves_the_entries_refused_with_their_outcome(caplog):
    fake = FakeTime()
    BundleServer(["201 Created", "429"], headers=MEDPLUM_WINDOW)
    client = make_client(fake, retry=policy(fake, max_total_seconds=30))
    caplog.set_level(logging.WARNING, logger="adapter.fhir")

    created, limited = client.transaction(transaction(conditional_create("a"),
                                                      conditional_create("b")))

    assert (created.status, limited.status) == (201, 429)
    assert isinstance(limited.error(), FhirServerError)
    assert "refused: 429" in str(limited.error())
    assert len(responses.calls) == 1 and fake.sleeps == []
    assert "wait of 58.0 s exceeds the 30.0 s left of the retry budget" in caplog.text


@responses.activate
def test_a_plain_create_entry_is_never_sent_twice():
    fake = FakeTime()
    BundleServer(["429"])
    results = make_client(fake).transaction(
        transaction(entry("POST", "DetectedIssue", detected_issue())))
    assert [r.status for r in results] == [429]
    assert len(responses.calls) == 1


@responses.activate
def test_entries_failing_with_5xx_and_no_window_back_off_and_the_attempts_are_bounded():
    fake = FakeTime()
    BundleServer(*[["503 Service Unavailable"]] * 5)
    results = make_client(fake).transaction(transaction(conditional_create("a")))
    assert [r.status for r in results] == [503]
    assert fake.sleeps == [1.0, 2.0, 4.0, 8.0]
    assert len(responses.calls) == 5


@responses.activate
def test_the_budget_is_shared_by_every_round_of_one_transaction():
    fake = FakeTime()
    BundleServer(["429"], ["429"], ["429"],
                 headers={"RateLimit": '"fhirInteractions";r=0;t=40'})
    results = make_client(fake, retry=policy(fake, max_total_seconds=100)).transaction(
        transaction(conditional_create("a")))
    assert [r.status for r in results] == [429]  # a third window of 40 s would pass 100 s
    assert fake.sleeps == [40.0, 40.0]
    assert len(responses.calls) == 3


@responses.activate
def test_a_resent_entry_points_at_what_landed_in_an_earlier_round():
    fake = FakeTime()
    server = BundleServer(["201 Created", "429"], ["201 Created"], headers=MEDPLUM_WINDOW)
    patient = {"resourceType": "Patient", "identifier": [{"system": "s", "value": "p1"}]}
    claim = {"resourceType": "Claim", "patient": {"reference": "urn:uuid:p-1"},
             "identifier": [{"system": "s", "value": "k1"}]}
    bundle = transaction(
        {"fullUrl": "urn:uuid:p-1", "resource": patient,
         "request": {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=s|p1"}},
        {"fullUrl": "urn:uuid:k-1", "resource": claim,
         "request": {"method": "POST", "url": "Claim", "ifNoneExist": "identifier=s|k1"}},
    )
    client = make_client(fake, writable_types=frozenset({"Patient", "Claim"}))

    assert [r.status for r in client.transaction(bundle)] == [201, 201]

    resent = server.sent[1]["entry"]
    assert [e["fullUrl"] for e in resent] == ["urn:uuid:k-1"]
    assert resent[0]["resource"]["patient"] == {"reference": "Patient/srv-1-0"}


@responses.activate
def test_a_resend_that_fails_whole_leaves_those_entries_refused_and_keeps_what_landed():
    fake = FakeTime()
    BundleServer(["201 Created", "429"], headers=MEDPLUM_WINDOW)
    responses.post(BASE, status=500, json=outcome("database is restarting"))
    results = make_client(fake).transaction(transaction(conditional_create("a"),
                                                        conditional_create("b")))
    assert results[0].status == 201
    assert results[1].status == 500 and not results[1].ok
    assert "database is restarting" in str(results[1].error())


@responses.activate
def test_a_rate_limited_search_inside_a_batch_is_read_again():
    fake = FakeTime()
    condition = {"resourceType": "Condition", "id": "c1"}
    responses.post(BASE, headers={"RateLimit": '"fhirInteractions";r=0;t=3'},
                   json={"resourceType": "Bundle", "type": "batch-response", "entry": [
                       {"response": {"status": "200 OK"}, "resource": searchset()},
                       {"response": {"status": "429", "outcome": outcome("Too many")}}]})
    responses.post(BASE, json={"resourceType": "Bundle", "type": "batch-response", "entry": [
        {"response": {"status": "200 OK"}, "resource": searchset(condition)}]})

    patients, conditions = make_client(fake).batch_search(
        [Query.of("Patient", _id="p1"), Query.of("Condition", patient="Patient/p1")])

    assert list(patients) == [] and [c["id"] for c in conditions] == ["c1"]
    assert fake.sleeps == [3.0]
    resent = json.loads(responses.calls[1].request.body)["entry"]
    assert [e["request"]["url"] for e in resent] == ["Condition?patient=Patient/p1&_count=100"]


@responses.activate
def test_a_policy_of_one_attempt_sends_nothing_again():
    fake = FakeTime()
    BundleServer(["429"], headers=MEDPLUM_WINDOW)
    results = make_client(fake, retry=policy(fake, max_attempts=1)).transaction(
        transaction(conditional_create("a")))
    assert [r.status for r in results] == [429] and fake.sleeps == []
