"""Credentials for a FHIR server: none, HTTP basic, a bearer token, SMART Backend Services, or
OAuth2 client_credentials with a client secret.

Each is a `requests` auth object the client attaches to every request. Secrets are read from
files or environment variables (never argv), and never appear in a repr, a log line or an
error message. Token requests go through the client's own transport (``bind``), so they are
timed out, counted and retried (429, 5xx, dropped connections) like every other request.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import quote_plus

import jwt
import requests
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from requests.auth import AuthBase

from adapter.fhir.errors import AuthConfigError, FhirAuthError, FhirServerError, response_outcome

logger = logging.getLogger("adapter.fhir")

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DEFAULT_SCOPE = "system/*.read system/DetectedIssue.write"
ASSERTION_LIFETIME_SECONDS = 300  # SMART Backend Services: exp no more than 5 minutes ahead
TOKEN_REFRESH_MARGIN_SECONDS = 60.0
DEFAULT_TOKEN_LIFETIME_SECONDS = 300
Algorithm = Literal["RS384", "ES384"]
SecretMethod = Literal["basic", "post"]


class AuthSender(Protocol):
    """The client's transport for token-side requests: sends ``method url`` with the form
    ``form()`` builds (called anew for each attempt: an assertion is used once), with the
    client's timeouts and retry policy, and returns the final response."""

    def __call__(self, method: str, url: str,
                 form: Callable[[], Mapping[str, str]] | None,
                 headers: Mapping[str, str] | None = None) -> requests.Response: ...


class Auth(AuthBase):
    """Base of all auth: adds credentials per request; the client binds it to its session."""

    scoped = False  # its token carries OAuth scopes (a 403 may mean a scope is missing)

    def bind(self, send: AuthSender, base_url: str) -> None:
        """Learn the client's transport and base URL (for token requests)."""

    def refresh(self) -> bool:
        """Drop cached credentials after a 401; True when a new attempt could succeed."""
        return False

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


class NoAuth(Auth):
    """An open server (a local HAPI sandbox)."""

    def __repr__(self) -> str:
        return "NoAuth()"


class BasicAuth(Auth):
    """HTTP basic auth, for servers behind a simple gateway."""

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        credentials = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self._header = f"Basic {credentials}"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self._header
        return request

    def __repr__(self) -> str:
        return f"BasicAuth(username={self.username!r}, password=***)"


