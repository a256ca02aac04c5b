"""What one ``serve`` process is configured with, as plain JSON-able values.

uvicorn starts each worker process afresh, so the settings travel to the workers as JSON in
an environment variable. They hold no secret: tokens, passwords and keys are named by the
environment variable or file they are read from, as everywhere in the adapter.
"""

from __future__ import annotations

import hmac
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from adapter.fhir import FhirClient
from adapter.fhir.auth import AuthConfigError, auth_from_settings

ENVIRONMENT_VARIABLE = "B12_SERVE_SETTINGS"
DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024


class SettingsError(ValueError):
    """The service cannot start with these settings (exit status 2)."""


@dataclass(frozen=True)
class FhirSettings:
    """The FHIR server the service reads charts from and writes DetectedIssues to."""

    url: str
    auth: str = "none"
    username: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    token_env: str | None = None
    token_file: str | None = None
    client_id: str | None = None
    private_key_file: str | None = None
    key_id: str | None = None
    algorithm: str = "RS384"
    scope: str | None = None
    token_url: str | None = None
    ca_bundle: str | None = None
    timeout: float = 60.0
    page_size: int = 100
    client_secret_env: str | None = None
    client_secret_file: str | None = None
    token_auth_method: str = "basic"
    retry_budget: float | None = None  # None: the client's default
    max_pages: int | None = None

    def client(self) -> FhirClient:
        """A new client (one per worker thread: a requests session is not shared)."""
        from adapter.fhir import RetryPolicy

        options = {"scope": self.scope} if self.scope else {}
        auth = auth_from_settings(
            self.auth, username=self.username, password_env=self.password_env,
            password_file=self.password_file, token_env=self.token_env,
            token_file=self.token_file, client_id=self.client_id,
            private_key_file=self.private_key_file, key_id=self.key_id,
            algorithm=self.algorithm, token_url=self.token_url,
            client_secret_env=self.client_secret_env,
            client_secret_file=self.client_secret_file,
            token_auth_method=self.token_auth_method, **options)
        limits: dict[str, Any] = {}
        if self.retry_budget is not None:
            limits["retry"] = RetryPolicy(max_total_seconds=self.retry_budget)
        if self.max_pages is not None:
            limits["max_pages"] = self.max_pages
        return FhirClient(self.url, auth=auth, timeout=(10.0, self.timeout),
                          verify=self.ca_bundle or True, page_size=self.page_size, **limits)


@dataclass(frozen=True)
class ServeSettings:
    fhir: FhirSettings | None = None
    dry_run: bool = False
    max_entries: int = 50
    config: str | None = None  # thresholds override file, as ``check --config``
    state: str | None = None  # sync state file: an empty Subscription notification runs sync
    overlap_seconds: int = 300
    api_token_env: str | None = None
    api_token_file: str | None = None
    client_cert_header: str | None = None  # set by a TLS-terminating proxy, e.g. X-SSL-Client-S-DN
    allowed_subjects: tuple[str, ...] = ()
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    body_timeout: float = 30.0  # most seconds one wait for a piece of the body may take
    cds_fhir_servers: tuple[str, ...] = ()  # fhirServer bases a CDS request may send us to
    access_log: bool = True
    max_batch_claims: int = 1000  # claims one $b12-check batch may hold
    max_async_claims: int = 50_000  # claims one Prefer: respond-async batch may hold
    max_concurrent: int = 64  # requests answered at once per worker; past it 429
    body_timeout: float = 30.0  # seconds to receive a request body; past it 408
    cors_origins: tuple[str, ...] = ()  # browser origins allowed (CDS sandbox, SMART apps)
    cds_issuers: tuple[str, ...] = ()  # "ISS=JWKS_URL": CDS clients whose JWTs are trusted
    public_url: str | None = None  # the service's URL as callers see it (JWT aud)

    def cds_issuer_map(self) -> dict[str, str]:
        found = {}
        for item in self.cds_issuers:
            issuer, sep, url = item.partition("=")
            if not sep or not issuer.strip() or not url.strip().startswith(("http://",
                                                                            "https://")):
                raise SettingsError(f"--cds-issuer must be ISSUER=JWKS_URL (an http(s) URL): "
                                    f"{item!r}")
            found[issuer.strip()] = url.strip()
        return found

    @property
    def config_path(self) -> Path | None:
        return Path(self.config) if self.config else None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeSettings:
        data = json.loads(text)
        fhir = FhirSettings(**data.pop("fhir")) if data.get("fhir") else None
        data.pop("fhir", None)
        for name in ("allowed_subjects", "cds_fhir_servers", "cors_origins", "cds_issuers"):
            data[name] = tuple(data.get(name) or ())
        return cls(fhir=fhir, **data)

    @classmethod
    def from_environment(cls) -> ServeSettings:
        text = os.environ.get(ENVIRONMENT_VARIABLE)
        return cls.from_json(text) if text else cls()

    def api_tokens(self) -> tuple[bytes, ...]:
        """The callers' bearer tokens; none configured means no token is asked for.

        A token file may hold several tokens, one per line, so a token can be rotated without
        a gap: add the new one, move the callers over, remove the old one, restart.
        """
        if self.api_token_env and self.api_token_file:
            raise SettingsError("give the API token by environment variable or by file, not both")
        if self.api_token_env:
            value = os.environ.get(self.api_token_env, "").strip()
            if not value:
                raise SettingsError(
                    f"environment variable {self.api_token_env} with the API token is not set")
            return (value.encode(),)
        if self.api_token_file:
            try:
                lines = Path(self.api_token_file).read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise SettingsError(
                    f"cannot read API token file {self.api_token_file}: {exc.strerror}") from None
            tokens = tuple(line.strip().encode() for line in lines if line.strip())
            if not tokens:
                raise SettingsError(f"API token file {self.api_token_file} is empty")
            return tokens
        return ()

    def validate(self) -> None:
        """Fail at start-up, not at the first request: secrets readable, URLs usable."""
        self.api_tokens()
        if self.fhir is not None:
            try:
                self.fhir.client().close()
            except (AuthConfigError, ValueError) as exc:
                raise SettingsError(str(exc)) from exc
        if self.state and self.fhir is None:
            raise SettingsError("--state needs --server: it holds that server's sync watermark")
        if not 0 < self.body_timeout <= 3600:
            raise SettingsError(f"--body-timeout must be between 0 and 3600 seconds, not "
                                f"{self.body_timeout}")
        if self.max_body_bytes < 1024:
            raise SettingsError("--max-body-bytes must be at least 1024")
        if self.max_batch_claims < 1:
            raise SettingsError("--max-batch-claims must be at least 1")
        if self.max_async_claims < 1:
            raise SettingsError("--max-async-claims must be at least 1")
        if self.max_concurrent < 1:
            raise SettingsError("--max-concurrent must be at least 1")
        self.cds_issuer_map()
        for origin in self.cors_origins:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise SettingsError(f"--cors-origin must be an http(s) origin or '*': "
                                    f"{origin!r}")
        for url in self.cds_fhir_servers:
            if not url.startswith(("http://", "https://")):
                raise SettingsError(f"--cds-fhir-server must be an http(s) base URL: {url!r}")


def token_matches(presented: bytes, tokens: tuple[bytes, ...]) -> bool:
    """Constant-time comparison against every configured token (no early exit)."""
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(presented, token)
    return matched
