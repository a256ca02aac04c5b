"""Auth: basic, bearer, SMART Backend Services, refresh on 401, and secrets kept secret."""

from __future__ import annotations

import base64
import logging
from urllib.parse import parse_qs

import jwt
import pytest
import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from adapter.fhir import (
    AuthConfigError,
    BasicAuth,
    BearerTokenAuth,
    FhirAuthError,
    FhirServerError,
    NoAuth,
    SmartBackendAuth,
    auth_from_settings,
)
from tests.fhir.testkit import (
    BASE,
    CLAIM_SEARCH,
    CLAIM_URL,
    FakeTime,
    claim_page,
    make_client,
    outcome,
    read_claim,
)

DISCOVERY_URL = f"{BASE}/.well-known/smart-configuration"
TOKEN_URL = "https://auth.test/oauth2/token"
TOKEN = "eyJ-secret-access-token"


def private_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


def smart(key, fake: FakeTime, algorithm="RS384", token_url=None) -> SmartBackendAuth:
    return SmartBackendAuth(
        "b12-adapter",
        private_pem(key),
        "key-2026",
        algorithm,
        "system/*.read system/DetectedIssue.write",
        token_url,
        clock=fake.time,
    )


def token_response(token: str = TOKEN, expires_in: int = 300) -> dict:
    return {"access_token": token, "token_type": "bearer", "expires_in": expires_in}


def token_calls() -> list:
    return [c for c in responses.calls if c.request.url == TOKEN_URL]


def fhir_calls() -> list:
    return [c for c in responses.calls if c.request.url.startswith(BASE + "/Claim")]


@responses.activate
def test_basic_and_bearer_headers_are_sent():
    responses.get(CLAIM_URL, json=claim_page())

    read_claim(make_client(auth=BasicAuth("svc-b12", "pä55")))
    read_claim(make_client(auth=BearerTokenAuth(TOKEN)))
    read_claim(make_client(auth=NoAuth()))

    basic, bearer, none = (call.request.headers for call in responses.calls)
    assert basic["Authorization"] == "Basic " + base64.b64encode("svc-b12:pä55".encode()).decode()
    assert bearer["Authorization"] == f"Bearer {TOKEN}"
    assert "Authorization" not in none


@pytest.mark.parametrize(("algorithm", "key_fixture"), [("RS384", "rsa_key"), ("ES384", "ec_key")])
@responses.activate
def test_smart_token_exchange_discovers_the_endpoint_and_signs_a_proper_assertion(
    algorithm, key_fixture, request
):
    key = request.getfixturevalue(key_fixture)
    fake = FakeTime()
    responses.get(DISCOVERY_URL, json={"token_endpoint": TOKEN_URL})
    responses.post(TOKEN_URL, json=token_response())
    responses.get(CLAIM_URL, json=claim_page())

    read_claim(make_client(auth=smart(key, fake, algorithm)))

    discovery, token, fhir = responses.calls
    assert discovery.request.url == DISCOVERY_URL
    assert discovery.request.headers["Accept"] == "application/json"
    form = {name: values[0] for name, values in parse_qs(token.request.body).items()}
    assert form["grant_type"] == "client_credentials"
    assert form["scope"] == "system/*.read system/DetectedIssue.write"
    assert form["client_assertion_type"] == (
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    )
    assert "Authorization" not in token.request.headers
    assertion = form["client_assertion"]
    header = jwt.get_unverified_header(assertion)
    assert (header["alg"], header["kid"]) == (algorithm, "key-2026")
    claims = jwt.decode(assertion, key.public_key(), algorithms=[algorithm], audience=TOKEN_URL)
    assert claims["iss"] == claims["sub"] == "b12-adapter"
    assert claims["aud"] == TOKEN_URL
    assert 0 < claims["exp"] - fake.time() <= 300
    assert len(claims["jti"]) >= 16
    assert fhir.request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_each_assertion_has_a_fresh_jti(rsa_key):
    auth = smart(rsa_key, FakeTime())
    jtis = {
        jwt.decode(auth.assertion(TOKEN_URL), options={"verify_signature": False})["jti"]
        for _ in range(3)
    }
    assert len(jtis) == 3


