"""The command line's reliability options for server runs, and what it does with bad ones
(README "Reliability: server runs"); the end-to-end runs are in
tests/integration/test_server_faults.py."""

from __future__ import annotations

import pytest

from adapter.cli import _client, _parser, main
from adapter.fhir.retry import DEFAULT_RETRY_BUDGET
from adapter.fhir.search import DEFAULT_MAX_PAGES

SERVER = "http://127.0.0.1:9/fhir"


@pytest.mark.parametrize("command", [
    ["check", "--server", SERVER], ["sync", "--server", SERVER, "--state", "s.json"],
    ["load", "fixtures/demo", "--server", SERVER]])
def test_the_retry_budget_reaches_the_client_of_every_server_command(command):
    assert _client(_parser().parse_args([*command, "--retry-budget", "7.5"])
                   ).retry.max_total_seconds == 7.5
    assert _client(_parser().parse_args(command)).retry.max_total_seconds == DEFAULT_RETRY_BUDGET


@pytest.mark.parametrize("command", [
    ["check", "--server", SERVER], ["sync", "--server", SERVER, "--state", "s.json"]])
def test_the_page_bound_reaches_the_client(command):
    assert _client(_parser().parse_args([*command, "--max-pages", "3"])).max_pages == 3
    assert _client(_parser().parse_args(command)).max_pages == DEFAULT_MAX_PAGES


def test_a_page_bound_below_one_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["check", "--server", SERVER, "--max-pages", "0"])
    assert exit_.value.code == 2
    assert "argument --max-pages: must be a whole number from 1" in capsys.readouterr().err


def test_the_default_retry_budget_covers_medplums_60_second_window_twice():
    assert DEFAULT_RETRY_BUDGET >= 120


def test_a_negative_retry_budget_exits_2_before_any_request(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["check", "--server", SERVER, "--retry-budget", "-1"])
    assert exit_.value.code == 2
    assert "argument --retry-budget: must be a number of seconds from 0" \
        in capsys.readouterr().err


def test_a_der_private_key_exits_2_with_one_line_not_a_traceback(tmp_path, capsys):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP384R1())
    der = tmp_path / "key.der"
    der.write_bytes(key.private_bytes(serialization.Encoding.DER,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    status = main(["check", "--server", SERVER, "--auth", "smart", "--client-id", "c",
                   "--key-id", "k", "--algorithm", "ES384", "--private-key-file", str(der)])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and "is not a PEM key" in err and str(der) in err


SECRET = "s3cr3t-token-in-a-next-link"


class _PagingServer:
    """A FHIR-ish server on 127.0.0.1 whose Claim search pages on by a next link carrying an
    access_token (some gateways put one there), and a bearer token it does not check."""

    def __init__(self) -> None:
        import http.server
        import json
        import threading

        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                base = f"http://127.0.0.1:{outer.port}/fhir"
                bundle = {"resourceType": "Bundle", "type": "searchset", "entry": []}
                if "access_token" not in self.path:
                    bundle["link"] = [{"relation": "next",
                                       "url": f"{base}/Claim?page=2&access_token={SECRET}"}]
                body = json.dumps(bundle).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.port}/fhir"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_verbose_logs_of_every_library_never_show_a_secret(tmp_path):
    import os
    import subprocess
    import sys

    with _PagingServer() as base:
        done = subprocess.run(
            [sys.executable, "-m", "adapter", "-v", "check", "--server", base, "--since",
             "2026-01-01", "--auth", "bearer", "--token-env", "B12_TEST_TOKEN", "--dry-run"],
            capture_output=True, text=True, timeout=60, cwd=tmp_path,
            env={**os.environ, "B12_TEST_TOKEN": "bearer-secret-value",
                 "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0, done.stderr
    third_party = [line for line in done.stderr.splitlines()
                   if line.startswith("DEBUG urllib3.connectionpool") and "page=2" in line]
    assert third_party  # urllib3's debug log printed the request line of the next link ...
    assert all("access_token=***" in line for line in third_party)  # ... redacted
    assert SECRET not in done.stderr and SECRET not in done.stdout
    assert "bearer-secret-value" not in done.stderr
