"""Retries: which failures, which requests, how long to wait, and when to give up."""

from __future__ import annotations

import logging
from datetime import timedelta
from email.utils import format_datetime

import pytest
import requests
import responses

from adapter.fhir import FhirServerError, RetryPolicy, bundle_is_idempotent
from adapter.fhir.retry import rate_limit_seconds, retry_after_seconds
from tests.fhir.testkit import (
    BASE,
    CLAIM_SEARCH,
    CLAIM_URL,
    FakeTime,
    answer_every_entry,
    claim_page,
    conditional_create,
    detected_issue,
    entry,
    make_client,
    outcome,
    policy,
    read_claim,
    transaction,
)


@responses.activate
def test_429_with_retry_after_seconds_waits_that_long_then_succeeds(caplog):
    fake = FakeTime()
    responses.get(CLAIM_URL, status=429, headers={"Retry-After": "7"})
    responses.get(CLAIM_URL, json=claim_page())
    client = make_client(fake)
    caplog.set_level(logging.WARNING, logger="adapter.fhir")

    assert read_claim(client)["id"] == "k1"

    assert fake.sleeps == [7.0]
    assert len(responses.calls) == 2
    assert client.stats.retries == 1
    assert client.stats.total == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "retrying GET /fhir/Claim?_id=k1&_count=100 after HTTP 429 (attempt 1 of 5), waiting 7.0 s"
    ]


@responses.activate
def test_429_with_retry_after_http_date_waits_until_then_by_the_server_clock():
    fake = FakeTime()
    server_now = fake.now() - timedelta(hours=1)  # our clock is off by an hour: ignore it
    responses.get(
        CLAIM_URL,
        status=429,
        headers={
            "Date": format_datetime(server_now, usegmt=True),
            "Retry-After": format_datetime(server_now + timedelta(seconds=12), usegmt=True),
        },
    )
    responses.get(CLAIM_URL, json=claim_page())

    read_claim(make_client(fake))

    assert fake.sleeps == [12.0]


@responses.activate
def test_retry_after_http_date_without_a_date_header_uses_our_clock():
    fake = FakeTime()
    later = format_datetime(fake.now() + timedelta(seconds=20), usegmt=True)
    responses.get(CLAIM_URL, status=503, headers={"Retry-After": later})
    responses.get(CLAIM_URL, json=claim_page())

    read_claim(make_client(fake))

    assert fake.sleeps == [20.0]


@responses.activate
def test_retry_after_beyond_the_remaining_budget_gives_up_at_once(caplog):
    fake = FakeTime()
    responses.get(CLAIM_URL, status=429, headers={"Retry-After": "120"}, json=outcome("slow down"))
    caplog.set_level(logging.WARNING, logger="adapter.fhir")

    with pytest.raises(FhirServerError) as raised:
        read_claim(make_client(fake, retry=policy(fake, max_total_seconds=60)))

    assert (raised.value.status, raised.value.outcome) == (429, "slow down")
    assert fake.sleeps == []
    assert len(responses.calls) == 1
    assert "wait of 120.0 s exceeds the 60.0 s left" in caplog.text


@responses.activate
def test_503_storm_that_recovers_backs_off_exponentially():
    fake = FakeTime()
    for _ in range(3):
        responses.get(CLAIM_URL, status=503)
    responses.get(CLAIM_URL, json=claim_page())
    client = make_client(fake)

    assert read_claim(client)["id"] == "k1"

    assert fake.sleeps == [1.0, 2.0, 4.0]
    assert client.stats.retries == 3


@responses.activate
def test_503_storm_that_outlasts_the_attempts_raises_server_error_with_the_outcome():
    fake = FakeTime()
    responses.get(CLAIM_URL, status=503, json=outcome("HAPI-0000: database is restarting"))
    client = make_client(fake)

    with pytest.raises(FhirServerError) as raised:
        read_claim(client)

    error = raised.value
    assert error.status == 503
    assert error.outcome == "HAPI-0000: database is restarting"
    assert str(error) == f"GET {CLAIM_SEARCH} -> 503: HAPI-0000: database is restarting"
    assert len(responses.calls) == 5
    assert fake.sleeps == [1.0, 2.0, 4.0, 8.0]


