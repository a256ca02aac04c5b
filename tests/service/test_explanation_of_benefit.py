"""``POST /ExplanationOfBenefit/$b12-check``: payer data is checked like a Claim (SPEC 4.1),
in-process (the HTTP path is in test_operation.py)."""

from __future__ import annotations

import json

import pytest

from adapter.service.app import load_judge
from adapter.service.handlers import Handlers
from adapter.service.outcome import ServiceError
from adapter.service.settings import ServeSettings
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


def test_an_eob_is_checked_like_a_claim_and_only_at_its_own_endpoint(handlers):
    status, answer = handlers.check_operation(json.dumps(bundle(*_eob_chart())).encode(),
                                              "application/fhir+json", "ExplanationOfBenefit")

    assert status == 200
    assert answer["claim"]["claim"] == "ExplanationOfBenefit/e1"
    assert answer["claim"]["verdict"] == "supported"
    with pytest.raises(ServiceError) as wrong_endpoint:
        handlers.check_operation(json.dumps(bundle(*_eob_chart())).encode(), None, "Claim")
    assert wrong_endpoint.value.status == 400
    assert "ExplanationOfBenefit/e1" in wrong_endpoint.value.message
