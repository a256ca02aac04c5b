"""Nothing listening at the base URL (issue 25): a wrong URL or a server not started is said in
one line at once, not retried for the whole retry budget; once the server has answered, a
refused connection is a restart, retried as before."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest
import requests
import responses

from adapter.fhir import FhirServerError, FhirUnreachableError
from tests.fhir.testkit import CLAIM_URL, FakeTime, claim_page, make_client, read_claim


def _refused() -> requests.ConnectionError:
    try:
        raise ConnectionRefusedError(111, "Connection refused")
    except ConnectionRefusedError as cause:
        try:
            raise requests.ConnectionError("Max retries exceeded (NewConnectionError)") from cause
        except requests.ConnectionError as exc:
            return exc


@responses.activate
def test_a_refused_first_request_is_one_error_without_retries():
    fake = FakeTime()
    responses.get(CLAIM_URL, body=_refused())
    with pytest.raises(FhirUnreachableError) as raised:
        read_claim(make_client(fake))
    assert "connection refused" in str(raised.value)
    assert "NewConnectionError" not in str(raised.value)
    assert len(responses.calls) == 1 and fake.sleeps == []


@responses.activate
def test_a_refused_connection_after_the_server_answered_is_retried():
    fake = FakeTime()
    responses.get(CLAIM_URL, json=claim_page())
    responses.get(CLAIM_URL, body=_refused())
    responses.get(CLAIM_URL, json=claim_page())
    client = make_client(fake)
    read_claim(client)
    assert read_claim(client)["id"] == "k1"
    assert len(fake.sleeps) == 1


@responses.activate
def test_a_reset_first_request_is_still_retried():
    fake = FakeTime()
    responses.get(CLAIM_URL, body=requests.ConnectionError("Connection reset by peer"))
    with pytest.raises(FhirServerError) as raised:
        read_claim(make_client(fake))
    assert not isinstance(raised.value, FhirUnreachableError)
    assert len(responses.calls) == 5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("argv", [["check"], ["load", "--source", "fixtures/demo"]])
def test_the_command_line_says_it_in_one_line_within_seconds(argv):
    url = f"http://127.0.0.1:{_free_port()}/fhir"
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "adapter", *argv, "--server", url],
                          capture_output=True, text=True, timeout=60)
    assert time.monotonic() - started < 10
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "connection refused" in lines[0], done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
