"""Reading Subscription notifications (adapter/service/subscriptions.py): every form a
server sends, and the 400 for what is not a notification. Plain values, no HTTP; the HTTP
path, with a FHIR server sending them, is tests/integration/test_serve.py."""

from __future__ import annotations

import threading
import time

import pytest

from adapter.service.outcome import ServiceError
from adapter.service.subscriptions import PingRunner, read_notification

BASE = "http://fhir.example.org/r4"


def status_bundle(kind: str, *entries: dict, focus: tuple[str, ...] = ()) -> dict:
    status = {"resourceType": "SubscriptionStatus", "type": kind,
              "subscription": {"reference": "Subscription/s1"},
              "notificationEvent": [{"eventNumber": "1", "focus": {"reference": f}}
                                    for f in focus]}
    return {"resourceType": "Bundle", "type": "history",
            "entry": [{"resource": status}, *entries]}


def test_an_empty_body_is_a_ping():
    assert read_notification(None, {}).kind == "ping"


def test_a_resource_posted_as_medplum_does_is_a_full_resource_event():
    claim = {"resourceType": "Claim", "id": "k1"}

    notification = read_notification(claim, {"x-medplum-subscription": "s9"})

    assert notification.kind == "event" and notification.resources == (claim,)
    assert notification.subscription == "Subscription/s9"


def test_a_medplum_delete_is_answered_without_checking():
    assert read_notification({}, {"x-medplum-interaction": "delete"}).kind == "deleted"


@pytest.mark.parametrize("kind", ["handshake", "heartbeat"])
def test_handshake_and_heartbeat(kind):
    notification = read_notification(status_bundle(kind), {})
    assert notification.kind == kind and notification.subscription == "Subscription/s1"


def test_id_only_entries_and_focus_become_references_and_full_entries_resources():
    claim = {"resourceType": "Claim", "id": "k2"}
    notification = read_notification(status_bundle(
        "event-notification",
        {"fullUrl": f"{BASE}/Claim/k1/_history/3", "request": {"method": "PUT"}},
        {"fullUrl": f"{BASE}/Claim/k2", "resource": claim},
        focus=(f"{BASE}/Claim/k1", "Claim/k2", "Claim/k3")), {})

    assert notification.kind == "event"
    assert notification.resources == (claim,)
    assert notification.references == ("Claim/k1", "Claim/k3")


def test_an_event_with_no_focus_and_no_entries_is_an_empty_notification():
    assert read_notification(status_bundle("event-notification"), {}).kind == "ping"


def test_the_r4_backport_parameters_form():
    parameters = {"resourceType": "Parameters", "parameter": [
        {"name": "subscription", "valueReference": {"reference": "Subscription/b1"}},
        {"name": "type", "valueCode": "event-notification"},
        {"name": "notification-event", "part": [
            {"name": "focus", "valueReference": {"reference": "Claim/k7"}}]}]}

    notification = read_notification(
        {"resourceType": "Bundle", "type": "history", "entry": [{"resource": parameters}]}, {})

    assert notification.references == ("Claim/k7",)
    assert notification.subscription == "Subscription/b1"


@pytest.mark.parametrize("body, words", [
    ([1], "no resourceType"),
    ({"resourceType": "Bundle", "type": "history", "entry": []}, "first entry"),
    ({"resourceType": "Bundle", "type": "history",
      "entry": [{"resource": {"resourceType": "Claim", "id": "k1"}}]}, "SubscriptionStatus"),
    ({"resourceType": "Bundle", "type": "collection",
      "entry": [{"resource": {"resourceType": "SubscriptionStatus", "type": "heartbeat"}}]},
     "'history'"),
    (status_bundle("query-status"), "not handshake"),
    ({"resourceType": "Claim"}, "no valid id"),
    # found beside the hostile-input hunt: each was a TypeError (a 500)
    ({"resourceType": "Bundle", "type": "history", "entry": [{"resource": {
        "resourceType": ["SubscriptionStatus"]}}]}, "SubscriptionStatus"),
    ({"resourceType": "Bundle", "type": "history", "entry": [{"resource": {
        "resourceType": "SubscriptionStatus", "type": {}}}]}, "not handshake"),
    ({"resourceType": "Bundle", "type": "history", "entry": [{"resource": {
        "resourceType": "Parameters", "parameter": 1}}]}, "not handshake"),
])
def test_what_is_not_a_notification_is_a_400_naming_the_problem(body, words):
    with pytest.raises(ServiceError) as raised:
        read_notification(body, {})
    assert raised.value.status == 400 and words in raised.value.message


def test_malformed_parts_of_a_notification_are_passed_over():
    """Found beside the hostile-input hunt: a ``part`` or an entry's ``request`` that is not
    an object made a 500; what can be read of the notification still is."""
    parameters = {"resourceType": "Parameters", "parameter": [
        {"name": "subscription", "valueReference": {"reference": "Subscription/\ud800"}},
        {"name": "type", "valueCode": "event-notification"},
        {"name": "notification-event", "part": 1}]}

    notification = read_notification(
        {"resourceType": "Bundle", "type": "history", "entry": [
            {"resource": parameters}, {"fullUrl": f"{BASE}/Claim/k8", "request": "PUT"}]}, {})

    assert notification.kind == "event" and notification.references == ("Claim/k8",)
    assert notification.subscription == "Subscription/\ufffd"  # logged: made printable


def test_pings_during_a_run_coalesce_into_one_more_run():
    started, release, second = threading.Event(), threading.Event(), threading.Event()
    runs: list[int] = []

    def work() -> bool:
        runs.append(1)
        started.set()
        if len(runs) == 2:
            second.set()
        release.wait(5)
        return True

    runner = PingRunner(work)
    runner.ping()
    assert started.wait(5)
    for _ in range(5):
        runner.ping()  # all while the first run is going
    release.set()
    assert second.wait(5)
    time.sleep(0.3)  # room for a third run, which must not come
    runner.stop()

    assert len(runs) == 2


def test_a_failed_run_is_tried_again_a_bounded_number_of_times():
    calls: list[int] = []
    done = threading.Event()

    def work() -> bool:
        calls.append(1)
        if len(calls) == 3:
            done.set()
        return False

    runner = PingRunner(work, retry_seconds=0.01, max_attempts=3)
    runner.ping()
    assert done.wait(5)
    runner.stop()

    assert len(calls) == 3
