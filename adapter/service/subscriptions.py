"""FHIR Subscription rest-hook notifications: what changed, read from what the server posts.

What servers send to the endpoint of a ``rest-hook`` Subscription:

- R4 criteria Subscription (``criteria: "Claim?..."``), no ``channel.payload``: an empty
  POST, a *ping* meaning "something matching changed". The service cannot tell what, so it
  runs the same incremental check as ``b12-adapter sync`` (claims changed since the
  watermark in ``serve --state FILE``, minus the overlap), in the background, one run at a
  time; pings that arrive during a run start one more run after it. Without ``--state`` an
  empty notification is refused (422) rather than silently dropped.
- R4 with ``channel.payload`` ``application/fhir+json``: the resource itself, POSTed to the
  endpoint (Medplum, and any server that sends the changed resource) or PUT to
  ``<endpoint>/<Type>/<id>`` (the R4 specification's form, HAPI FHIR).
- R4B/R5 topic-based Subscriptions and the R4 backport IG: a ``history`` Bundle (R5:
  ``subscription-notification``) whose first entry is a SubscriptionStatus (R4 backport: a
  Parameters) with its ``type``: ``handshake`` and ``heartbeat`` are answered 200 at once;
  ``event-notification`` (and ``query-event``) carry the changed resources as further entries,
  with the resource (``full-resource``) or without it (``id-only``: its fullUrl, and the
  event's ``focus``); an event with no focus and no entries (``empty``) is a ping.

Notified claims are checked against the server's chart and their DetectedIssues written back;
notified chart resources of a patient (every record kind keyed to a patient, and the Patient:
``adapter.evidence.kinds``) re-check their patient's claims (a corrected chart cancels its
issues). A notified Medication is not traced to the uses that name it: it is ignored. Writes
are idempotent, so a notification delivered twice changes nothing the second time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from adapter.evidence.fields import is_object, text
from adapter.evidence.kinds import BY_TYPE, PATIENT_TYPES
from adapter.fhir.guard import ID_RE, TYPE_RE
from adapter.service.outcome import ServiceError

Resource = dict[str, Any]
Kind = Literal["ping", "handshake", "heartbeat", "event", "deleted"]
STATUS_TYPES = frozenset({"SubscriptionStatus", "Parameters"})
EVENT_TYPES = frozenset({"event-notification", "query-event"})

logger = logging.getLogger("adapter.service")


@dataclass(frozen=True)
class Notification:
    kind: Kind
    resources: tuple[Resource, ...] = ()  # full-resource payloads
    references: tuple[str, ...] = ()  # id-only payloads, ``Type/id``
    subscription: str | None = None  # the Subscription that fired, for the logs


def read_notification(data: Any, headers: Mapping[str, str]) -> Notification:
    """What a decoded notification body says; ``None`` stands for an empty body."""
    if data is None:
        return Notification("ping")
    subscription = headers.get("x-medplum-subscription")
    subscription = f"Subscription/{subscription}" if subscription else None
    if headers.get("x-medplum-interaction") == "delete":
        return Notification("deleted", subscription=subscription)
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
        raise ServiceError(400, "a notification is empty, a resource, or a notification "
                                "Bundle; this body has no resourceType")
    if data["resourceType"] == "Bundle":
        return _bundle(data)
    _check_id(data)
    return Notification("event", resources=(data,), subscription=subscription)


def _bundle(bundle: Resource) -> Notification:
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        raise ServiceError(400, "a notification Bundle needs a first entry holding its "
                                "SubscriptionStatus")
    first = entries[0].get("resource") if isinstance(entries[0], dict) else None
    if not isinstance(first, dict) or not isinstance(first.get("resourceType"), str) \
            or first["resourceType"] not in STATUS_TYPES:
        raise ServiceError(400, "the first entry of a notification Bundle must be a "
                                "SubscriptionStatus (R4B/R5) or a Parameters (R4 backport)")
    if bundle.get("type") not in ("history", "subscription-notification"):
        raise ServiceError(400, f"a notification Bundle has type 'history' (R4B) or "
                                f"'subscription-notification' (R5), not {bundle.get('type')!r}")
    status = _status(first)
    kind = status.get("type")
    if kind in ("handshake", "heartbeat"):
        return Notification(kind, subscription=status.get("subscription"))
    if not isinstance(kind, str) or kind not in EVENT_TYPES:
        raise ServiceError(400, f"notification type {kind!r} is not handshake, heartbeat, "
                                "event-notification or query-event", code="not-supported")
    resources: dict[str, Resource] = {}
    references: dict[str, None] = dict.fromkeys(status.get("focus", []))
    for index, entry in enumerate(entries[1:], 1):
        if not isinstance(entry, dict):
            raise ServiceError(400, f"Bundle.entry[{index}] is not an object")
        resource = entry.get("resource")
        if isinstance(resource, dict):
            _check_id(resource)
            resources[f"{resource['resourceType']}/{resource['id']}"] = resource
        elif (ref := _entry_reference(entry)) is not None:
            references[ref] = None
    pending = tuple(ref for ref in references if ref not in resources)
    if not resources and not pending:
        return Notification("ping", subscription=status.get("subscription"))
    return Notification("event", tuple(resources.values()), pending,
                        status.get("subscription"))


def _status(resource: Resource) -> dict[str, Any]:
    """type, subscription and the events' focus references of a SubscriptionStatus, or of
    the R4 backport's Parameters (parameter ``type``, ``subscription``, ``notification-event``
    with part ``focus``)."""
    if resource["resourceType"] == "SubscriptionStatus":
        events = resource.get("notificationEvent")
        focus = [event.get("focus") for event in events if isinstance(event, dict)] \
            if isinstance(events, list) else []
        return {"type": resource.get("type"),
                "subscription": _ref(resource.get("subscription")),
                "focus": [r for f in focus if (r := _relative(_ref(f)))]}
    found: dict[str, Any] = {"focus": []}
    for parameter in _list(resource.get("parameter")):
        if not isinstance(parameter, dict):
            continue
        name = parameter.get("name")
        if name == "type":
            found["type"] = parameter.get("valueCode")
        elif name == "subscription":
            found["subscription"] = _ref(parameter.get("valueReference"))
        elif name == "notification-event":
            for part in _list(parameter.get("part")):
                ref = (_relative(_ref(part.get("valueReference")))
                       if isinstance(part, dict) and part.get("name") == "focus" else None)
                if ref:
                    found["focus"].append(ref)
    return found


def _entry_reference(entry: Resource) -> str | None:
    request = entry.get("request")
    for candidate in (entry.get("fullUrl"), request.get("url") if is_object(request) else None):
        if isinstance(candidate, str) and (ref := _relative(candidate)):
            return ref
    return None


def _list(value: Any) -> list[Any]:
    """A repeating element; a value that is not a list holds nothing the service reads."""
    return value if isinstance(value, list) else []


def _ref(value: Any) -> str | None:
    ref = value.get("reference") if isinstance(value, dict) else None
    return text(ref) if isinstance(ref, str) else None  # the subscription's is logged


def _relative(ref: str | None) -> str | None:
    """``Type/id`` of a relative or absolute resource URL (history version dropped)."""
    if not ref:
        return None
    parts = ref.split("/_history/")[0].rstrip("/").split("/")
    if len(parts) >= 2 and TYPE_RE.fullmatch(parts[-2]) and ID_RE.fullmatch(parts[-1]):
        return f"{parts[-2]}/{parts[-1]}"
    return None


def _check_id(resource: Resource) -> None:
    rtype, rid = resource.get("resourceType"), resource.get("id")
    if not isinstance(rtype, str) or not TYPE_RE.fullmatch(rtype):
        raise ServiceError(400, "a notified resource has no valid resourceType")
    if not isinstance(rid, str) or not ID_RE.fullmatch(rid):
        raise ServiceError(400, f"a notified {rtype} has no valid id: only resources stored on "
                                "the server are notified")


def patients_of(resources: list[Resource]) -> list[str]:
    """The patients whose claims a notified chart resource may change."""
    found: dict[str, None] = {}
    for resource in resources:
        kind = BY_TYPE.get(str(resource.get("resourceType")))
        if kind is None or kind.resource_type not in PATIENT_TYPES:
            continue
        if not kind.patient:  # the Patient itself
            if isinstance(resource.get("id"), str) and ID_RE.fullmatch(resource["id"]):
                found[f"Patient/{resource['id']}"] = None
            continue
        for name in kind.patient:
            ref = _relative(_ref(resource.get(name)))
            if ref and ref.startswith("Patient/"):
                found[ref] = None
    return list(found)


class PingRunner:
    """Runs ``work`` in one background thread whenever a ping asks; pings that arrive while
    it runs coalesce into one more run after it. A run that fails (``work`` returns False or
    raises: the server failed, or a cron ``sync`` holds the state lock) is tried again a few
    times, then waits for the next ping. ``stop`` lets the current run finish."""

    def __init__(self, work: Callable[[], bool], retry_seconds: float = 5.0,
                 max_attempts: int = 3) -> None:
        self.work = work
        self.retry_seconds = retry_seconds
        self.max_attempts = max_attempts
        self._wanted = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def ping(self) -> None:
        with self._start:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="b12-ping", daemon=True)
                self._thread.start()
        self._wanted.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        self._wanted.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        attempts = 0
        while not self._stopping.is_set():
            if not self._wanted.wait(timeout=1.0):
                continue
            self._wanted.clear()
            if self._stopping.is_set():
                break
            try:
                ok = self.work()
            except Exception:
                logger.exception("ping: the sync run failed")
                ok = False
            attempts = 0 if ok else attempts + 1
            if attempts and attempts < self.max_attempts:
                self._stopping.wait(self.retry_seconds)
                self._wanted.set()
            elif attempts:
                attempts = 0
