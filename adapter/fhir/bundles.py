"""Reading Bundles the server sends: search pages and batch/transaction responses.

Pure functions over JSON: which entries a search matched or included, the next link, and
what the server said about each entry of a batch or transaction (its own ``response.status``:
servers answer HTTP 200 with refused entries inside, SERVERS.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from adapter.fhir.errors import (
    FhirError,
    FhirNotSupportedError,
    error_type_for,
    outcome_codes,
    outcome_text,
    refuses_type,
)

Bundle = dict[str, Any]


def next_link(bundle: Bundle) -> str | None:
    """The Bundle's ``link[relation=next].url``, if any."""
    return next(iter(links(bundle, "next")), None)


def links(bundle: Bundle, relation: str) -> list[str]:
    return [
        str(link["url"])
        for link in bundle.get("link") or []
        if isinstance(link, dict) and link.get("relation") == relation and link.get("url")
    ]


def resolve_link(base_url: str, link: str) -> str:
    """An absolute URL for a Bundle link; relative links are relative to the service base."""
    if link.startswith("?"):
        return base_url + link  # HAPI-style `?_getpages=...` hangs off the base itself
    return urljoin(base_url + "/", link)


def same_origin(base_url: str, url: str) -> bool:
    """True when ``url`` is on the base's scheme, host and port (safe for credentials)."""
    base, other = urlsplit(base_url), urlsplit(url)
    return (base.scheme, base.netloc.lower()) == (other.scheme, other.netloc.lower())


def matches(bundle: Bundle, resource_type: str) -> Iterator[dict[str, Any]]:
    """The resources a search matched: of the searched type, with ``search.mode`` "match" or
    none. Included resources (mode "include") and OperationOutcome entries are left out, an
    OperationOutcome marked "match" too (a server that did was read as a note, "note-missing"
    on every claim, and as a claim, "skipped")."""
    for resource, mode in _entries(bundle):
        if mode in ("match", None) and resource.get("resourceType") == resource_type:
            yield resource


def includes(bundle: Bundle, resource_type: str) -> Iterator[dict[str, Any]]:
    """The resources a search pulled in with ``_include``/``_revinclude``."""
    for resource, mode in _entries(bundle):
        if mode == "include" or (
            mode is None and resource.get("resourceType") not in (resource_type, "OperationOutcome")
        ):
            yield resource


def _entries(bundle: Bundle) -> Iterator[tuple[dict[str, Any], str | None]]:
    entries = bundle.get("entry")
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            continue
        search = found if isinstance(found := entry.get("search"), dict) else {}
        yield entry["resource"], search.get("mode")


@dataclass(frozen=True)
class EntryResult:
    """What the server did with one entry of a batch or transaction."""

    method: str
    url: str
    status: int | None  # None: the server gave no readable status for the entry
    resource: dict[str, Any] | None = None
    location: str | None = None
    outcome: str = ""  # the entry's OperationOutcome text, when the server sent one
    codes: tuple[str, ...] = ()  # the issue codes of that OperationOutcome (``not-supported``)
    # The entry went out before, in a request whose answer never came (a timeout, a dropped
    # connection, a gateway's 5xx) and may have committed it: a conditional create answered
    # 200 now may be finding what that attempt created.
    resent: bool = False

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def target(self) -> str | None:
        """``Type/id`` of the resource the entry created, found or changed (from the body the
        server returned, else its Location), when it landed."""
        if not self.ok:
            return None
        resource = self.resource or {}
        if isinstance(resource.get("resourceType"), str) and isinstance(resource.get("id"), str):
            return f"{resource['resourceType']}/{resource['id']}"
        if self.location:
            path = self.location.split("?")[0].split("/_history/")[0].rstrip("/")
            segments = path.split("/")
            if len(segments) >= 2 and segments[-2] and segments[-1]:
                return f"{segments[-2]}/{segments[-1]}"
        return None

    def error(self) -> FhirError:
        """The failure as the error type its status stands for (only when not ``ok``)."""
        if self.status is None:
            return FhirError(self.method, self.url, None,
                             self.outcome or "entry has no response status")
        error_type = error_type_for(self.status)
        if self.method == "GET" and "?" in self.url \
                and refuses_type(self.status, self.outcome, self.codes):
            error_type = FhirNotSupportedError  # a search of a type the server does not have
        return error_type(self.method, self.url, self.status, self.outcome or str(self.status))


def entry_is_idempotent(entry: object) -> bool:
    """True when sending the entry twice has the effect of sending it once (safe to retry):
    reads, PUTs (by id or conditional URL) and conditional creates (``ifNoneExist``); not a
    plain POST create, a DELETE or a PATCH."""
    request = entry.get("request") if isinstance(entry, dict) else None
    request = request if isinstance(request, dict) else {}
    method = str(request.get("method", "")).upper()
    if method == "POST":
        return bool(request.get("ifNoneExist"))
    return method in ("GET", "HEAD", "PUT")


def entry_results(base_url: str, sent: Bundle, received: Bundle) -> list[EntryResult]:
    """One result per entry sent, in order; a response with another number of entries is not
    an answer to this Bundle."""
    requests = sent.get("entry") or []
    answers = found if isinstance(found := received.get("entry"), list) else []
    if len(answers) != len(requests):
        raise FhirError("POST", base_url, None,
                        f"{len(requests)} entries sent, {len(answers)} answered")
    results = []
    for request_entry, answer in zip(requests, answers, strict=True):
        request = request_entry.get("request") or {}
        method = str(request.get("method", "POST")).upper()
        url = resolve_link(base_url, str(request.get("url", "")))
        response = answer.get("response") if isinstance(answer, dict) else None
        response = response if isinstance(response, dict) else {}
        resource = answer.get("resource") if isinstance(answer, dict) else None
        location = response.get("location")
        results.append(EntryResult(
            method=method,
            url=url,
            status=_status_code(response.get("status")),
            resource=resource if isinstance(resource, dict) else None,
            location=location if isinstance(location, str) else None,
            outcome=outcome_text(response.get("outcome")),
            codes=outcome_codes(response.get("outcome")),
        ))
    return results


def _status_code(status: object) -> int | None:
    """The code of an ``entry.response.status`` such as "201 Created"."""
    code = str(status if status is not None else "").strip().partition(" ")[0]
    return int(code) if code.isdigit() and len(code) == 3 else None


def rewrite_references(value: Any, targets: dict[str, str]) -> Any:
    """A copy of ``value`` (a resource, or any part of one) with every ``reference`` found in
    ``targets`` replaced by its target: ``urn:uuid:`` aliases by ``Type/id``, or a Bundle's
    entries by the ids the server gave them."""
    if isinstance(value, dict):
        out = {key: rewrite_references(item, targets) for key, item in value.items()}
        reference = out.get("reference")
        if isinstance(reference, str) and reference in targets:
            out["reference"] = targets[reference]
        return out
    if isinstance(value, list):
        return [rewrite_references(item, targets) for item in value]
    return value
