"""schemathesis against the service's own OpenAPI document: whatever is posted, the answer is
documented, and bad input is a 4xx with an OperationOutcome, never a 500.

The document says a draft order is a resource, no more: hypothesis also mutates the elements
of a full draft order (reasons, contained resources, insurance, CRD coverage information,
dates, ids) and the request around it, with wrong JSON types and lone surrogates.

The document is the application's own (``fastapi_app(...).openapi()``, the one served at
/openapi.json: a test checks they are equal); the requests go over HTTP to uvicorn processes:
one on its own (bodies checked in memory) and one with a FHIR server in dry-run mode
(references read from it, nothing written). Bounded: at most 50 examples per operation and
generation mode (positive and negative), no example database on disk.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from adapter.service.app import fastapi_app
from adapter.service.settings import ServeSettings
from fixtures import builders as b
from tests.fhir_server_process import running_fhir_server
from tests.service.conftest import TOKEN
from tests.service.test_cds_hooks import SIGN, _with_coverage, order, request
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


def _full_order() -> dict[str, Any]:
    """A draft order using every element the service reads."""
    ordered = _with_coverage(order(reason="E53.8"))
    ordered["reasonReference"] = [{"reference": "#r1"}, {"reference": "Condition/c1"}]
    ordered["contained"] = [{"resourceType": "Condition", "id": "r1", "code": {
        "coding": [{"system": b.ICD10CM, "code": "D51.0"}]}}]
    ordered["insurance"] = [{"reference": "Coverage/v1"}]
    ordered["supportingInfo"] = [{"reference": "Observation/o1"}]
    ordered["note"] = [{"text": "monthly"}]
    return ordered


HOOK = request(_full_order(), chart=[
    b.condition("c1", "p1", icd="D51.0"), b.lab("o1", "p1", "b12", 150, "pg/mL", "2026-02-10"),
    b.lab("h1", "p1", "hemoglobin", 10.5, "g/dL", "2026-02-10"),
    b.administration("a0", "p1", "2026-02-20")], fhir_server="https://ehr.example.org/fhir")
HOSTILE = st.one_of(
    st.none(), st.booleans(), st.integers(), st.just(10**30), st.floats(allow_nan=False,
                                                                       allow_infinity=False),
    st.text(max_size=6), st.sampled_from(["\ud800", "x\udfff", "", "#r1", "#", "Condition/c1",
                                          "2026-13-45", "\uff12\uff10\uff12\uff16-03-02"]),
    st.lists(st.sampled_from([1, "\ud800", None, [], {}]), max_size=2),
    st.dictionaries(st.sampled_from(["coding", "reference", "code", "\ud800"]),
                    st.sampled_from([1, "\ud800", [], [1], {}]), max_size=2))


@st.composite
def hostile_hook_request(draw: st.DrawFn) -> dict[str, Any]:
    """The order-sign request with one to three nodes replaced (or removed), most of them in
    the draft order."""
    body = copy.deepcopy(HOOK)
    ordered = body["context"]["draftOrders"]["entry"][0]["resource"]
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        node: Any = ordered if draw(st.integers(0, 3)) else body
        while True:
            key = draw(st.sampled_from(list(node) if isinstance(node, dict)
                                       else range(len(node))))
            if isinstance(node[key], dict | list) and node[key] and draw(st.booleans()):
                node = node[key]
                continue
            if isinstance(node, dict) and draw(st.integers(0, 5)) == 0:
                del node[key]
            else:
                node[key] = draw(HOSTILE)
            break
    return body


@settings(deadline=None, max_examples=100, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(hostile_hook_request())
def test_no_draft_order_makes_the_cds_service_fail(service, body):
    response = requests.post(service.url + SIGN, json=body, headers=AUTH, timeout=60)

    assert response.status_code < 500, response.text
    answer = response.json()
    if response.status_code >= 400:
        assert answer["resourceType"] == "OperationOutcome" and answer["issue"], answer
        assert all(issue["diagnostics"] for issue in answer["issue"])
    else:
        for card in answer["cards"]:
            uuid.UUID(card["uuid"])
