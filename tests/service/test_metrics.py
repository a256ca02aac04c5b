"""``GET /metrics`` (Prometheus text) and ``/ready``'s FHIR server probe, over HTTP."""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

from tests.scenario import clean_chart
from tests.service.conftest import TOKEN, Client, bundle
from tests.service_process import free_port, running_service


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_requests_claims_and_findings_without_phi(client):
    chart = [r for r in clean_chart(dx="D51.0", pid="p1") if r["id"] != "h1"]
    before = _samples(client.get("/metrics").text)

    for _ in range(2):
        assert client.post("/Claim/$b12-check", json=bundle(*chart)).status_code == 200
    assert client.post("/Claim/$b12-check", data=b"{").status_code == 400
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = _samples(response.text)
    route = "/Claim/$b12-check"
    assert _value(after, "b12_http_requests_total", route=route, method="POST",
                  status="200") - _value(before, "b12_http_requests_total", route=route,
                                         method="POST", status="200") == 2
    assert _value(after, "b12_http_requests_total", route=route, method="POST",
                  status="400") >= 1
    assert _value(after, "b12_claims_total", verdict="review", source="operation") - \
        _value(before, "b12_claims_total", verdict="review", source="operation") == 2
    assert _value(after, "b12_findings_total", code="anemia-not-supported",
                  source="operation") >= 2
    assert _value(after, "b12_http_request_duration_seconds_count", route=route,
                  method="POST") >= 3
    # labels are route templates and codes: no claim, patient or other id
    assert not re.search(r'"(k1|p1|Claim/k1|Patient/p1)"', response.text)


def test_unknown_paths_are_one_label_not_one_per_path(client):
    client.get("/Patient/secret-id-123")

    text = client.get("/metrics").text

    assert "secret-id-123" not in text
    assert 'route="unmatched"' in text


def test_metrics_need_the_token(service):
    assert Client(service, token=None).get("/metrics").status_code == 401


def test_ready_says_whether_the_fhir_server_answers_and_cds_answers_412_without_it():
    from tests.service.test_cds_hooks import SIGN, order, request

    dead = f"http://127.0.0.1:{free_port()}/fhir"
    with running_service("--server", dead, "--dry-run", "--api-token-env", "B12_TEST_API_TOKEN",
                         "--cds-fhir-server", dead,
                         env={"B12_TEST_API_TOKEN": TOKEN}) as running:
        caller = Client(running)
        ready = caller.get("/ready").json()
        # the chart can be neither prefetched nor fetched: CDS Hooks 2.0 says 412
        unfetched = caller.post(SIGN, json=request(order(), prefetch=False, fhir_server=dead))

    assert ready["status"] == "ready"
    assert ready["fhir_server_answers"] is False
    assert ready["fhir_server_probe"]["error"] == "ConnectionError"
    assert unfetched.status_code == 412, unfetched.text
    assert "could not be read from fhirServer" in unfetched.json()["issue"][0]["diagnostics"]


def test_workers_share_their_figures():
    with running_service("--workers", "2", "--api-token-env", "B12_TEST_API_TOKEN",
                         env={"B12_TEST_API_TOKEN": TOKEN}) as running:
        caller = Client(running)
        for _ in range(6):
            assert caller.post("/Claim/$b12-check",
                               json=bundle(*clean_chart())).status_code == 200
        counts = {_value(_samples(caller.get("/metrics").text), "b12_claims_total",
                         verdict="supported", source="operation") for _ in range(4)}

    assert counts == {6.0}  # whichever worker answers the scrape