class BearerTokenAuth(Auth):
    """A fixed bearer token obtained elsewhere; it cannot be refreshed here."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "BearerTokenAuth(token=***)"


class _TokenAuth(Auth):
    """OAuth2 client_credentials: a token from the server's token endpoint (from
    `{base}/.well-known/smart-configuration` unless given), cached until shortly before it
    expires (renewed then, so an hour-long token never lapses mid-run) and dropped on a 401.
    Subclasses say how the client proves who it is (``_grant``)."""

    scoped = True

    def __init__(self, scope: str, token_url: str | None,
                 clock: Callable[[], float]) -> None:
        self.scope = scope
        self.token_url = token_url
        self._clock = clock
        self._send: AuthSender | None = None
        self._base_url: str | None = None
        self._token: str | None = None
        self._token_valid_until = 0.0

    def _grant(self, token_url: str) -> dict[str, str]:
        """The form of one token request, made anew for each attempt (an assertion is used
        once)."""
        raise NotImplementedError

    def bind(self, send: AuthSender, base_url: str) -> None:
        self._send, self._base_url = send, base_url

    def refresh(self) -> bool:
        self._token = None
        self._token_valid_until = 0.0
        return True

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.access_token()}"
        return request

    def access_token(self) -> str:
        """The cached token, or a new one when none is cached or it is about to expire."""
        if self._token is None or self._clock() >= self._token_valid_until:
            self._token, self._token_valid_until = self._request_token()
        return self._token

    def _endpoint(self) -> str:
        if self.token_url:
            return self.token_url
        if not self._base_url:
            raise AuthConfigError("token auth needs a token URL or a bound FHIR base URL")
        url = f"{self._base_url}/.well-known/smart-configuration"
        response = self._post_or_get("GET", url)
        try:
            endpoint = response.json().get("token_endpoint")
        except (ValueError, AttributeError):
            endpoint = None
        if not isinstance(endpoint, str) or not endpoint:
            raise FhirAuthError("GET", url, response.status_code, "no token_endpoint advertised")
        self.token_url = endpoint
        return endpoint

    def _request_token(self) -> tuple[str, float]:
        token_url = self._endpoint()

        def form() -> dict[str, str]:
            return self._grant(token_url)

        obtained = self._clock()
        response = self._post_or_get("POST", token_url, form, self._grant_headers())
        try:
            body = response.json()
        except ValueError:
            body = None
        token = body.get("access_token") if isinstance(body, dict) else None
        token_type = str(body.get("token_type", "bearer")) if isinstance(body, dict) else ""
        if not isinstance(token, str) or not token or token_type.lower() != "bearer":
            raise FhirAuthError("POST", token_url, response.status_code, "no bearer access_token")
        lifetime = _positive_number(body.get("expires_in"), DEFAULT_TOKEN_LIFETIME_SECONDS)
        margin = min(TOKEN_REFRESH_MARGIN_SECONDS, lifetime / 2)
        logger.debug("obtained an access token valid for %.0f s", lifetime)
        return token, obtained + lifetime - margin

    def _grant_headers(self) -> dict[str, str] | None:
        """Headers of the token request (the same for each attempt), if any."""
        return None

    def _post_or_get(
        self, method: str, url: str, form: Callable[[], Mapping[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """A token-side request through the client; failures become FhirAuthError (refused)
        or FhirServerError (temporary, after the client's retries)."""
        if self._send is None:
            raise AuthConfigError("token auth must be bound to a FhirClient")
        response = self._send(method, url, form, headers) if headers else \
            self._send(method, url, form)
        if response.status_code == 429 or response.status_code >= 500:
            raise FhirServerError(method, url, response.status_code, _oauth_error(response))
        if not response.ok:
            raise FhirAuthError(method, url, response.status_code, _oauth_error(response))
        return response


class SmartBackendAuth(_TokenAuth):
    """SMART Backend Services: client_credentials grant with a private_key_jwt assertion."""

    def __init__(
        self,
        client_id: str,
        private_key_pem: str | bytes,
        key_id: str,
        algorithm: Algorithm = "RS384",
        scope: str = DEFAULT_SCOPE,
        token_url: str | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not client_id:
            raise AuthConfigError("SMART backend auth needs a client id")
        if not key_id:
            raise AuthConfigError("SMART backend auth needs a key id (the JWKS 'kid')")
        super().__init__(scope, token_url, clock)
        self.client_id = client_id
        self.key_id = key_id
        self.algorithm = algorithm
        self._key = _load_signing_key(private_key_pem, algorithm)

    def __repr__(self) -> str:
        return (
            f"SmartBackendAuth(client_id={self.client_id!r}, key_id={self.key_id!r}, "
            f"algorithm={self.algorithm!r}, scope={self.scope!r}, token_url={self.token_url!r})"
        )

    def assertion(self, token_url: str) -> str:
        """A fresh signed JWT that proves who we are to `token_url` (unique jti each time)."""
        now = int(self._clock())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": token_url,
            "exp": now + ASSERTION_LIFETIME_SECONDS,
            "iat": now,
            "jti": secrets.token_hex(16),
        }
        return jwt.encode(
            claims, self._key, algorithm=self.algorithm, headers={"kid": self.key_id, "typ": "JWT"}
        )

    def _grant(self, token_url: str) -> dict[str, str]:
        return {
            "grant_type": "client_credentials",
            "scope": self.scope,
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": self.assertion(token_url),
        }


class ClientSecretAuth(_TokenAuth):
    """OAuth2 client_credentials with a client secret, as Medplum, Azure, Google and most
    servers give it: ``client_secret_basic`` (the id and secret in an HTTP basic header, the
    default) or ``client_secret_post`` (in the form)."""

    def __init__(self, client_id: str, client_secret: str, method: SecretMethod = "basic",
                 scope: str = DEFAULT_SCOPE, token_url: str | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        if not client_id:
            raise AuthConfigError("client-secret auth needs a client id")
        if not client_secret:
            raise AuthConfigError("client-secret auth needs a client secret")
        if method not in ("basic", "post"):
            raise AuthConfigError(f"unknown token auth method {method!r}; use basic or post")
        super().__init__(scope, token_url, clock)
        self.client_id = client_id
        self.method = method
        self._secret = client_secret

    def __repr__(self) -> str:
        return (f"ClientSecretAuth(client_id={self.client_id!r}, secret=***, "
                f"method={self.method!r}, scope={self.scope!r}, token_url={self.token_url!r})")

    def _grant(self, token_url: str) -> dict[str, str]:
        form = {"grant_type": "client_credentials", "scope": self.scope}
        if self.method == "post":
            form |= {"client_id": self.client_id, "client_secret": self._secret}
        return form

    def _grant_headers(self) -> dict[str, str] | None:
        if self.method != "basic":
            return None
        # RFC 6749 2.3.1: each part form-urlencoded before the basic encoding
        pair = f"{quote_plus(self.client_id)}:{quote_plus(self._secret)}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode("ascii")}


def _oauth_error(response: requests.Response) -> str:
    """The OAuth `error: error_description` of a token response, else what the server said."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        description = body.get("error_description")
        return f"{body['error']}: {description}" if description else body["error"]
    return response_outcome(response)


def _positive_number(value: object, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return default


def _load_signing_key(
    pem: str | bytes, algorithm: str
) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    """Parse the PEM now, so a wrong key fails at startup rather than at the first request."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise AuthConfigError(f"private key is not an unencrypted PEM key ({exc})") from None
    if algorithm == "RS384" and isinstance(key, rsa.RSAPrivateKey):
        return key
    if (
        algorithm == "ES384"
        and isinstance(key, ec.EllipticCurvePrivateKey)
        and isinstance(key.curve, ec.SECP384R1)
    ):
        return key
    raise AuthConfigError(
        f"private key does not fit algorithm {algorithm!r} (RS384: RSA, ES384: P-384)"
    )


def auth_from_settings(
    kind: str,
    *,
    username: str | None = None,
    password_env: str | None = None,
    password_file: str | os.PathLike[str] | None = None,
    token_env: str | None = None,
    token_file: str | os.PathLike[str] | None = None,
    client_id: str | None = None,
    private_key_file: str | os.PathLike[str] | None = None,
    key_id: str | None = None,
    algorithm: str = "RS384",
    scope: str = DEFAULT_SCOPE,
    token_url: str | None = None,
    client_secret_env: str | None = None,
    client_secret_file: str | os.PathLike[str] | None = None,
    token_auth_method: str = "basic",
    environ: Mapping[str, str] = os.environ,
) -> Auth:
    """Build auth from CLI/config settings; secrets come only from env vars or files."""
    kind = kind.strip().lower()
    if kind == "none":
        return NoAuth()
    if kind == "basic":
        if not username:
            raise AuthConfigError("basic auth needs a username")
        return BasicAuth(username, _secret("password", password_env, password_file, environ))
    if kind == "bearer":
        return BearerTokenAuth(_secret("token", token_env, token_file, environ))
    if kind == "smart":
        if not client_id:
            raise AuthConfigError("SMART backend auth needs a client id")
        if not private_key_file:
            raise AuthConfigError("SMART backend auth needs a private key file")
        if not key_id:
            raise AuthConfigError("SMART backend auth needs a key id (the JWKS 'kid')")
        if algorithm not in ("RS384", "ES384"):
            raise AuthConfigError(f"unsupported algorithm {algorithm!r}; use RS384 or ES384")
        pem = _read_pem_key(private_key_file)
        return SmartBackendAuth(client_id, pem, key_id, algorithm, scope, token_url)  # type: ignore[arg-type]
    if kind == "client-secret":
        if not client_id:
            raise AuthConfigError("client-secret auth needs a client id (--client-id)")
        secret = _secret("client secret", client_secret_env, client_secret_file, environ)
        return ClientSecretAuth(client_id, secret, token_auth_method,  # type: ignore[arg-type]
                                scope, token_url)
    raise AuthConfigError(f"unknown auth kind {kind!r}; use none, basic, bearer, smart or "
                          "client-secret")


def _secret(
    what: str,
    env_name: str | None,
    file: str | os.PathLike[str] | None,
    environ: Mapping[str, str],
) -> str:
    if env_name and file:
        raise AuthConfigError(f"give the {what} by environment variable or by file, not both")
    if env_name:
        value = environ.get(env_name, "").strip()
        if not value:
            raise AuthConfigError(f"environment variable {env_name} with the {what} is not set")
        return value
    if file:
        value = _read_file(what, file).strip()
        if not value:
            raise AuthConfigError(f"{what} file {os.fspath(file)} is empty")
        return value
    raise AuthConfigError(f"the {what} must come from an environment variable or a file")


def _read_file(what: str, path: str | os.PathLike[str]) -> str:
    data = _read_bytes(what, path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise AuthConfigError(f"{what} file {os.fspath(path)} is not UTF-8 text") from None


def _read_pem_key(path: str | os.PathLike[str]) -> bytes:
    """The key file's bytes, when they are PEM: a DER (binary) key or any other file is a
    settings error naming the file, never a traceback."""
    data = _read_bytes("private key", path)
    if b"-----BEGIN" not in data:
        raise AuthConfigError(
            f"private key file {os.fspath(path)} is not a PEM key (a binary DER key? convert "
            f"it: openssl pkey -inform DER -in {os.fspath(path)} -out key.pem)")
    return data


def _read_bytes(what: str, path: str | os.PathLike[str]) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise AuthConfigError(
            f"cannot read {what} file {os.fspath(path)}: {exc.strerror or exc}"
        ) from None
