"""FHIR transport: the client, its auth, retries, paging and errors.

Everything that knows about HTTP lives here; callers see resources and exceptions.
"""

from adapter.fhir.auth import (
    Auth,
    AuthConfigError,
    BasicAuth,
    BearerTokenAuth,
    NoAuth,
    SmartBackendAuth,
    auth_from_settings,
)
from adapter.fhir.client import FhirClient, Params, RequestStats, bundle_is_idempotent
from adapter.fhir.errors import (
    FhirAuthError,
    FhirBadResourceError,
    FhirError,
    FhirGoneError,
    FhirNotFoundError,
    FhirRefusedError,
    FhirServerError,
    PageExpiredError,
    PagingLoopError,
    WriteNotAllowedError,
)
from adapter.fhir.paging import includes, matches, next_link
from adapter.fhir.retry import NO_RETRY, RetryPolicy

__all__ = [
    "NO_RETRY",
    "Auth",
    "AuthConfigError",
    "BasicAuth",
    "BearerTokenAuth",
    "FhirAuthError",
    "FhirBadResourceError",
    "FhirClient",
    "FhirError",
    "FhirGoneError",
    "FhirNotFoundError",
    "FhirRefusedError",
    "FhirServerError",
    "NoAuth",
    "PageExpiredError",
    "PagingLoopError",
    "Params",
    "RequestStats",
    "RetryPolicy",
    "SmartBackendAuth",
    "WriteNotAllowedError",
    "auth_from_settings",
    "bundle_is_idempotent",
    "includes",
    "matches",
    "next_link",
]
