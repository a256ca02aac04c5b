"""Issue 25: OAuth2 client_credentials with a client secret (Medplum, Azure, Google), and the
SMART scope derived from what each command reads and writes, a 403 naming the scope a token
lacks."""

from __future__ import annotations

import base64
import logging
from urllib.parse import parse_qs

import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from adapter.cli import _default_scope, _parser, main
from adapter.evidence.kinds import CHART_TYPES
from adapter.fhir import AuthConfigError, ClientSecretAuth, FhirAuthError, auth_from_settings
from adapter.fhir.client import FhirClient
from adapter.scopes import default_scope, read_types
from adapter.sources import CLAIM_TYPES
from tests.fhir.testkit import (
    BASE,
    CLAIM_URL,
    FakeTime,
    claim_page,
    make_client,
    read_claim,
    searchset,
)

TOKEN_URL = "https://auth.test/oauth2/token"
SECRET = "s3cr3t/with+chars"


def _token(token: str, expires_in: int = 3600) -> dict:
    return {"access_token": token, "token_type": "Bearer", "expires_in": expires_in}


def _token_calls() -> list:
    return [c for c in responses.calls if c.request.url == TOKEN_URL]


@responses.activate
def test_client_secret_basic_sends_the_secret_in_a_basic_header_only():
    responses.post(TOKEN_URL, json=_token("t1"))
    responses.get(CLAIM_URL, json=claim_page())
    auth = ClientSecretAuth("b12-client", SECRET, "basic", "system/Claim.read", TOKEN_URL)
    read_claim(make_client(auth=auth))
    request = _token_calls()[0].request
    form = parse_qs(request.body)
    assert form == {"grant_type": ["client_credentials"], "scope": ["system/Claim.read"]}
    scheme, encoded = request.headers["Authorization"].split()
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode() == "b12-client:s3cr3t%2Fwith%2Bchars"
    fhir = [c for c in responses.calls if c.request.url.startswith(BASE)]
    assert fhir[0].request.headers["Authorization"] == "Bearer t1"


@responses.activate
def test_client_secret_post_sends_the_secret_in_the_form():
    responses.post(TOKEN_URL, json=_token("t1"))
    responses.get(CLAIM_URL, json=claim_page())
    auth = ClientSecretAuth("b12-client", SECRET, "post", "system/Claim.read", TOKEN_URL)
    read_claim(make_client(auth=auth))
    request = _token_calls()[0].request
    form = parse_qs(request.body)
    assert form["client_id"] == ["b12-client"] and form["client_secret"] == [SECRET]
    assert "Authorization" not in request.headers


@responses.activate
def test_an_hour_long_token_is_renewed_before_it_expires_and_discovered_once():
    fake = FakeTime()
    responses.get(f"{BASE}/.well-known/smart-configuration", json={"token_endpoint": TOKEN_URL})
    responses.post(TOKEN_URL, json=_token("t1"))
    responses.post(TOKEN_URL, json=_token("t2"))
    responses.get(CLAIM_URL, json=claim_page())
    client = make_client(fake, auth=ClientSecretAuth("c", SECRET, clock=fake.time))
    read_claim(client)
    fake.advance(3550)  # within the last minute of the hour
    read_claim(client)
    used = [c.request.headers["Authorization"] for c in responses.calls
            if c.request.url.startswith(BASE + "/Claim")]
    assert used == ["Bearer t1", "Bearer t2"]
    assert len(_token_calls()) == 2


@responses.activate
def test_a_rate_limited_token_endpoint_is_retried_through_the_same_transport():
    fake = FakeTime()
    responses.post(TOKEN_URL, status=429, headers={"Retry-After": "3"})
    responses.post(TOKEN_URL, json=_token("t1"))
    responses.get(CLAIM_URL, json=claim_page())
    read_claim(make_client(fake, auth=ClientSecretAuth("c", SECRET, token_url=TOKEN_URL,
                                                       clock=fake.time)))
    assert fake.sleeps == [3.0] and len(_token_calls()) == 2


@responses.activate
def test_the_secret_never_reaches_a_repr_or_a_log(caplog):
    caplog.set_level(logging.DEBUG)
    responses.post(TOKEN_URL, status=401, json={"error": "invalid_client"})
    auth = ClientSecretAuth("c", SECRET, token_url=TOKEN_URL)
    with pytest.raises(FhirAuthError) as raised:
        read_claim(make_client(auth=auth))
    assert "invalid_client" in str(raised.value)
    for text in (repr(auth), str(raised.value), caplog.text):
        assert SECRET not in text