@responses.activate
def test_total_retry_time_is_bounded_even_with_attempts_left():
    fake = FakeTime()
    responses.get(CLAIM_URL, status=502)

    with pytest.raises(FhirServerError):
        read_claim(make_client(fake, retry=policy(fake, backoff_base=4.0, max_total_seconds=10)))

    assert fake.sleeps == [4.0]  # the next wait (8 s) would pass the 10 s budget
    assert len(responses.calls) == 2


@pytest.mark.parametrize(
    "failure",
    [
        requests.ConnectionError("Connection reset by peer"),
        requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead"),
        requests.ReadTimeout("read timed out"),
        requests.ConnectTimeout("connect timed out"),
    ],
    ids=["reset", "chunked", "read-timeout", "connect-timeout"],
)
@responses.activate
def test_dropped_connections_and_timeouts_are_retried(failure):
    fake = FakeTime()
    responses.get(CLAIM_URL, body=failure)
    responses.get(CLAIM_URL, json=claim_page())

    assert read_claim(make_client(fake))["id"] == "k1"
    assert fake.sleeps == [1.0]


@responses.activate
def test_connection_failures_that_never_end_are_a_server_error_without_status():
    fake = FakeTime()
    responses.get(CLAIM_URL, body=requests.ConnectionError("Connection reset by peer"))

    with pytest.raises(FhirServerError) as raised:
        read_claim(make_client(fake))

    assert raised.value.status is None
    assert raised.value.outcome == "ConnectionError: Connection reset by peer"
    assert str(raised.value) == f"GET {CLAIM_SEARCH}: ConnectionError: Connection reset by peer"
    assert len(responses.calls) == 5


@responses.activate
def test_tls_failures_are_not_retried():
    fake = FakeTime()
    responses.get(CLAIM_URL, body=requests.exceptions.SSLError("certificate verify failed"))

    with pytest.raises(FhirServerError, match="certificate verify failed"):
        read_claim(make_client(fake))
    assert len(responses.calls) == 1


@responses.activate
def test_500_is_not_transient_and_is_not_retried():
    responses.get(CLAIM_URL, status=500, json=outcome("NullPointerException"))

    with pytest.raises(FhirServerError, match="-> 500: NullPointerException"):
        read_claim(make_client())
    assert len(responses.calls) == 1


@responses.activate
def test_plain_post_create_is_not_retried_on_503_nor_on_a_dropped_connection():
    fake = FakeTime()
    create = transaction(entry("POST", "DetectedIssue", detected_issue()))
    responses.post(BASE, status=503)
    client = make_client(fake)

    with pytest.raises(FhirServerError):
        client.transaction(create)
    responses.replace(responses.POST, BASE, body=requests.ConnectionError("reset"))
    with pytest.raises(FhirServerError):
        client.transaction(create)

    assert len(responses.calls) == 2
    assert fake.sleeps == []
    assert client.stats.retries == 0


@responses.activate
def test_transaction_of_conditional_creates_is_retried():
    fake = FakeTime()
    responses.post(BASE, status=503)
    responses.post(BASE, body=requests.ConnectionError("reset"))
    responses.add_callback(responses.POST, BASE, callback=answer_every_entry("201 Created"))

    results = make_client(fake).transaction(
        transaction(conditional_create("a"), conditional_create("b"))
    )

    assert [r.status for r in results] == [201, 201]
    assert len(responses.calls) == 3
    assert fake.sleeps == [1.0, 2.0]


@pytest.mark.parametrize(
    ("entries", "idempotent"),
    [
        ([entry("GET", "Condition?patient=p1"), entry("GET", "Observation?patient=p1")], True),
        ([conditional_create("a"), conditional_create("b")], True),
        ([entry("PUT", "DetectedIssue?identifier=urn:b12|a", detected_issue())], True),
        ([entry("PUT", "DetectedIssue/d1", detected_issue())], True),
        ([conditional_create("a"), entry("POST", "DetectedIssue", detected_issue())], False),
        ([entry("DELETE", "DetectedIssue/d1")], False),
        ([entry("PATCH", "DetectedIssue/d1")], False),
        ([{"resource": detected_issue()}], False),
    ],
    ids=[
        "reads",
        "cond-creates",
        "cond-update",
        "put-by-id",
        "plain-create",
        "delete",
        "patch",
        "no-request",
    ],
)
def test_which_bundles_are_idempotent(entries, idempotent):
    assert bundle_is_idempotent(transaction(*entries)) is idempotent


