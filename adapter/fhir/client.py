"""The FHIR R4 client: the one place that talks HTTP to the server.

It owns the session, timeouts, TLS, headers, auth (with one refresh on 401), retries, paging
and the write guard, and turns every failure into an `adapter.fhir.errors` exception, so the
code above it handles resources and errors, never status codes.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import requests

from adapter import __version__
from adapter.fhir import paging
from adapter.fhir.auth import Auth, NoAuth
from adapter.fhir.errors import (
    FhirBadResourceError,
    FhirError,
    FhirServerError,
    WriteNotAllowedError,
    error_for_response,
    error_type_for,
    outcome_text,
    redact_url,
)
from adapter.fhir.retry import RETRY_EXCEPTIONS, RetryPolicy, send_with_retries

logger = logging.getLogger("adapter.fhir")

FHIR_JSON = "application/fhir+json"
USER_AGENT = f"b12-fhir-adapter/{__version__}"
DEFAULT_TIMEOUT = (10.0, 60.0)
DEFAULT_PAGE_SIZE = 100
DEFAULT_WRITABLE_TYPES = frozenset({"DetectedIssue"})
_TYPE_RE = re.compile(r"[A-Z][A-Za-z]{1,63}")
_ID_RE = re.compile(r"[A-Za-z0-9.\-]{1,64}")
_READ_METHODS = frozenset({"GET", "HEAD"})

ParamValue = str | int
# A dict (a list value repeats the parameter) or (name, value) pairs, e.g. two _lastUpdated.
Params = Mapping[str, ParamValue | Sequence[ParamValue]] | Iterable[tuple[str, ParamValue]]


@dataclass
class RequestStats:
    """Requests sent over the wire (retries included), so a run can report its cost."""

    total: int = 0
    retries: int = 0
    by_method: Counter[str] = field(default_factory=Counter)
    by_type: Counter[str] = field(default_factory=Counter)

    def record(self, method: str, kind: str) -> None:
        self.total += 1
        self.by_method[method] += 1
        self.by_type[kind] += 1

    def snapshot(self) -> RequestStats:
        """A copy, to subtract later: `client.stats - before` is the cost of one claim."""
        return RequestStats(
            self.total, self.retries, Counter(self.by_method), Counter(self.by_type)
        )

    def __sub__(self, other: RequestStats) -> RequestStats:
        return RequestStats(
            self.total - other.total,
            self.retries - other.retries,
            self.by_method - other.by_method,
            self.by_type - other.by_type,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "retries": self.retries,
            "by_method": dict(sorted(self.by_method.items())),
            "by_type": dict(sorted(self.by_type.items())),
        }


class FhirClient:
    """A FHIR R4 server at `base_url`, read freely, written only for `writable_types`."""

    def __init__(
        self,
        base_url: str,
        *,
        auth: Auth | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        verify: bool | str = True,
        page_size: int = DEFAULT_PAGE_SIZE,
        retry: RetryPolicy | None = None,
        writable_types: frozenset[str] = DEFAULT_WRITABLE_TYPES,
        session: requests.Session | None = None,
    ) -> None:
        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"FHIR base URL must be http(s)://host/...: {redact_url(base_url)}")
        if parts.query or parts.fragment:
            raise ValueError("FHIR base URL must not carry a query or fragment")
        if "@" in parts.netloc:
            raise ValueError("put credentials in the auth settings, not in the base URL")
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.base_url = base_url.strip().rstrip("/")
        self.timeout = timeout
        self.verify = verify
        self.page_size = page_size
        self.retry = retry or RetryPolicy()
        self.writable_types = frozenset(writable_types)
        self.stats = RequestStats()
        self._auth = auth or NoAuth()
        self._session = session or requests.Session()
        self._session.verify = verify
        self._session.headers.update({"Accept": FHIR_JSON, "User-Agent": USER_AGENT})
        self._auth.bind(self._session, self.base_url, timeout)

    def __repr__(self) -> str:
        return f"FhirClient({self.base_url!r}, auth={self._auth!r})"

    def __enter__(self) -> FhirClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    # Reads

    def read(self, resource_type: str, resource_id: str) -> dict[str, Any]:
        """`GET [base]/Type/id`: one resource, checked to be of that type."""
        _check_type(resource_type)
        if not _ID_RE.fullmatch(resource_id):
            raise ValueError(f"not a FHIR resource id: {resource_id!r}")
        url = f"{self.base_url}/{resource_type}/{resource_id}"
        return self._get(url, kind=resource_type, expect=resource_type)

    def search_pages(
        self, resource_type: str, params: Params | None = None, *, count: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every searchset Bundle of a search, following next links verbatim (lazily).

        Use this over `search` when the `_include`d resources matter (`paging.includes`).
        """
        _check_type(resource_type)
        pairs = _param_pairs(params)
        if not any(name == "_count" for name, _ in pairs):
            pairs.append(("_count", str(count or self.page_size)))
        first = f"{self.base_url}/{resource_type}?{urlencode(pairs, safe=',:/$', quote_via=quote)}"

        return paging.follow_pages(self._page_fetcher(resource_type), self.base_url, first)

    def pages_from(self, bundle: dict[str, Any], resource_type: str) -> Iterator[dict[str, Any]]:
        """A searchset already in hand (e.g. a batch entry's result), then its later pages.

        Same guarantees as `search_pages`: verbatim next links, PageExpiredError, loop guard.
        """
        if bundle.get("resourceType") != "Bundle":
            raise ValueError("pages_from needs a searchset Bundle")
        return paging.follow_pages(self._page_fetcher(resource_type), self.base_url, bundle)

    def _page_fetcher(self, resource_type: str) -> paging.FetchPage:
        def fetch(url: str, is_next_link: bool) -> dict[str, Any]:
            return self._get(url, kind=resource_type, expect="Bundle", paging_link=is_next_link)

        return fetch

    def search(
        self, resource_type: str, params: Params | None = None, *, count: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """The resources a search matched, across all pages (includes left out)."""
        for bundle in self.search_pages(resource_type, params, count=count):
            yield from paging.matches(bundle, resource_type)

    def get_url(self, url: str) -> dict[str, Any]:
        """GET a URL on this server (absolute, or relative to the base), e.g. a stored link."""
        absolute = paging.resolve_link(self.base_url, url)
        if not paging.same_origin(self.base_url, absolute):
            raise ValueError(f"URL is not on the FHIR server {self.base_url}: {redact_url(url)}")
        return self._get(absolute, kind=_type_in_url(self.base_url, absolute) or "url")

    def capabilities(self) -> dict[str, Any]:
        """`GET [base]/metadata`: what the server supports (search params, formats, ...)."""
        return self._get(f"{self.base_url}/metadata", kind="metadata", expect="CapabilityStatement")

    # Writes

    def transaction(self, bundle: dict[str, Any]) -> dict[str, Any]:
        """POST a transaction Bundle to the base: all entries succeed or none do."""
        return self._post_bundle(bundle, "transaction")

    def batch(self, bundle: dict[str, Any]) -> dict[str, Any]:
        """POST a batch Bundle to the base: entries succeed or fail one by one (read it back)."""
        return self._post_bundle(bundle, "batch")

    def entry_results(
        self, sent: dict[str, Any], received: dict[str, Any]
    ) -> list[dict[str, Any] | FhirError]:
        """Per entry of a batch, the response entry (`resource`, `response.location`) or the
        error the server reported for it, so callers never parse entry status codes."""
        requests_sent = sent.get("entry") or []
        answers = received.get("entry") or []
        if len(answers) != len(requests_sent):
            raise FhirBadResourceError(
                "POST",
                self.base_url,
                None,
                f"{len(requests_sent)} entries sent, {len(answers)} answered",
            )
        results: list[dict[str, Any] | FhirError] = []
        for request_entry, answer in zip(requests_sent, answers, strict=True):
            request = request_entry.get("request") or {}
            method = str(request.get("method", "POST"))
            url = paging.resolve_link(self.base_url, str(request.get("url", "")))
            response = answer.get("response") if isinstance(answer, dict) else None
            status = _entry_status(response)
            if status is None:
                results.append(FhirBadResourceError(method, url, None, "entry has no status"))
            elif 200 <= status < 300:
                results.append(answer)
            else:
                assert isinstance(response, dict)
                text = outcome_text(response.get("outcome")) or str(response.get("status"))
                results.append(error_type_for(status)(method, url, status, text))
        return results

    def _post_bundle(self, bundle: dict[str, Any], bundle_type: str) -> dict[str, Any]:
        if bundle.get("resourceType") != "Bundle" or bundle.get("type") != bundle_type:
            raise ValueError(f"expected a Bundle of type {bundle_type!r}")
        self._guard_bundle(bundle)
        body = json.dumps(bundle, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        response = self._exchange(
            "POST",
            self.base_url,
            kind=bundle_type,
            body=body,
            idempotent=bundle_is_idempotent(bundle),
        )
        return _resource(response, "POST", self.base_url, expect="Bundle")

    # Write guard

    def _guard_bundle(self, bundle: dict[str, Any]) -> None:
        """Refuse, before sending, a Bundle with any entry that writes a non-writable type."""
        for index, entry in enumerate(bundle.get("entry") or []):
            request = entry.get("request") if isinstance(entry, dict) else None
            if not isinstance(request, dict) or not request.get("method") or not request.get("url"):
                self._refuse("POST", f"entry {index} has no request method and url")
                continue
            method = str(request["method"]).upper()
            if method in _READ_METHODS:
                continue
            url = str(request["url"])
            written = [_type_in_url(self.base_url, url)]
            resource = entry.get("resource")
            if method != "PATCH" and isinstance(resource, dict):
                written.append(resource.get("resourceType"))
            for resource_type in written:
                if resource_type not in self.writable_types:
                    self._refuse(
                        "POST", f"entry {index} {method} {url} writes {resource_type or '?'}"
                    )

    def _guard_url(self, method: str, url: str) -> None:
        resource_type = _type_in_url(self.base_url, url)
        if resource_type not in self.writable_types:
            self._refuse(method, f"{method} writes {resource_type or 'the server base'}", url)

    def _refuse(self, method: str, what: str, url: str | None = None) -> None:
        allowed = ", ".join(sorted(self.writable_types)) or "nothing"
        message = f"{what}; this client may write only {allowed}"
        raise WriteNotAllowedError(method, url or self.base_url, None, message)

    # Transport

    def _get(
        self, url: str, *, kind: str, expect: str | None = None, paging_link: bool = False
    ) -> dict[str, Any]:
        response = self._exchange("GET", url, kind=kind, idempotent=True, paging_link=paging_link)
        return _resource(response, "GET", url, expect=expect)

    def _exchange(
        self,
        method: str,
        url: str,
        *,
        kind: str,
        idempotent: bool,
        body: bytes | None = None,
        paging_link: bool = False,
    ) -> requests.Response:
        """Send with retries and one credential refresh on 401; raise on any failure."""
        if method not in _READ_METHODS and kind not in ("transaction", "batch"):
            self._guard_url(method, url)
        response = self._send_with_retries(method, url, kind=kind, body=body, idempotent=idempotent)
        if response.status_code == 401 and self._auth.refresh():
            logger.info(
                "%s %s -> 401; refreshing credentials, trying once more", method, _log_target(url)
            )
            response = self._send_with_retries(
                method, url, kind=kind, body=body, idempotent=idempotent
            )
        if not 200 <= response.status_code < 300:
            raise error_for_response(method, url, response, paging_link=paging_link)
        return response

    def _send_with_retries(
        self, method: str, url: str, *, kind: str, body: bytes | None, idempotent: bool
    ) -> requests.Response:
        def on_retry() -> None:
            self.stats.retries += 1

        try:
            return send_with_retries(
                lambda: self._send_once(method, url, kind=kind, body=body),
                self.retry,
                idempotent=idempotent,
                describe=f"{method} {_log_target(url)}",
                on_retry=on_retry,
            )
        except requests.RequestException as exc:
            # Unreachable or dropped (retries spent): a server failure; anything else is ours.
            error_type = FhirServerError if isinstance(exc, RETRY_EXCEPTIONS) else FhirError
            raise error_type(method, url, None, f"{type(exc).__name__}: {exc}"[:300]) from None

    def _send_once(
        self, method: str, url: str, *, kind: str, body: bytes | None
    ) -> requests.Response:
        """One request over the wire: counted, timed and logged (no headers, no bodies)."""
        self.stats.record(method, kind)
        headers = {"Content-Type": FHIR_JSON} if body is not None else None
        started = time.perf_counter()
        try:
            response = self._session.request(
                method,
                url,
                data=body,
                headers=headers,
                auth=self._auth,
                timeout=self.timeout,
                verify=self.verify,
                allow_redirects=method in _READ_METHODS,
            )
        except requests.RequestException as exc:
            logger.debug(
                "%s %s -> %s (%.0f ms)",
                method,
                _log_target(url),
                type(exc).__name__,
                _ms_since(started),
            )
            raise
        logger.debug(
            "%s %s -> %d (%.0f ms)",
            method,
            _log_target(url),
            response.status_code,
            _ms_since(started),
        )
        return response


def bundle_is_idempotent(bundle: dict[str, Any]) -> bool:
    """True when sending the Bundle twice has the effect of sending it once (safe to retry).

    Reads, PUTs (by id or conditional URL) and conditional creates (`ifNoneExist`) qualify;
    a plain POST create, a DELETE or a PATCH does not.
    """
    for entry in bundle.get("entry") or []:
        request = entry.get("request") if isinstance(entry, dict) else None
        request = request if isinstance(request, dict) else {}
        method = str(request.get("method", "")).upper()
        if method in _READ_METHODS or method == "PUT":
            continue
        if method == "POST" and request.get("ifNoneExist"):
            continue
        return False
    return True


def _entry_status(response: object) -> int | None:
    """The code of a Bundle `entry.response.status` such as "201 Created"."""
    if not isinstance(response, dict):
        return None
    code = str(response.get("status", "")).strip().partition(" ")[0]
    return int(code) if code.isdigit() else None


def _resource(
    response: requests.Response, method: str, url: str, *, expect: str | None
) -> dict[str, Any]:
    """The response body as a FHIR resource (of type `expect`, when given)."""
    try:
        body = response.json()
    except ValueError:
        snippet = " ".join((response.text or "").split())[:300]
        raise FhirBadResourceError(
            method, url, response.status_code, f"body is not JSON: {snippet}"
        ) from None
    found = body.get("resourceType") if isinstance(body, dict) else None
    if not isinstance(found, str) or (expect is not None and found != expect):
        wanted = expect or "a FHIR resource"
        raise FhirBadResourceError(
            method, url, response.status_code, f"expected {wanted}, got {found or 'no resource'}"
        )
    return body


def _check_type(resource_type: str) -> None:
    if not _TYPE_RE.fullmatch(resource_type):
        raise ValueError(f"not a FHIR resource type: {resource_type!r}")


def _type_in_url(base_url: str, url: str) -> str | None:
    """The resource type a URL (absolute, or relative to the base) addresses, if any."""
    path = urlsplit(url).path if "://" in url else url.partition("?")[0]
    if "://" in url:
        base_path = urlsplit(base_url).path.rstrip("/")
        if not paging.same_origin(base_url, url) or not path.startswith(base_path + "/"):
            return None
        path = path[len(base_path) :]
    first = path.lstrip("/").partition("/")[0]
    return first if _TYPE_RE.fullmatch(first) else None


def _param_pairs(params: Params | None) -> list[tuple[str, str]]:
    if params is None:
        return []
    items: Iterable[tuple[str, Any]] = params.items() if isinstance(params, Mapping) else params
    pairs: list[tuple[str, str]] = []
    for name, value in items:
        values = value if isinstance(value, list | tuple) else [value]
        pairs.extend((str(name), str(v)) for v in values)
    return pairs


def _log_target(url: str) -> str:
    """Path and query only: no host, no credentials."""
    parts = urlsplit(redact_url(url))
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