def test_settings_read_the_secret_from_env_or_file_never_argv(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    by_file = auth_from_settings("client-secret", client_id="c", client_secret_file=secret_file)
    by_env = auth_from_settings("client-secret", client_id="c", client_secret_env="S",
                                token_auth_method="post", environ={"S": SECRET})
    assert isinstance(by_file, ClientSecretAuth) and by_file.method == "basic"
    assert isinstance(by_env, ClientSecretAuth) and by_env.method == "post"
    with pytest.raises(AuthConfigError, match="environment variable or a file"):
        auth_from_settings("client-secret", client_id="c")
    with pytest.raises(AuthConfigError, match="client id"):
        auth_from_settings("client-secret", client_secret_env="S", environ={"S": SECRET})
    options = {a.dest for a in _parser()._subparsers._group_actions[0].choices["check"]._actions}
    assert {"client_secret_env", "client_secret_file"} <= options
    assert "client_secret" not in options


def test_the_default_scope_covers_every_type_the_checks_read():
    scope = set(default_scope().split())
    for rtype in CHART_TYPES | CLAIM_TYPES:
        assert f"system/{rtype}.read" in scope
    for rtype in ("MedicationRequest", "MedicationStatement", "Procedure", "Medication",
                  "ExplanationOfBenefit", "DetectedIssue"):
        assert f"system/{rtype}.read" in scope
    assert "system/DetectedIssue.write" in scope
    assert [s for s in scope if s.endswith(".write")] == ["system/DetectedIssue.write"]
    assert _scope_asked("check", "--server", "http://x/fhir") == default_scope()
    assert len(read_types()) == len(set(read_types()))


def _scope_asked(*argv: str) -> str | None:
    """The --scope a command line asks its token for (given, else the command's default)."""
    args = _parser().parse_args(argv)
    _default_scope(args)
    return args.scope


def test_each_command_asks_for_the_scope_of_what_it_does():
    server = ("--server", "http://x/fhir")
    for command in ("check", "sync", "serve"):
        state = ("--state", "s.json") if command == "sync" else ()
        writing = set(_scope_asked(command, *server, *state).split())
        reading = set(_scope_asked(command, *server, *state, "--dry-run").split())
        assert "system/DetectedIssue.write" in writing, command
        # a dry run writes nothing: it reads the earlier issues to show the writes, no more
        assert [s for s in reading if not s.endswith(".read")] == [], command
        assert reading == writing - {"system/DetectedIssue.write"}, command
        assert "system/DetectedIssue.read" in reading and "system/Claim.read" in reading
    audit = _scope_asked("audit", *server, "-o", "a.html")
    assert ".write" not in audit and "DetectedIssue" not in audit
    assert _scope_asked("check", *server, "--dry-run", "--scope", "system/*.read") \
        == "system/*.read"  # one given is used as given
    assert _scope_asked("check", "--source", "x") is None  # a file source asks for nothing


@responses.activate
def test_a_403_on_one_type_names_the_scope_it_lacks():
    responses.post(TOKEN_URL, json=_token("t1"))
    responses.get(f"{BASE}/Procedure", status=403, json={
        "resourceType": "OperationOutcome", "issue": [{"diagnostics": "Forbidden"}]})
    client = make_client(auth=ClientSecretAuth("c", SECRET, token_url=TOKEN_URL))
    with pytest.raises(FhirAuthError) as raised:
        next(iter(client.search("Procedure", patient="Patient/p1")), None)
    assert "Forbidden; the token's scope may lack system/Procedure.read" in str(raised.value)


@responses.activate
def test_a_403_without_a_scoped_token_gets_no_scope_hint():
    responses.get(f"{BASE}/Procedure", status=403)
    with pytest.raises(FhirAuthError) as raised:
        next(iter(FhirClient(BASE).search("Procedure")), None)
    assert "scope" not in str(raised.value)


def test_audit_asks_only_to_read_and_each_command_s_help_says_its_own_default(capsys):
    parsed_scope = _scope_asked

    audit = parsed_scope("audit", "--server", "http://x/fhir", "-o", "audit.html")
    assert audit == default_scope(writes=False) and ".write" not in audit
    assert "system/Claim.read" in audit.split() and "system/Practitioner.read" in audit.split()
    check = parsed_scope("check", "--server", "http://x/fhir")
    assert "system/DetectedIssue.write" in check.split()
    assert parsed_scope("load", "-s", "x", "--server", "http://x/fhir") is None  # the source's

    def scope_help(command: str) -> str:
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = " ".join(capsys.readouterr().out.split())
        return out[out.index("--scope SCOPE token"):out.index("--token-url TOKEN_URL token")]

    assert "audit reads; it writes nothing" in scope_help("audit")
    assert "DetectedIssue.write" not in scope_help("audit")
    for command in ("check", "sync", "serve"):
        assert "system/DetectedIssue.write" in scope_help(command)
    assert "system/X.write for every type the source holds" in scope_help("load")


def _smart_options(tmp_path) -> list[str]:
    key = tmp_path / "key.pem"
    key.write_bytes(ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return ["--server", BASE, "--auth", "smart", "--client-id", "b12-audit", "--key-id", "k",
            "--private-key-file", str(key), "--algorithm", "ES384", "--token-url", TOKEN_URL,
            "--retry-budget", "0"]


@responses.activate
def test_an_audit_run_asks_the_smart_token_endpoint_for_reads_only(tmp_path, capsys):
    responses.post(TOKEN_URL, json=_token("t1"))
    for claims in (CLAIM_URL, f"{BASE}/ExplanationOfBenefit"):
        responses.get(claims, json=searchset())  # none: the page says so
    out = tmp_path / "audit.html"

    assert main(["audit", *_smart_options(tmp_path), "--since", "2026-01-01", "-o", str(out)]) == 0

    form = parse_qs(_token_calls()[0].request.body)
    assert form["scope"] == [default_scope(writes=False)] and out.exists()
    assert "system/DetectedIssue" not in form["scope"][0]  # no earlier issues read either


@responses.activate
def test_load_asks_to_write_the_types_it_uploads(tmp_path, capsys):
    responses.post(TOKEN_URL, json=_token("t1"))
    responses.post(BASE, status=400)  # the upload itself is not what is tested here
    source = tmp_path / "Patient.ndjson"
    source.write_text('{"resourceType": "Patient", "id": "p1"}\n')

    main(["load", *_smart_options(tmp_path), "--source", str(source), "--keep-ids"])

    form = parse_qs(_token_calls()[0].request.body)
    assert form["scope"] == ["system/Patient.read system/Patient.write"]
