"""FHIR transport: the client, its auth, retries, searches, write guard and errors.

Everything that knows about HTTP lives here; callers see resources, searches and exceptions.
"""

from importlib import import_module
from typing import Any

# name -> the module that defines it: loaded when first asked for, so a file run that needs
# only the error types never imports requests, jwt or cryptography.
_WHERE = {
    "Auth": "auth", "AuthConfigError": "errors", "BasicAuth": "auth",
    "BearerTokenAuth": "auth", "ClientSecretAuth": "auth", "NoAuth": "auth",
    "SmartBackendAuth": "auth",
    "auth_from_settings": "auth", "EntryResult": "bundles", "includes": "bundles",
    "matches": "bundles", "FhirClient": "client", "bundle_is_idempotent": "client",
    "FhirAuthError": "errors", "FhirError": "errors", "FhirServerError": "errors",
    "FhirUnreachableError": "errors", "FhirNotSupportedError": "errors",
    "PageExpiredError": "errors", "WriteNotAllowedError": "errors", "NO_RETRY": "retry",
    "RetryPolicy": "retry", "Query": "search", "Search": "search", "RequestStats": "stats",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'adapter.fhir' has no attribute {name!r}")
    return getattr(import_module(f"adapter.fhir.{_WHERE[name]}"), name)


__all__ = [
    "NO_RETRY",
    "Auth",
    "AuthConfigError",
    "BasicAuth",
    "BearerTokenAuth",
    "ClientSecretAuth",
    "EntryResult",
    "FhirAuthError",
    "FhirClient",
    "FhirError",
    "FhirNotSupportedError",
    "FhirServerError",
    "FhirUnreachableError",
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
