"""Issue 25, "Service", against a real FHIR server process: a notification redelivered in the
other form changes nothing, and an empty notification's sync logs its line (it crashed on it:
``KeyError: "Attempt to overwrite 'created' in LogRecord"``)."""

from __future__ import annotations

import json
import time

import requests

from tests.fhir_server_process import running_fhir_server
from tests.integration.test_serve import (  # noqa: F401 - fixtures
    MEDPLUM,
    _post,
    _status_bundle,
    server,
    service,
)
from tests.integration.test_server_mode import _chart, _load
from tests.service_process import running_service


def test_a_notification_redelivered_in_the_other_form_updates_nothing(server, service):  # noqa: F811
    resources = _chart("rdl")
    _load(server, resources)
    claim = next(r for r in resources if r["id"] == "rdl-k2")  # as handed in: no meta
    id_only = _status_bundle("event-notification", [f"{server}/Claim/rdl-k2"], [
        {"fullUrl": f"{server}/Claim/rdl-k2", "request": {"method": "PUT",
                                                          "url": "Claim/rdl-k2"},
         "response": {"status": "200"}}])
    full = _status_bundle("event-notification", ["Claim/rdl-k2"], [
        {"fullUrl": f"{server}/Claim/rdl-k2", "resource": claim}])

    first = _post(service, "/subscription", id_only)
    answers = [_post(service, "/subscription", body) for body in (full, id_only, full)]

    assert first.status_code == 200 and first.json()["writes"]["created"] > 0
    for answer in answers:
        assert answer.status_code == 200, answer.text
        writes = answer.json()["writes"]
        assert (writes["created"], writes["updated"], writes["cancelled"]) == (0, 0, 0), writes


def test_an_empty_notification_logs_its_sync_without_crashing(tmp_path):
    with running_fhir_server() as fresh:
        _load(fresh, _chart("plg"))
        state = tmp_path / "state.json"
        with running_service("--server", fresh, *MEDPLUM, "--state", str(state)) as pinged:
            response = requests.post(f"{pinged.url}/subscription", data=b"", timeout=30)
            assert response.status_code == 202
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not any(
                    line.get("message") == "ping: sync run" for line in pinged.log_lines()):
                time.sleep(0.2)
            lines = [line for line in pinged.log_lines()
                     if line.get("message") == "ping: sync run"]
            assert lines, pinged.log_path.read_text()[-2000:]
            assert lines[0]["writes"]["created"] > 0
            assert json.loads(state.read_text())["watermark"]
            log = pinged.log_path.read_text()
            assert "KeyError" not in log and "Traceback" not in log
