"""The FHIR R4 client: the one place that talks HTTP to a server.

It owns the session, timeouts, TLS, headers, auth (one credential refresh on a 401), retries
and the write guard, and turns every failure into an ``adapter.fhir.errors`` exception, so
the code above it handles resources and errors, never status codes. Reading is one thing:
``client.search(...)`` gives a lazily paged ``Search``; ``batch_search`` runs several in one
request. Writing is ``transaction``/``batch``, answered entry by entry.
"""

from __future__ import annotations

import json
import logging
import math
import re
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import requests

from adapter import __version__
from adapter.fhir.auth import Auth, NoAuth
from adapter.fhir.bundles import EntryResult, entry_is_idempotent, entry_results
from adapter.fhir.entry_retry import send_entries_with_retries
from adapter.fhir.errors import (
    FhirError,
    FhirServerError,
    FhirUnreachableError,
    error_for_response,
    html_page_said,
    redact_url,
)
from adapter.fhir.guard import READ_METHODS, WriteGuard
from adapter.fhir.redaction import guard_logs
from adapter.fhir.retry import RETRY_EXCEPTIONS, RetryPolicy, send_with_retries
from adapter.fhir.search import DEFAULT_MAX_PAGES, Params, ParamValue, Query, Search
from adapter.fhir.stats import RequestStats

logger = logging.getLogger("adapter.fhir")

FHIR_JSON = "application/fhir+json"
USER_AGENT = f"b12-fhir-adapter/{__version__}"
DEFAULT_TIMEOUT = (10.0, 60.0)
DEFAULT_PAGE_SIZE = 100
DEFAULT_WRITABLE_TYPES = frozenset({"DetectedIssue"})
_URL_IN_MESSAGE = re.compile(r"(with )?url: \S+")
_TYPE_NAME = re.compile(r"[A-Z][A-Za-z]{1,63}")  # a resourceType, never free text from a body