@responses.activate
def test_a_given_token_url_skips_discovery(rsa_key):
    responses.post(TOKEN_URL, json=token_response())
    responses.get(CLAIM_URL, json=claim_page())

    read_claim(make_client(auth=smart(rsa_key, FakeTime(), token_url=TOKEN_URL)))

    assert [c.request.url for c in responses.calls] == [TOKEN_URL, CLAIM_SEARCH]


@responses.activate
def test_token_is_cached_across_requests_and_renewed_before_it_expires(rsa_key):
    fake = FakeTime()
    responses.post(TOKEN_URL, json=token_response("t1", expires_in=300))
    responses.post(TOKEN_URL, json=token_response("t2", expires_in=300))
    responses.get(CLAIM_URL, json=claim_page())
    client = make_client(auth=smart(rsa_key, fake, token_url=TOKEN_URL))

    read_claim(client)
    fake.advance(200)
    read_claim(client)
    assert len(token_calls()) == 1
    fake.advance(45)  # 245 s: within a minute of expiry
    read_claim(client)

    assert len(token_calls()) == 2
    used = [c.request.headers["Authorization"] for c in fhir_calls()]
    assert used == ["Bearer t1", "Bearer t1", "Bearer t2"]


@responses.activate
def test_401_refreshes_the_token_once_and_retries_the_request(rsa_key):
    responses.post(TOKEN_URL, json=token_response("t1"))
    responses.post(TOKEN_URL, json=token_response("t2"))
    responses.get(CLAIM_URL, status=401)
    responses.get(CLAIM_URL, json=claim_page())
    client = make_client(auth=smart(rsa_key, FakeTime(), token_url=TOKEN_URL))

    assert read_claim(client)["id"] == "k1"

    used = [c.request.headers["Authorization"] for c in fhir_calls()]
    assert used == ["Bearer t1", "Bearer t2"]
    assert len(token_calls()) == 2


@responses.activate
def test_401_after_a_refresh_is_an_auth_error(rsa_key):
    responses.post(TOKEN_URL, json=token_response())
    responses.get(CLAIM_URL, status=401, json=outcome("token rejected"))

    with pytest.raises(FhirAuthError) as raised:
        read_claim(make_client(auth=smart(rsa_key, FakeTime(), token_url=TOKEN_URL)))

    assert (raised.value.status, raised.value.outcome) == (401, "token rejected")
    assert len(fhir_calls()) == 2
    assert len(token_calls()) == 2


@pytest.mark.parametrize("status", [401, 403])
@responses.activate
def test_a_fixed_token_that_is_refused_fails_at_once(status):
    responses.get(CLAIM_URL, status=status)

    with pytest.raises(FhirAuthError):
        read_claim(make_client(auth=BearerTokenAuth(TOKEN)))
    assert len(responses.calls) == 1


@responses.activate
def test_a_refusing_token_endpoint_is_an_auth_error_with_the_oauth_error(rsa_key):
    responses.post(
        TOKEN_URL,
        status=400,
        json={"error": "invalid_client", "error_description": "unknown kid"},
    )

    with pytest.raises(FhirAuthError) as raised:
        read_claim(make_client(auth=smart(rsa_key, FakeTime(), token_url=TOKEN_URL)))

    assert str(raised.value) == f"POST {TOKEN_URL} -> 400: invalid_client: unknown kid"
    assert fhir_calls() == []


@responses.activate
def test_a_server_without_smart_configuration_is_an_auth_error(rsa_key):
    responses.get(DISCOVERY_URL, status=404)

    with pytest.raises(FhirAuthError, match="smart-configuration -> 404"):
        read_claim(make_client(auth=smart(rsa_key, FakeTime())))


