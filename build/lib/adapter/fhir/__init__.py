"""FHIR transport: the client, its auth, retries, searches, write guard and errors.

Everything that knows about HTTP lives here; callers see resources, searches and exceptions.
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
from adapter.fhir.bundles import EntryResult, includes, matches
from adapter.fhir.client import FhirClient, bundle_is_idempotent
from adapter.fhir.errors import (
    FhirAuthError,
    FhirError,
    FhirServerError,
    PageExpiredError,
    WriteNotAllowedError,
)
from adapter.fhir.retry import NO_RETRY, RetryPolicy
from adapter.fhir.search import Query, Search
from adapter.fhir.stats import RequestStats

__all__ = [
    "NO_RETRY",
    "Auth",
    "AuthConfigError",
    "BasicAuth",
    "BearerTokenAuth",
    "EntryResult",
    "FhirAuthError",
    "FhirClient",
    "FhirError",
    "FhirServerError",
    "NoAuth",
    "PageExpiredError",
    "Query",
    "RequestStats",
    "RetryPolicy",
    "Search",
    "SmartBackendAuth",
    "WriteNotAllowedError",
    "auth_from_settings",
    "bundle_is_idempotent",
    "includes",
    "matches",
]
