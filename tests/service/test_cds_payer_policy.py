"""CDS Hooks with the payer's policy (SPEC 4.4): a Coverage in the optional ``coverage``
prefetch (or the order's ``insurance``) names the payer, whose policy judges the order as it
would the claim. A service started with a ``[policies]`` configuration."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fixtures import builders as b
from tests.service.conftest import TOKEN, Client, bundle
from tests.service.test_cds_hooks import BACKED, SIGN, _cards, order, request
from tests.service_process import Service, running_service

AETNA_NPI = ("http://hl7.org/fhir/sid/us-npi", "1234567893")


@pytest.fixture(scope="module")
def insured_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    config = tmp_path_factory.mktemp("cds-policies") / "b12.toml"
    config.write_text('[policies.payers]\n"http://hl7.org/fhir/sid/us-npi|1234567893" = '
                      '"aetna-cpb-0536"\n', encoding="utf-8")
    with running_service("--api-token-env", "B12_TEST_API_TOKEN", "--config", str(config),
                         env={"B12_TEST_API_TOKEN": TOKEN}) as running:
        yield running


def _insured(body: dict, *, prefetch_coverage: bool = True) -> dict:
    aetna = b.payer("aetna", "Aetna", AETNA_NPI)
    if prefetch_coverage:
        body["prefetch"]["coverage"] = bundle(
            b.coverage("cov1", "p1", b.ref("Organization", "aetna")), aetna)
    return body


def test_discovery_offers_the_coverage_prefetch(insured_service):
    services = Client(insured_service).get("/cds-services").json()["services"]
    prefetch = services[0]["prefetch"]
    assert prefetch["coverage"] == "Coverage?patient={{context.patientId}}"
    assert prefetch["coverage-payor"] == ("Coverage?patient={{context.patientId}}"
                                          "&_include=Coverage:payor")


def test_the_payers_policy_judges_the_order_when_a_coverage_is_prefetched(insured_service):
    client = Client(insured_service)
    # E53.8 alone: Aetna covers it only beside a neuropathy or a malabsorption cause
    cards = _cards(client, SIGN, _insured(request(order(reason="E53.8"), chart=BACKED)))
    assert [c["source"]["topic"]["code"] for c in cards] == ["dx-not-covered"]
    assert "aetna-cpb-0536" in cards[0]["detail"] or "Aetna" in cards[0]["detail"]


def test_a_covered_reason_and_no_coverage_prefetched_get_no_policy_card(insured_service):
    client = Client(insured_service)
    covered = [b.condition("c1", "p1", icd="D51.0"), b.lab("o1", "p1", "b12", 150, "pg/mL",
                                                             "2026-02-10"),
               b.lab("h1", "p1", "hemoglobin", 10.2, "g/dL", "2026-02-10")]
    cards = _cards(client, SIGN, _insured(request(order(reason="D51.0"), chart=covered)))
    assert "dx-not-covered" not in [c["source"]["topic"]["code"] for c in cards]
    # no coverage key at all: not missing (optional), and no payer, so no policy
    cards = _cards(client, SIGN, request(order(reason="E53.8"), chart=BACKED))
    assert [c["source"]["topic"]["code"] for c in cards] == []
