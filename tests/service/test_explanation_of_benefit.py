"""``POST /ExplanationOfBenefit/$b12-check`` once the sources hand out ExplanationOfBenefits
as claims (adapter.sources.CLAIM_TYPES): the same path as a Claim. In-process (the HTTP path
of the refusal until then is in test_operation.py)."""

from __future__ import annotations

import json

import pytest

from adapter import sources
from adapter.service.app import load_judge
from adapter.service.handlers import Handlers
from adapter.service.outcome import ServiceError
from adapter.service.settings import ServeSettings
from adapter.sources import memory
from tests.scenario import clean_chart
from tests.service.conftest import bundle


@pytest.fixture
def handlers() -> Handlers:
    return Handlers(ServeSettings(), load_judge(ServeSettings()))


def _eob_chart() -> list[dict]:
    chart = clean_chart()
    claim = chart[-1]
    eob = {**claim, "resourceType": "ExplanationOfBenefit", "id": "e1", "outcome": "complete",
           "type": claim["type"], "use": "claim"}
    return [*chart[:-1], eob]


def test_until_the_sources_read_them_an_eob_is_refused_with_422(handlers, monkeypatch):
    monkeypatch.setattr(sources, "CLAIM_TYPES", frozenset({"Claim"}))
    with pytest.raises(ServiceError) as refused:
        handlers.check_operation(json.dumps(bundle(*_eob_chart())).encode(), None,
                                 "ExplanationOfBenefit")
    assert refused.value.status == 422 and refused.value.code == "not-supported"


def test_once_they_do_an_eob_is_checked_like_a_claim(handlers, monkeypatch):
    with_eob = sources.CLAIM_TYPES | {"ExplanationOfBenefit"}
    monkeypatch.setattr(sources, "CLAIM_TYPES", with_eob)
    monkeypatch.setattr(memory, "CLAIM_TYPES", with_eob)

    status, answer = handlers.check_operation(json.dumps(bundle(*_eob_chart())).encode(),
                                              "application/fhir+json", "ExplanationOfBenefit")

    assert status == 200
    assert answer["claim"]["claim"] == "ExplanationOfBenefit/e1"
    assert answer["claim"]["verdict"] == "supported"
    with pytest.raises(ServiceError) as wrong_endpoint:
        handlers.check_operation(json.dumps(bundle(*_eob_chart())).encode(), None, "Claim")
    assert wrong_endpoint.value.status == 400
    assert "ExplanationOfBenefit/e1" in wrong_endpoint.value.message
