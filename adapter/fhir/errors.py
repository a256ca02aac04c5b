"""Errors of the FHIR transport: one type per failure a caller handles differently.

``FhirError`` itself: the server refused the request or sent something that is not the answer
(report it with the server's words, go on). Its kinds: ``FhirServerError`` (temporary: try
again later), ``FhirAuthError`` (stop the run), ``PageExpiredError`` (restart the search),
``WriteNotAllowedError`` (a write the guard refused; a bug). Callers never see a status code as
control flow; they catch one of these. Every error carries
the request (method, URL without credentials), the HTTP status (None when no response came)
and the server's own words: OperationOutcome text, or the start of a body that is neither JSON
nor FHIR (a proxy's error page). Other JSON and FHIR XML bodies are never quoted: they may be
a resource holding a patient's name.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

if TYPE_CHECKING:
    import requests

OUTCOME_MAX_CHARS = 300

# Query parameters that can carry a secret; their values never reach a message or a log.
# (Not `code`: in FHIR it is an ordinary search parameter.)
SECRET_PARAMS = frozenset(
    {"access_token", "token", "client_secret", "client_assertion", "password"}
)


class AuthConfigError(ValueError):
    """Auth settings are incomplete or inconsistent; the message says which setting."""


class FhirError(Exception):
    """A FHIR request failed; `str(e)` is one line: `GET <url> -> <status>: <outcome>`.

    `status` is None when no response came (connection failure) or nothing was sent.
    """

    def __init__(self, method: str, url: str, status: int | None, outcome: str = "") -> None:
        self.method = method.upper()
        self.url = redact_url(url)
        self.status = status
        self.outcome = " ".join(outcome.split())  # one line, whatever the server sent
        super().__init__(self._line())

    def _line(self) -> str:
        text = f"{self.method} {short_url(self.url)}"
        if self.status is not None:
            text = f"{text} -> {self.status}"
        return f"{text}: {self.outcome}" if self.outcome else text

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions unpickle by replaying `args` (the one-line message); replay the fields.
        return (type(self), (self.method, self.url, self.status, self.outcome))


class FhirAuthError(FhirError):
    """Credentials were rejected (401/403 after any refresh), or no token could be obtained:
    nothing else will work either, so a run stops."""


class FhirServerError(FhirError):
    """Temporary: the server failed, was unreachable or rate-limited us (5xx, 429, dropped
    connections) after all retries. The same request may succeed later."""


class FhirUnreachableError(FhirServerError):
    """Nothing listens at the base URL (connection refused, no such host) on the run's first
    request: a wrong URL or a server not started, so the run stops at once, in one line,
    instead of retrying for the whole retry budget."""


class FhirNotSupportedError(FhirError):
    """The server said plainly that it does not support the searched resource type (a 404 to
    a search, or a 400 "unknown resource type" / OperationOutcome ``not-supported``): asking
    again will not help, and a caller that can do without the type goes on without it."""


class PageExpiredError(FhirError):
    """A search page link no longer works (410, or 404 on a paging link): the search restarts
    from its first page (``adapter.fhir.search``)."""


class WriteNotAllowedError(FhirError):
    """A write to a resource type or URL outside the client's write guard; nothing was sent."""


QUERY_SHOWN = 100  # characters of a URL's query an error shows


def short_url(url: str) -> str:
    """The URL as an error shows it: its path and the first ``QUERY_SHOWN`` characters of its
    query (a page's batch search lists every patient and code: kilobytes, in every error)."""
    head, sep, query = url.partition("?")
    if len(query) <= QUERY_SHOWN:
        return url
    return f"{head}{sep}{query[:QUERY_SHOWN]}... ({len(query) - QUERY_SHOWN} more characters)"


# What a server says when it does not know a resource type (HAPI: "Unknown resource type
# 'Composition'"; others: "Unsupported resource type", "resource type ... is not supported")
_TYPE_REFUSED = re.compile(r"(unknown|unsupported|invalid) resource type|resource type\b.{0,80}"
                           r"\bnot (supported|known)", re.IGNORECASE)


def refuses_type(status: int | None, outcome: str, codes: tuple[str, ...] = ()) -> bool:
    """Whether a search's answer says plainly that the server does not support the searched
    type: a 404 (no such endpoint), or another 4xx but 401/403/429 whose OperationOutcome says
    so (its code ``not-supported``, or its text). A 5xx or a timeout says nothing of the kind."""
    if status is None or not 400 <= status < 500 or status in (401, 403, 408, 429):
        return False
    return status == 404 or "not-supported" in codes or bool(_TYPE_REFUSED.search(outcome))


def outcome_codes(body: Any) -> tuple[str, ...]:
    """The ``issue.code`` values of an OperationOutcome (``not-supported``, ``processing``)."""
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return ()
    issues = body.get("issue")
    if not isinstance(issues, list):
        return ()
    return tuple(str(i["code"]) for i in issues if isinstance(i, dict) and i.get("code"))