@responses.activate
def test_secrets_never_reach_logs_errors_or_reprs(caplog, rsa_key):
    caplog.set_level(logging.DEBUG)
    responses.get(CLAIM_URL, status=401, json=outcome("expired"))
    bearer = BearerTokenAuth(TOKEN)
    client = make_client(auth=bearer)

    with pytest.raises(FhirAuthError) as raised:
        read_claim(client)

    responses.post(TOKEN_URL, json=token_response("smart-secret-token"))
    responses.replace(responses.GET, CLAIM_URL, json=claim_page())
    smart_auth = smart(rsa_key, FakeTime(), token_url=TOKEN_URL)
    read_claim(make_client(auth=smart_auth))
    assertion = parse_qs(token_calls()[0].request.body)["client_assertion"][0]
    basic = BasicAuth("svc-b12", "hunter2")

    assert caplog.records, "the client should have logged its requests"
    exposed = [
        caplog.text,
        str(raised.value),
        repr(raised.value),
        repr(client),
        repr(bearer),
        repr(smart_auth),
        repr(basic),
    ]
    for secret in (TOKEN, "smart-secret-token", assertion, "hunter2", "PRIVATE KEY"):
        assert all(secret not in text for text in exposed), secret
    assert repr(basic) == "BasicAuth(username='svc-b12', password=***)"


def test_smart_rejects_a_key_that_does_not_fit_the_algorithm(rsa_key, ec_key):
    with pytest.raises(AuthConfigError, match="ES384"):
        SmartBackendAuth("c", private_pem(rsa_key), "k", "ES384")
    with pytest.raises(AuthConfigError, match="RS384"):
        SmartBackendAuth("c", private_pem(ec_key), "k", "RS384")
    with pytest.raises(AuthConfigError, match="PEM"):
        SmartBackendAuth("c", "not a key", "k", "RS384")


# auth_from_settings: what a CLI or config file hands over


def authorization(auth) -> str:
    return auth(requests.Request("GET", CLAIM_URL).prepare()).headers["Authorization"]


def test_settings_none_and_basic_and_bearer_from_env_or_file(tmp_path):
    secret_file = tmp_path / "token"
    secret_file.write_text(TOKEN + "\n")
    environ = {"FHIR_PASSWORD": "hunter2", "FHIR_TOKEN": TOKEN}

    assert isinstance(auth_from_settings("none"), NoAuth)
    basic = auth_from_settings(
        "basic", username="svc", password_env="FHIR_PASSWORD", environ=environ
    )
    from_env = auth_from_settings("bearer", token_env="FHIR_TOKEN", environ=environ)
    from_file = auth_from_settings("bearer", token_file=secret_file, environ={})

    assert isinstance(basic, BasicAuth)
    assert authorization(basic) == "Basic " + base64.b64encode(b"svc:hunter2").decode()
    assert authorization(from_env) == authorization(from_file) == f"Bearer {TOKEN}"


def test_settings_smart_reads_the_key_file(tmp_path, ec_key):
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(private_pem(ec_key))

    auth = auth_from_settings(
        "smart",
        client_id="b12-adapter",
        private_key_file=key_file,
        key_id="k1",
        algorithm="ES384",
        token_url=TOKEN_URL,
    )

    assert isinstance(auth, SmartBackendAuth)
    assert (auth.client_id, auth.key_id, auth.algorithm, auth.token_url) == (
        "b12-adapter",
        "k1",
        "ES384",
        TOKEN_URL,
    )
    assert auth.scope == "system/*.read system/DetectedIssue.write"


@pytest.mark.parametrize(
    ("kind", "settings", "message"),
    [
        ("kerberos", {}, "unknown auth kind"),
        ("basic", {"password_env": "P"}, "needs a username"),
        ("basic", {"username": "u"}, "environment variable or a file"),
        ("basic", {"username": "u", "password_env": "MISSING"}, "MISSING"),
        ("bearer", {"token_env": "T", "token_file": "/x"}, "not both"),
        ("bearer", {"token_file": "/nonexistent/token"}, "cannot read token file"),
        ("smart", {"private_key_file": "/k", "key_id": "k"}, "client id"),
        ("smart", {"client_id": "c", "key_id": "k"}, "private key file"),
        ("smart", {"client_id": "c", "private_key_file": "/k"}, "key id"),
        (
            "smart",
            {"client_id": "c", "private_key_file": "/k", "key_id": "k", "algorithm": "HS256"},
            "unsupported algorithm",
        ),
    ],
)
def test_settings_errors_say_what_is_missing(kind, settings, message):
    with pytest.raises(AuthConfigError, match=message) as raised:
        auth_from_settings(kind, environ={"P": "hunter2", "T": TOKEN}, **settings)
    assert isinstance(raised.value, ValueError)
    assert "hunter2" not in str(raised.value) and TOKEN not in str(raised.value)


