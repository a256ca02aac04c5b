"""Issue 25, "Service": hostile bodies and slow clients, each reproduced over HTTP against a
running ``serve`` process; the smallest fixes (adapter/service/failsafe.py, read_json)."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from adapter.cli import _parser, main
from adapter.service.failsafe import AnsweredErrors
from adapter.service.run import settings_from_args
from tests.service.conftest import TOKEN
from tests.service_process import running_service

HUGE = b'{"resourceType": "Claim", "id": "k1", "total": {"value": ' + b"9" * 5000 + b"}}"
CDS = (b'{"hook": "order-sign", "hookInstance": "x", "context": {"patientId": '
       + b"1" * 5000 + b"}}")


def _connection(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)


@pytest.mark.parametrize(("path", "body"), [("/Claim/$b12-check", HUGE),
                                            ("/cds-services/b12-injection", CDS)])
def test_a_5000_digit_integer_is_a_400_and_the_connection_stays_usable(service, path, body):
    connection = _connection(service.url)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/fhir+json"}
    for _ in range(3):  # the same keep-alive connection each time
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        answer = json.loads(response.read())
        assert response.status == 400, answer
        assert "not usable JSON" in answer["issue"][0]["diagnostics"]
    connection.request("GET", "/health")
    assert connection.getresponse().status == 200
    connection.close()


def test_a_body_that_stops_arriving_is_a_408_within_the_body_timeout():
    with running_service("--body-timeout", "1") as slow:
        parts = urlsplit(slow.url)
        started = time.monotonic()
        with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
            sock.sendall(b"POST /Claim/$b12-check HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/fhir+json\r\nContent-Length: 100\r\n\r\n{")
            received = b""
            while chunk := sock.recv(4096):  # until the service closes the connection
                received += chunk
        assert time.monotonic() - started < 10
        assert received.startswith(b"HTTP/1.1 408")
        assert b"--body-timeout" in received


def test_an_error_raised_after_the_answer_does_not_reach_the_server():
    sent: list[dict[str, Any]] = []

    async def answered_then_raised(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 500, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})
        raise RuntimeError("re-raised by the error middleware")

    async def raised_first(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("no answer yet")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    asyncio.run(AnsweredErrors(answered_then_raised)({"type": "http"}, receive, send))
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    with pytest.raises(RuntimeError, match="no answer yet"):
        asyncio.run(AnsweredErrors(raised_first)({"type": "http"}, receive, send))


def test_serve_refuses_stats_and_passes_its_server_limits(capsys):
    assert main(["serve", "--stats"]) == 2
    assert "--stats is for check" in capsys.readouterr().err
    assert main(["serve", "--retry-budget", "5"]) == 2
    assert "--retry-budget needs --server" in capsys.readouterr().err
    args = _parser().parse_args(["serve", "--server", "http://127.0.0.1:9/fhir",
                                 "--retry-budget", "7", "--max-pages", "3"])
    settings = settings_from_args(args)
    assert settings.fhir is not None
    client = settings.fhir.client()
    assert client.retry.max_total_seconds == 7 and client.max_pages == 3
    client.close()


@pytest.fixture
def started(monkeypatch):
    """The settings each ``serve`` would have started the service with (none is started)."""
    calls = []
    monkeypatch.setattr("adapter.service.run.serve",
                        lambda settings, **where: calls.append(settings))
    return calls


@pytest.mark.parametrize("option", [
    ["--auth", "bearer"], ["--token-env", "FHIR_TOKEN"], ["--timeout", "5"],
    ["--scope", "system/*.read"], ["--ca-bundle", "ca.pem"], ["--page-size", "10"],
    ["--dry-run"], ["--max-transaction-entries", "10"],
], ids=lambda option: option[0])
def test_serve_without_a_server_refuses_the_options_that_need_one(capsys, started, option):
    """Without --server the service judges the records posted with each claim: a token, a
    timeout or a dry run would do nothing, silently."""
    assert main(["serve", *option]) == 2 and not started
    assert capsys.readouterr().err == (
        f"b12-adapter: {option[0]} needs --server: without it the service judges the records "
        "posted with each claim (no connection, no auth, no write-back)\n")


def test_serve_names_every_option_that_needs_a_server_and_takes_them_with_one(
        capsys, monkeypatch, started):
    assert main(["serve", "--token-env", "FHIR_TOKEN", "--dry-run"]) == 2 and not started
    assert "--token-env and --dry-run need --server" in capsys.readouterr().err
    monkeypatch.setenv("FHIR_TOKEN", "not-a-real-token")
    assert main(["serve", "--server", "http://127.0.0.1:9/fhir", "--auth", "bearer",
                 "--token-env", "FHIR_TOKEN", "--dry-run", "--timeout", "5"]) == 0
    assert len(started) == 1 and started[0].fhir is not None and started[0].dry_run


# Callers' authentication: a service other machines reach answers PHI only to callers it knows


@pytest.fixture
def uvicorn_started(monkeypatch):
    """Where ``serve`` would have listened (uvicorn is not started)."""
    calls = []
    monkeypatch.setattr("adapter.service.run.uvicorn.run", lambda app, **options: calls.append(
        options["host"]))
    return calls


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::", "fhir-gw.example.org"])
def test_serve_refuses_an_open_address_without_caller_authentication(capsys, uvicorn_started,
                                                                     host):
    assert main(["serve", "--host", host]) == 2 and not uvicorn_started
    err = capsys.readouterr().err
    assert f"--host {host}" in err and "--api-token-env" in err
    assert "--allow-unauthenticated" in err


def test_serve_listens_openly_with_a_token_or_when_told_a_gateway_authenticates(
        capsys, monkeypatch, uvicorn_started):
    monkeypatch.setenv("B12_API", "s3cret-token")
    assert main(["serve", "--host", "0.0.0.0", "--api-token-env", "B12_API"]) == 0
    assert "warning" not in capsys.readouterr().err
    assert main(["serve", "--host", "0.0.0.0", "--allow-unauthenticated"]) == 0
    assert "answered without authentication" in capsys.readouterr().err
    assert uvicorn_started == ["0.0.0.0", "0.0.0.0"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_serve_on_this_machine_only_warns_without_caller_authentication(
        capsys, uvicorn_started, host):
    assert main(["serve", "--host", host]) == 0 and uvicorn_started == [host]
    assert "answered without authentication" in capsys.readouterr().err
