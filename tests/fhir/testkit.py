"""Builders and fakes shared by the FHIR transport tests (no network, no real sleeping)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from adapter.fhir import FhirClient, RetryPolicy
from adapter.fhir.auth import Auth

BASE = "http://fhir.test/fhir"


class FakeTime:
    """A clock that moves only when something sleeps; records every requested wait."""

    def __init__(self, start: datetime | None = None) -> None:
        self.wall = start or datetime.now(UTC).replace(microsecond=0)
        self.mono = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += timedelta(seconds=seconds)

    def monotonic(self) -> float:
        return self.mono

    def now(self) -> datetime:
        return self.wall

    def time(self) -> float:
        return self.wall.timestamp()


def policy(fake: FakeTime, **overrides: Any) -> RetryPolicy:
    """A retry policy without jitter, sleeping on the fake clock."""
    settings: dict[str, Any] = {"jitter": 0.0, "backoff_base": 1.0}
    settings.update(overrides)
    return RetryPolicy(sleep=fake.sleep, clock=fake.monotonic, now=fake.now, **settings)


def make_client(
    fake: FakeTime | None = None, *, auth: Auth | None = None, **kwargs: Any
) -> FhirClient:
    retry = kwargs.pop("retry", None) or policy(fake or FakeTime())
    return FhirClient(BASE, auth=auth, retry=retry, **kwargs)


def outcome(*diagnostics: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {"severity": "error", "code": "processing", "diagnostics": d} for d in diagnostics
        ],
    }


def searchset(*resources: dict[str, Any], next_url: str | None = None) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": [{"relation": "self", "url": f"{BASE}/self"}],
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }
    if next_url:
        bundle["link"].append({"relation": "next", "url": next_url})
    return bundle


def claim(claim_id: str) -> dict[str, Any]:
    return {"resourceType": "Claim", "id": claim_id}


CLAIM_URL = f"{BASE}/Claim"  # `responses` matches it whatever the query
CLAIM_SEARCH = f"{BASE}/Claim?_id=k1&_count=100"  # the URL read_claim asks for


def read_claim(client: FhirClient) -> dict[str, Any]:
    """One GET through the whole transport (auth, retries, errors): Claim k1 by search."""
    return next(iter(client.search("Claim", _id="k1")))


def claim_page(claim_id: str = "k1") -> dict[str, Any]:
    return searchset(claim(claim_id))


def entry(method: str, url: str, resource: dict[str, Any] | None = None, **request: Any):
    item: dict[str, Any] = {"request": {"method": method, "url": url, **request}}
    if resource is not None:
        item["resource"] = resource
    return item


def transaction(*entries: dict[str, Any], kind: str = "transaction") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def detected_issue(identifier: str = "k1-lab-missing") -> dict[str, Any]:
    return {
        "resourceType": "DetectedIssue",
        "status": "final",
        "identifier": [{"system": "urn:b12", "value": identifier}],
    }


def conditional_create(identifier: str = "k1-lab-missing") -> dict[str, Any]:
    return entry(
        "POST",
        "DetectedIssue",
        detected_issue(identifier),
        ifNoneExist=f"identifier=urn:b12|{identifier}",
    )


TRANSACTION_RESPONSE = {"resourceType": "Bundle", "type": "transaction-response", "entry": []}


def answer_every_entry(status: str = "200 OK"):
    """A ``responses`` callback for POST [base]: each entry of the Bundle answered ``status``."""
    import json

    def callback(request: Any) -> tuple[int, dict[str, str], str]:
        sent = json.loads(request.body)
        kind = f"{sent.get('type')}-response"
        body = {"resourceType": "Bundle", "type": kind,
                "entry": [{"response": {"status": status}} for _ in sent.get("entry") or []]}
        return 200, {"Content-Type": "application/fhir+json"}, json.dumps(body)

    return callback
