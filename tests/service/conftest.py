"""A ``b12-adapter serve`` process (uvicorn) on 127.0.0.1, started by the tests.

``service`` (module scope): no FHIR server, a bearer token required (B12_TEST_API_TOKEN),
bodies limited to 64 KiB. Tests talk HTTP to it with ``requests``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.service_process import Service, running_service

TOKEN = "test-token-7f3a"
MAX_BODY = 64 * 1024


class Client:
    """requests against the service with the caller's token."""

    def __init__(self, service: Service, token: str | None = TOKEN) -> None:
        self.service = service
        self.url = service.url
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def post(self, path: str, json: object = None, data: bytes | None = None,
             headers: dict[str, str] | None = None) -> requests.Response:
        return requests.post(self.url + path, json=json, data=data, timeout=60,
                             headers={**self.headers, **(headers or {})})

    def get(self, path: str, headers: dict[str, str] | None = None) -> requests.Response:
        return requests.get(self.url + path, headers={**self.headers, **(headers or {})},
                            timeout=60)


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    with running_service("--api-token-env", "B12_TEST_API_TOKEN",
                         "--max-body-bytes", str(MAX_BODY),
                         env={"B12_TEST_API_TOKEN": TOKEN}) as running:
        yield running


@pytest.fixture
def client(service: Service) -> Client:
    return Client(service)


def bundle(*resources: dict) -> dict:
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": r} for r in resources]}
