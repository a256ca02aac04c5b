"""schemathesis against the service's own OpenAPI document: whatever is posted, the answer is
documented, and bad input is a 4xx with an OperationOutcome, never a 500.

The document is the application's own (``fastapi_app(...).openapi()``, the one served at
/openapi.json: a test checks they are equal); the requests go over HTTP to uvicorn processes:
one on its own (bodies checked in memory) and one with a FHIR server in dry-run mode
(references read from it, nothing written). Bounded: at most 50 examples per operation and
generation mode (positive and negative), no example database on disk.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from adapter.service.app import fastapi_app
from adapter.service.settings import ServeSettings
from tests.fhir_server_process import running_fhir_server
from tests.service.conftest import TOKEN
from tests.service_process import Service, running_service

AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
DOCUMENT = fastapi_app(ServeSettings()).openapi()

schema = schemathesis.openapi.from_dict(DOCUMENT)
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                                max_examples=50, database="none")
fuzz = settings(deadline=None, suppress_health_check=list(HealthCheck), max_examples=50,
                database=None)


@pytest.fixture(scope="module")
def dry_run_service() -> Iterator[Service]:
    with running_fhir_server() as fhir, running_service(
            "--server", fhir, "--dry-run", "--api-token-env", "B12_FUZZ_TOKEN",
            env={"B12_FUZZ_TOKEN": TOKEN}) as running:
        yield running


def _verify(case, service: Service) -> None:
    response = case.call(base_url=service.url, headers=AUTH, timeout=60)
    case.validate_response(response, checks=CHECKS)
    if response.status_code >= 400:
        body = response.json()
        assert body["resourceType"] == "OperationOutcome" and body["issue"], body


def test_the_fuzzed_document_is_the_one_the_service_serves(service):
    served = requests.get(f"{service.url}/openapi.json", headers=AUTH, timeout=30).json()
    assert served == DOCUMENT


@schema.parametrize()
@fuzz
def test_no_input_makes_the_service_fail(case, service):
    _verify(case, service)


@schema.parametrize()
@fuzz
def test_no_input_makes_the_service_with_a_fhir_server_fail(case, dry_run_service):
    _verify(case, dry_run_service)