def redact_url(url: str) -> str:
    """The URL without user:password and with secret-bearing query values masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    netloc = parts.netloc.rpartition("@")[2]
    query = parts.query
    if query and any(name.lower() in SECRET_PARAMS for name, _ in parse_qsl(query)):
        pairs = [
            (name, "***" if name.lower() in SECRET_PARAMS else value)
            for name, value in parse_qsl(query, keep_blank_values=True)
        ]
        query = urlencode(pairs, safe="*,:/")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def outcome_text(body: Any) -> str:
    """The human text of an OperationOutcome: its issues' diagnostics / details, joined."""
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return ""
    texts: list[str] = []
    for issue in body.get("issue") or []:
        if not isinstance(issue, dict):
            continue
        details = found if isinstance(found := issue.get("details"), dict) else {}
        codings = [c for c in details.get("coding") or [] if isinstance(c, dict)]
        candidates = [
            issue.get("diagnostics"),
            details.get("text"),
            *(c.get("display") or c.get("code") for c in codings),
        ]
        said = [str(t) for t in candidates if t and str(t) not in texts]
        # The element the issue is about (``Claim.diagnosis[0]``): a path, never a value
        where = [str(e) for e in (issue.get("expression") or issue.get("location") or [])
                 if isinstance(e, str) and _PATH.fullmatch(e)] \
            if isinstance(issue.get("expression") or issue.get("location"), list) else []
        if said and where:
            said[-1] = f"{said[-1]} (at {', '.join(where)})"
        texts.extend(said)
    return "; ".join(texts)


# A FHIRPath element path as servers put in OperationOutcome.issue.expression
_PATH = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\[\d+\])?(?:\.[A-Za-z][A-Za-z0-9_]*(?:\[\d+\])?)*"
                   r"(?:\.ofType\([A-Za-z]+\))?[A-Za-z0-9_.\[\]]*")


_TYPE_NAME = re.compile(r"[A-Z][A-Za-z]{1,63}")
_XML_DIAGNOSTICS = re.compile(r'<diagnostics\s+value="([^"]*)"')
_NOT_QUOTED = "not quoted: it may hold patient data"


def response_outcome(response: requests.Response) -> str:
    """What the server said: OperationOutcome text; else, for a body that is neither JSON nor
    FHIR XML (a gateway's HTML page), its start; never a resource or other JSON (PHI)."""
    text = response.text or ""
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        return _non_json_outcome(text)
    if from_outcome := outcome_text(body):
        return from_outcome
    kind = body.get("resourceType") if isinstance(body, dict) else None
    if isinstance(kind, str) and _TYPE_NAME.fullmatch(kind):
        return "an OperationOutcome without text" if kind == "OperationOutcome" else (
            f"a {kind} body ({_NOT_QUOTED})")
    return f"a JSON body that is not an OperationOutcome ({_NOT_QUOTED})"


def _non_json_outcome(text: str) -> str:
    head = text[:4000]
    if head.lstrip().startswith("<") and "hl7.org/fhir" in head:
        if "<OperationOutcome" in head:
            found = _XML_DIAGNOSTICS.findall(text)
            if found:
                return "; ".join(" ".join(d.split()) for d in found)[:OUTCOME_MAX_CHARS]
        return f"a FHIR XML body ({_NOT_QUOTED})"
    return " ".join(text.split())[:OUTCOME_MAX_CHARS]


_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


def html_page_said(text: str) -> str:
    """What an HTML page (a proxy's or gateway's error page) says: its title, else its first
    line of text; "" when ``text`` is not HTML. A page is not a resource body: no PHI."""
    head = text[:4000].lstrip()
    if not head.lower().startswith(("<!doctype html", "<html", "<head", "<body", "<title")):
        return ""
    if (title := _TITLE.search(head)) and (said := " ".join(title.group(1).split())):
        return f"an HTML page: {said}"[:OUTCOME_MAX_CHARS]
    body = re.sub(r"(?is)<(script|style)[^>]*>.*?</\1>", " ", head)
    lines = [" ".join(line.split()) for line in _TAG.sub("\n", body).splitlines()]
    first = next((line for line in lines if line), "")
    return f"an HTML page: {first}"[:OUTCOME_MAX_CHARS] if first else "an HTML page"


def error_type_for(status: int, *, paging_link: bool = False) -> type[FhirError]:
    """The error type an HTTP status stands for; ``paging_link`` marks a Bundle next link."""
    if paging_link and status in (404, 410):
        return PageExpiredError
    if status in (401, 403):
        return FhirAuthError
    if status == 429 or status >= 500:
        return FhirServerError
    return FhirError


def error_for_response(
    method: str, url: str, response: requests.Response, *, paging_link: bool = False
) -> FhirError:
    """The error a failed response stands for, with the server's own words."""
    error_type = error_type_for(response.status_code, paging_link=paging_link)
    return error_type(method, url, response.status_code, response_outcome(response))
