"""What a browser and a real CDS client need, over HTTP: CORS (preflight included), the CDS
client's signed JWT (trusted issuers and their JWKS URLs, aud, exp, jti replay), the static
token still accepted, a concurrency limit answering 429 with Retry-After, a body-read timeout
answering 408."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec

from tests.scenario import clean_chart
from tests.service.conftest import TOKEN, Client, bundle
from tests.service.test_cds_hooks import BACKED, order, request
from tests.service_process import Service, running_service

ISSUER = "https://ehr.example.org"
ORIGIN = "https://sandbox.cds-hooks.org"
SIGN = "/cds-services/b12-injection"


class Keys:
    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP384R1())
        self.kid = "ehr-key-1"
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.private.public_key()))
        self.jwks = {"keys": [{**jwk, "kid": self.kid, "alg": "ES384", "use": "sig"}]}

    def token(self, aud: str, **claims) -> str:
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": aud, "exp": now + 120, "iat": now,
                   "jti": str(uuid.uuid4()), "sub": "client-1", **claims}
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, self.private, algorithm="ES384",
                          headers={"kid": self.kid, "typ": "JWT"})


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


@pytest.fixture(scope="module")
def jwks_url(keys: Keys) -> Iterator[str]:
    body = json.dumps(keys.jwks).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    server.shutdown()


@pytest.fixture(scope="module")
def guarded(jwks_url: str) -> Iterator[Service]:
    with running_service("--api-token-env", "B12_TEST_API_TOKEN",
                         "--cds-issuer", f"{ISSUER}={jwks_url}", "--cors-origin", ORIGIN,
                         "--max-concurrent", "1", "--body-timeout", "1",
                         env={"B12_TEST_API_TOKEN": TOKEN}) as running:
        yield running


def _call(service: Service, token: str | None, body: dict | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(service.url + SIGN, json=body or request(order(), chart=BACKED),
                         headers=headers, timeout=30)


def test_a_cds_clients_signed_jwt_is_accepted_once(guarded, keys):
    token = keys.token(guarded.url + SIGN)

    first = _call(guarded, token)

    assert first.status_code == 200, first.text
    assert first.json()["cards"] == []
    replay = _call(guarded, token)
    assert replay.status_code == 401
    assert "already used" in replay.json()["issue"][0]["diagnostics"]


def test_a_jwt_is_refused_for_the_wrong_audience_issuer_expiry_or_key(guarded, keys):
    refused = {
        "aud": keys.token("https://elsewhere.example.org/cds-services/b12-injection"),
        "issuer": keys.token(guarded.url + SIGN, iss="https://stranger.example.org"),
        "expired": keys.token(guarded.url + SIGN, exp=int(time.time()) - 600),
        "no jti": keys.token(guarded.url + SIGN, jti=None),
        "too long": keys.token(guarded.url + SIGN, exp=int(time.time()) + 3600),
        "key": Keys().token(guarded.url + SIGN),
    }
    for why, token in refused.items():
        response = _call(guarded, token)
        assert response.status_code == 401, why
        assert response.json()["resourceType"] == "OperationOutcome"
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert _call(guarded, None).status_code == 401


def test_the_discovery_base_is_an_accepted_audience_and_the_static_token_still_works(
        guarded, keys):
    assert _call(guarded, keys.token(guarded.url + "/cds-services")).status_code == 200
    assert _call(guarded, TOKEN).status_code == 200
    # a JWT is for CDS Hooks only: the other endpoints keep the static token
    response = requests.post(guarded.url + "/Claim/$b12-check", json=bundle(*clean_chart()),
                             headers={"Authorization": f"Bearer {keys.token(guarded.url)}"},
                             timeout=30)
    assert response.status_code == 401


def test_cors_preflight_and_answers_for_allowed_origins_only(guarded):
    preflight = requests.options(guarded.url + SIGN, timeout=10, headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})

    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()

    answer = requests.get(guarded.url + "/cds-services", timeout=10,
                          headers={"Origin": ORIGIN, "Authorization": f"Bearer {TOKEN}"})
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    refused = requests.get(guarded.url + "/cds-services", timeout=10,
                           headers={"Origin": ORIGIN})  # a 401 a browser can read
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == ORIGIN

    other = requests.options(guarded.url + SIGN, timeout=10, headers={
        "Origin": "https://evil.example.org", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in other.headers


def _slow_request(service: Service, holding: float) -> tuple[int, dict]:
    """Send headers and half a body, then nothing: the service's answer (status, body)."""
    host, port = service.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"POST /Claim/$b12-check HTTP/1.1\r\nHost: x\r\n"
                     + f"Authorization: Bearer {TOKEN}\r\n".encode()
                     + b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                     + b'{"resourceType": ')
        time.sleep(holding)
        received = b""
        while b"\r\n\r\n" not in received or not received.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_a_slow_body_is_408_and_holds_the_only_slot_meanwhile(guarded):
    client = Client(guarded)
    outcome: dict[str, tuple[int, dict]] = {}
    thread = threading.Thread(target=lambda: outcome.update(slow=_slow_request(guarded, 0.1)))
    thread.start()
    time.sleep(0.5)
    busy = client.post("/Claim/$b12-check", json=bundle(*clean_chart()))
    assert client.get("/ready").status_code == 200  # probes are never refused
    thread.join(30)

    assert busy.status_code == 429
    assert busy.headers["retry-after"] == "1"
    assert busy.json()["issue"][0]["code"] == "throttled"
    status, body = outcome["slow"]
    assert status == 408
    assert "--body-timeout" in body["issue"][0]["diagnostics"]
    assert client.post("/Claim/$b12-check", json=bundle(*clean_chart())).status_code == 200