def test_backoff_is_exponential_capped_and_jittered_within_bounds():
    retry = RetryPolicy(backoff_base=1.0, backoff_max=30.0, jitter=0.5)

    for attempt, floor in [(1, 1.0), (2, 2.0), (3, 4.0), (6, 30.0), (10, 30.0)]:
        wait = retry.backoff(attempt)
        assert floor <= wait <= floor + 0.5


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("7", 7.0), ("0", 0.0), ("-3", 0.0), ("soon", None), ("", None)],
)
def test_retry_after_values(header, seconds):
    response = requests.Response()
    response.headers["Retry-After"] = header

    assert retry_after_seconds(response, FakeTime().now()) == seconds


def test_retry_after_date_in_the_past_means_no_wait():
    fake = FakeTime()
    response = requests.Response()
    response.headers["Retry-After"] = format_datetime(
        fake.now() - timedelta(seconds=30), usegmt=True
    )

    assert retry_after_seconds(response, fake.now()) == 0.0


def test_policy_rejects_nonsense():
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


# Medplum's plain 429 (SERVERS.md): no Retry-After; the window is in the IETF RateLimit header
# and, in milliseconds, in the body.
MEDPLUM_429_BODY = {"_remainingPoints": 0, "_msBeforeNext": 37414, "_consumedPoints": 50100,
                    "_isFirstInDuration": False}


@responses.activate
def test_a_medplum_429_waits_for_the_ratelimit_window_then_succeeds():
    fake = FakeTime()
    responses.get(CLAIM_URL, status=429, json=MEDPLUM_429_BODY,
                  headers={"RateLimit": '"fhirInteractions";r=0;t=58'})
    responses.get(CLAIM_URL, json=claim_page())

    assert read_claim(make_client(fake))["id"] == "k1"

    assert fake.sleeps == [58.0]  # the longer of t=58 and _msBeforeNext 37.4 s


@responses.activate
def test_a_429_body_with_ms_before_next_alone_is_honoured():
    fake = FakeTime()
    responses.get(CLAIM_URL, status=429, json=MEDPLUM_429_BODY)
    responses.get(CLAIM_URL, json=claim_page())

    read_claim(make_client(fake))

    assert fake.sleeps == [37.414]


@responses.activate
def test_the_default_budget_waits_out_a_full_60_s_window_after_a_backoff():
    fake = FakeTime()
    responses.get(CLAIM_URL, status=503)
    responses.get(CLAIM_URL, status=429, json={"_msBeforeNext": 60000},
                  headers={"RateLimit": '"fhirInteractions";r=0;t=60'})
    responses.get(CLAIM_URL, json=claim_page())

    assert read_claim(make_client(fake))["id"] == "k1"  # the default budget
    assert fake.sleeps == [1.0, 60.0]


@responses.activate
def test_a_ratelimit_window_past_the_budget_gives_up_at_once_with_the_status():
    fake = FakeTime()
    responses.get(CLAIM_URL, status=429, json=MEDPLUM_429_BODY,
                  headers={"RateLimit": '"fhirInteractions";r=0;t=58'})

    with pytest.raises(FhirServerError) as raised:
        read_claim(make_client(fake, retry=policy(fake, max_total_seconds=10)))

    assert raised.value.status == 429 and fake.sleeps == []


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"RateLimit": '"fhirInteractions";r=0;t=58'}, 58.0),
        ({"RateLimit": '"fhirInteractions";r=12;t=58'}, None),  # not exhausted: no window
        ({"RateLimit": '"a";r=0;t=5, "b";r=0;t=30, "c";r=9;t=50'}, 30.0),
        ({"RateLimit": "limit=100, remaining=0, reset=7"}, 7.0),  # an earlier draft
        ({"RateLimit-Remaining": "0", "RateLimit-Reset": "9"}, 9.0),
        ({"RateLimit": '"a";r=0;t=soon'}, None),
        ({"RateLimit": "nonsense"}, None),
        ({}, None),
    ],
)
def test_ratelimit_header_forms(headers, seconds):
    assert rate_limit_seconds(headers) == seconds