def test_settings_reject_an_empty_secret_file(tmp_path):
    empty = tmp_path / "token"
    empty.write_text("\n")
    with pytest.raises(AuthConfigError, match="is empty"):
        auth_from_settings("bearer", token_file=empty)


@responses.activate
def test_a_rate_limited_token_endpoint_is_retried_with_a_fresh_assertion(rsa_key):
    fake = FakeTime()
    responses.post(TOKEN_URL, status=429, headers={"Retry-After": "3"})
    responses.post(TOKEN_URL, status=503)
    responses.post(TOKEN_URL, json=token_response())
    responses.get(CLAIM_URL, json=claim_page())
    client = make_client(fake, auth=smart(rsa_key, fake, token_url=TOKEN_URL))

    assert read_claim(client)["id"] == "k1"

    assert [c.request.url for c in responses.calls] == [TOKEN_URL] * 3 + [CLAIM_SEARCH]
    assert fake.sleeps == [3.0, 2.0]  # Retry-After, then the policy's backoff
    jtis = {jwt.decode(parse_qs(c.request.body)["client_assertion"][0],
                       options={"verify_signature": False})["jti"] for c in token_calls()}
    assert len(jtis) == 3  # an assertion is never sent twice
    assert client.stats.by_type["auth"] == 3


@responses.activate
def test_a_token_endpoint_that_stays_unavailable_is_a_temporary_failure(rsa_key):
    fake = FakeTime()
    responses.post(TOKEN_URL, status=503, json=outcome("maintenance"))
    client = make_client(fake, auth=smart(rsa_key, fake, token_url=TOKEN_URL))

    with pytest.raises(FhirServerError, match="503: maintenance"):
        read_claim(client)
    assert len(token_calls()) == 5 and not fhir_calls()


def _key_file(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _smart_settings(key_file) -> dict:
    return {"client_id": "c", "private_key_file": key_file, "key_id": "k"}


def test_a_binary_der_key_file_is_a_settings_error_naming_the_file(tmp_path, rsa_key):
    der = rsa_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    key_file = _key_file(tmp_path, "key.der", der)

    with pytest.raises(AuthConfigError, match="is not a PEM key") as raised:
        auth_from_settings("smart", **_smart_settings(key_file))
    assert str(key_file) in str(raised.value) and "openssl pkey -inform DER" in str(raised.value)


@pytest.mark.parametrize("data", [
    b"-----BEGIN PRIVATE KEY-----\n\xff\xfe\x00garbage\n-----END PRIVATE KEY-----\n",
    b"-----BEGIN PRIVATE KEY-----\n" + base64.encodebytes(b"\x30\x03\x02\x01\x00")
    + b"-----END PRIVATE KEY-----\n",
], ids=["binary-inside-pem", "not-a-key"])
def test_a_pem_file_holding_no_usable_key_is_a_settings_error(tmp_path, data):
    with pytest.raises(AuthConfigError, match="private key"):
        auth_from_settings("smart", **_smart_settings(_key_file(tmp_path, "key.pem", data)))


def test_an_encrypted_pem_key_is_a_settings_error(tmp_path, rsa_key):
    encrypted = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"))
    with pytest.raises(AuthConfigError, match="not an unencrypted PEM key"):
        auth_from_settings("smart", **_smart_settings(_key_file(tmp_path, "key.pem", encrypted)))


def test_an_unreadable_key_path_is_a_settings_error(tmp_path):
    with pytest.raises(AuthConfigError, match="cannot read private key file"):
        auth_from_settings("smart", **_smart_settings(tmp_path))  # a directory


def test_a_binary_token_file_is_a_settings_error(tmp_path):
    token_file = _key_file(tmp_path, "token", b"\xff\xfe\x00\x01")
    with pytest.raises(AuthConfigError, match="not UTF-8 text"):
        auth_from_settings("bearer", token_file=token_file, environ={})