class FhirClient:
    """A FHIR R4 server at ``base_url``, read freely, written only for ``writable_types``."""

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
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"FHIR base URL must be http(s)://host/...: {redact_url(base_url)}")
        if parts.query or parts.fragment:
            raise ValueError("FHIR base URL must not carry a query or fragment")
        if "@" in parts.netloc:
            raise ValueError("put credentials in the auth settings, not in the base URL")
        if not all(math.isfinite(t) and t > 0 for t in timeout):  # urllib3's ValueError
            raise ValueError(f"timeouts must be finite numbers of seconds above 0: {timeout}")
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        if max_pages < 1:
            raise ValueError("max_pages must be at least 1")
        self.max_pages = max_pages
        self.base_url = base_url.strip().rstrip("/")
        self.timeout = timeout
        self.verify = verify
        self.page_size = page_size
        self.retry = retry or RetryPolicy()
        self.guard = WriteGuard(self.base_url, frozenset(writable_types))
        self.stats = RequestStats()
        self._auth = auth or NoAuth()
        self._session = session or requests.Session()
        self._session.verify = verify
        self._session.headers.update({"Accept": FHIR_JSON, "User-Agent": USER_AGENT})
        self._auth.bind(self._auth_request, self.base_url)
        self._reached = False  # whether any request got an answer from the server yet
        self._split_said = False  # the warning that transactions are split, given once
        guard_logs()

    def __repr__(self) -> str:
        return f"FhirClient({self.base_url!r}, auth={self._auth!r})"

    def __enter__(self) -> FhirClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    # Reading

    def search(self, query: Query | str, params: Params | None = None,
               **more: ParamValue) -> Search:
        """A lazily paged search: ``client.search("Condition", patient="Patient/p1")``.

        ``_count`` defaults to the client's page size.
        """
        if isinstance(query, str):
            query = Query.of(query, params, **more)
        elif params or more:
            query = query.where(params, **more)
        return Search(self._page_fetcher(query.resource_type), self.base_url, self._counted(query),
                      max_pages=self.max_pages)

    def batch_search(self, queries: Sequence[Query]) -> list[Search]:
        """Several searches in one batch request; each answer is a ``Search`` that starts from
        the page the batch returned and reads any further pages lazily. Raises the error an
        entry's status stands for when the server refused one of them."""
        searches = []
        for answer in self.batch_searches(queries):
            if isinstance(answer, FhirError):
                raise answer
            searches.append(answer)
        return searches

    def batch_searches(self, queries: Sequence[Query]) -> list[Search | FhirError]:
        """``batch_search``, with the error of each search the server refused in its place
        (``FhirNotSupportedError`` when it does not support the type), for a caller that can
        go on without some of them; a batch refused whole still raises."""
        queries = [self._counted(q) for q in queries]
        if not queries:
            return []
        bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
            {"request": {"method": "GET", "url": q.url()}} for q in queries]}
        answers: list[Search | FhirError] = []
        for query, result in zip(queries, self.batch(bundle), strict=True):
            if not result.ok:
                answers.append(self._scope_hint(result.error(), query.resource_type))
            elif not (result.resource and result.resource.get("resourceType") == "Bundle"):
                answers.append(FhirError("GET", result.url, result.status,
                                         "entry holds no searchset Bundle"))
            else:
                answers.append(Search(self._page_fetcher(query.resource_type), self.base_url,
                                      query, first_page=result.resource,
                                      max_pages=self.max_pages))
        return answers

    def _counted(self, query: Query) -> Query:
        return query if query.has("_count") else query.where(_count=self.page_size)

    def _page_fetcher(self, resource_type: str) -> Callable[[str, bool], dict[str, Any]]:
        def fetch(url: str, is_next_link: bool) -> dict[str, Any]:
            response = self._exchange("GET", url, kind=resource_type, idempotent=True,
                                      paging_link=is_next_link)
            return _resource(response, "GET", url, expect="Bundle")

        return fetch

    # Writing

    def transaction(self, bundle: dict[str, Any]) -> list[EntryResult]:
        """POST a transaction Bundle; what the server did with each entry, in order.

        Servers are not always atomic: an HTTP 200 may hold refused entries (SERVERS.md). A
        server that refuses the transaction for its size (Medplum with atomic transactions:
        "Transaction requires strict isolation but has too many entries") gets it in halves,
        down to one entry, and the run says so once.
        """
        try:
            return self._post_bundle(bundle, "transaction")
        except FhirError as exc:
            entries = bundle.get("entry") or []
            if not (_too_many_entries(exc) and len(entries) > 1):
                raise
        if not self._split_said:
            self._split_said = True
            logger.warning("the server refuses transactions of %d entries as too many (strict "
                           "isolation): sending smaller ones", len(entries))
        half = len(entries) // 2
        return [*self.transaction({**bundle, "entry": entries[:half]}),
                *self.transaction({**bundle, "entry": entries[half:]})]

    def batch(self, bundle: dict[str, Any]) -> list[EntryResult]:
        """POST a batch Bundle; what the server did with each entry, in order."""
        return self._post_bundle(bundle, "batch")

    def _post_bundle(self, bundle: dict[str, Any], bundle_type: str) -> list[EntryResult]:
        """POST the Bundle; entries refused for now (429, 5xx inside an HTTP 200) are sent
        again after the server's window, within the retry budget (``entry_retry``)."""
        if bundle.get("resourceType") != "Bundle" or bundle.get("type") != bundle_type:
            raise ValueError(f"expected a Bundle of type {bundle_type!r}")

        def post(sent: dict[str, Any], retry: RetryPolicy
                 ) -> tuple[requests.Response, list[EntryResult]]:
            self.guard.check_bundle(sent)
            body = json.dumps(sent, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            answers: list[int | None] = []  # each attempt's status; None: no answer came
            response = self._exchange("POST", self.base_url, kind=bundle_type, body=body,
                                      idempotent=bundle_is_idempotent(sent), retry=retry,
                                      answers=answers)
            received = _resource(response, "POST", self.base_url, expect="Bundle")
            results = entry_results(self.base_url, sent, received)
            if any(status is None or status >= 500 for status in answers[:-1]):
                # sent again after an attempt that may have committed it (SERVERS.md)
                results = [replace(result, resent=True) for result in results]
            return response, results

        def on_retry(entries: int) -> None:
            self.stats.retries += 1

        return send_entries_with_retries(post, bundle, self.retry, describe=bundle_type,
                                         on_retry=on_retry)

    # Transport

    def _exchange(
        self,
        method: str,
        url: str,
        *,
        kind: str,
        idempotent: bool,
        body: bytes | None = None,
        paging_link: bool = False,
        retry: RetryPolicy | None = None,
        answers: list[int | None] | None = None,
    ) -> requests.Response:
        """Send with retries and one credential refresh on 401; raise on any failure.
        ``answers`` gets each attempt's HTTP status (None when no answer came)."""
        def send() -> requests.Response:
            try:
                response = self._send_once(method, url, kind=kind, body=body, auth=self._auth)
            except requests.RequestException:
                if answers is not None:
                    answers.append(None)
                raise
            if answers is not None:
                answers.append(response.status_code)
            return response

        response = self._with_retries(send, method, url, idempotent=idempotent, retry=retry)
        if response.status_code == 401 and self._auth.refresh():
            logger.info("%s %s -> 401; refreshing credentials, trying once more",
                        method, _log_target(url))
            response = self._with_retries(send, method, url, idempotent=idempotent, retry=retry)
        if not 200 <= response.status_code < 300:
            raise self._scope_hint(
                error_for_response(method, url, response, paging_link=paging_link), kind)
        return response

    def _scope_hint(self, error: FhirError, resource_type: str) -> FhirError:
        """A 403 on one resource type with a scoped token: name the scope it may lack."""
        if error.status != 403 or not self._auth.scoped \
                or not _TYPE_NAME.fullmatch(resource_type):
            return error
        access = "read" if error.method in READ_METHODS else "write"
        hint = f"the token's scope may lack system/{resource_type}.{access} (--scope)"
        return type(error)(error.method, error.url, error.status,
                           f"{error.outcome}; {hint}" if error.outcome else hint)

    def _auth_request(self, method: str, url: str,
                      form: Callable[[], Mapping[str, str]] | None,
                      headers: Mapping[str, str] | None = None) -> requests.Response:
        """A token-side request (discovery, token): no FHIR credentials attached (only the
        ``headers`` the token request itself needs: a client secret's basic header), plain
        JSON, the same timeouts and retries as the rest; a fresh form (assertion) for every
        attempt."""
        def send() -> requests.Response:
            return self._send_once(method, url, kind="auth", data=form() if form else None,
                                   headers={**(headers or {}), "Accept": "application/json"})

        return self._with_retries(send, method, url, idempotent=True)

    def _with_retries(self, send: Callable[[], requests.Response], method: str, url: str,
                      *, idempotent: bool, retry: RetryPolicy | None = None
                      ) -> requests.Response:
        def on_retry() -> None:
            self.stats.retries += 1

        def first_send() -> requests.Response:
            """Until the server answered once, a refused connection or an unknown host is a
            wrong URL or a server not started: not retried, said in one line."""
            try:
                return send()
            except requests.ConnectionError as exc:
                if self._reached or (why := _unreachable(exc)) is None:
                    raise
                host = urlsplit(url).netloc.rpartition("@")[2]
                raise FhirUnreachableError(method, url, None, f"cannot connect to {host}: "
                                           f"{why} (is a FHIR server running at this URL?)"
                                           ) from None

        try:
            return send_with_retries(first_send, retry or self.retry, idempotent=idempotent,
                                     describe=f"{method} {_log_target(url)}", on_retry=on_retry)
        except FhirUnreachableError:
            raise
        except requests.RequestException as exc:
            # Unreachable or dropped (retries spent): temporary; anything else is ours.
            error_type = FhirServerError if isinstance(exc, RETRY_EXCEPTIONS) else FhirError
            raise error_type(method, url, None, _describe(exc)) from None

    def _send_once(
        self,
        method: str,
        url: str,
        *,
        kind: str,
        body: bytes | None = None,
        data: Mapping[str, str] | None = None,
        headers: dict[str, str] | None = None,
        auth: Auth | None = None,
    ) -> requests.Response:
        """One request over the wire: counted, timed and logged (no headers, no bodies)."""
        if method not in READ_METHODS and kind not in ("transaction", "batch", "auth"):
            self.guard.check_url(method, url)
        self.stats.record(method, kind)
        if body is not None:
            headers = {**(headers or {}), "Content-Type": FHIR_JSON}
        started = time.perf_counter()
        try:
            response = self._session.request(
                method, url, data=body if body is not None else data, headers=headers,
                auth=auth, timeout=self.timeout, verify=self.verify,
                allow_redirects=method in READ_METHODS,
            )
        except requests.RequestException as exc:
            logger.debug("%s %s -> %s (%.0f ms)", method, _log_target(url),
                         type(exc).__name__, _ms_since(started))
            raise
        logger.debug("%s %s -> %d (%.0f ms)", method, _log_target(url),
                     response.status_code, _ms_since(started))
        self._reached = True
        return response


def bundle_is_idempotent(bundle: dict[str, Any]) -> bool:
    """True when sending the Bundle twice has the effect of sending it once (safe to retry):
    every entry is (``adapter.fhir.bundles.entry_is_idempotent``)."""
    return all(entry_is_idempotent(entry) for entry in bundle.get("entry") or [])


def _resource(
    response: requests.Response, method: str, url: str, *, expect: str | None
) -> dict[str, Any]:
    """The response body as a FHIR resource (of type ``expect``, when given)."""
    try:
        body = response.json()
    except ValueError:
        said = html_page_said(response.text or "")
        raise FhirError(method, url, response.status_code,
                        f"body is not JSON ({said})" if said else "body is not JSON") from None
    found = body.get("resourceType") if isinstance(body, dict) else None
    if not isinstance(found, str) or (expect is not None and found != expect):
        wanted = expect or "a FHIR resource"
        got = found if isinstance(found, str) and _TYPE_NAME.fullmatch(found) else "no resource"
        raise FhirError(method, url, response.status_code, f"expected {wanted}, got {got}")
    return body


def _describe(exc: requests.RequestException) -> str:
    """The exception's type and reason, without the URL urllib3 puts in it (its query may carry
    a token a server put in a next link)."""
    text = _URL_IN_MESSAGE.sub("", str(exc))
    return f"{type(exc).__name__}: {' '.join(text.split())}"[:300].rstrip(": ")


def _too_many_entries(exc: FhirError) -> bool:
    """The server refused a transaction for the number of its entries (Medplum)."""
    return exc.status is not None and 400 <= exc.status < 500 \
        and "too many entries" in exc.outcome.lower()


def _unreachable(exc: BaseException) -> str | None:
    """"connection refused" or "no such host" when that is why a connection failed."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        if isinstance(current, socket.gaierror):
            return "no such host"
        todo += [current.__cause__, current.__context__,
                 *(a for a in current.args if isinstance(a, BaseException)),
                 *(r for r in [getattr(current, "reason", None)] if isinstance(r, BaseException))]
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "no such host"
    return None


def _log_target(url: str) -> str:
    """Path and query only: no host, no credentials."""
    parts = urlsplit(redact_url(url))
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
