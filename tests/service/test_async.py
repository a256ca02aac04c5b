"""The FHIR asynchronous request pattern for ``$b12-check`` over HTTP: ``Prefer:
respond-async`` answers 202 with ``Content-Location``; polling answers 202 until the answer
is ready, then the answer; DELETE cancels and forgets (then 404)."""

from __future__ import annotations

import time

import requests
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.parameters import Parameters

from tests.service.conftest import Client, bundle
from tests.service.test_batch import chart

CHECK = "/Claim/$b12-check"
ASYNC = {"Prefer": "respond-async"}


def _poll(client: Client, url: str, headers: dict | None = None) -> requests.Response:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        response = requests.get(url, headers={**client.headers, **(headers or {})}, timeout=30)
        if response.status_code != 202:
            return response
        assert response.headers["retry-after"] == "1"
        assert response.headers["x-progress"] in {"queued", "running"}
        time.sleep(0.05)
    raise AssertionError("the job did not finish")


def test_a_batch_sent_async_is_polled_for_its_answer(client):
    posted = bundle(*[r for n in range(1, 21) for r in chart(n)])

    accepted = client.post(CHECK, json=posted, headers=ASYNC)

    assert accepted.status_code == 202, accepted.text
    location = accepted.headers["content-location"]
    assert location.startswith(client.url + "/async/")
    done = _poll(client, location)
    assert done.status_code == 200
    assert done.json()["summary"]["checked"] == 20
    assert done.json() == client.post(CHECK, json=posted).json() | {
        "detected_issues": done.json()["detected_issues"]}  # issued at another instant
    assert _poll(client, location).status_code == 200  # kept: it may be fetched again


def test_a_fhir_client_gets_a_batch_response_bundle(client):
    accepted = client.post(CHECK, json=bundle(*chart(1), *chart(2)),
                           headers={**ASYNC, "Accept": "application/fhir+json"})

    done = _poll(client, accepted.headers["content-location"])

    assert done.headers["content-type"].startswith("application/fhir+json")
    answer = done.json()
    Bundle.model_validate(answer)
    assert answer["type"] == "batch-response"
    assert answer["entry"][0]["response"]["status"] == "200 OK"
    Parameters.model_validate(answer["entry"][0]["resource"])


def test_a_refused_request_is_the_jobs_answer(client):
    accepted = client.post(CHECK, data=b"{", headers=ASYNC)

    done = _poll(client, accepted.headers["content-location"])

    assert done.status_code == 400
    assert "not valid JSON" in done.json()["issue"][0]["diagnostics"]


def test_delete_cancels_and_forgets_the_job(client):
    accepted = client.post(CHECK, json=bundle(*chart(1)), headers=ASYNC)
    location = accepted.headers["content-location"]

    deleted = requests.delete(location, headers=client.headers, timeout=30)

    assert deleted.status_code == 202
    assert requests.get(location, headers=client.headers, timeout=30).status_code == 404
    assert requests.delete(location, headers=client.headers, timeout=30).status_code == 404
    assert client.get("/async/" + "0" * 32).status_code == 404
    assert client.get("/async/not-a-job").status_code == 404


def test_any_worker_answers_the_poll():
    from tests.service.conftest import TOKEN
    from tests.service_process import running_service

    with running_service("--workers", "2", "--api-token-env", "B12_TEST_API_TOKEN",
                         env={"B12_TEST_API_TOKEN": TOKEN}) as running:
        caller = Client(running)
        locations = [caller.post(CHECK, json=bundle(*chart(1), *chart(2)),
                                 headers=ASYNC).headers["content-location"] for _ in range(4)]
        answers = [_poll(caller, url) for url in locations for _ in range(2)]

    assert {a.status_code for a in answers} == {200}
