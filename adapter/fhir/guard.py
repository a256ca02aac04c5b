"""The write guard: the adapter writes DetectedIssue and nothing else (SPEC section 7).

Every write URL, and every entry of a batch or transaction, is checked before it is sent:
its target must be exactly ``Type``, ``Type/id`` or ``Type?query`` of a writable type, on this
server, with a valid FHIR id. A path such as ``DetectedIssue/../Patient/x`` is refused.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit

from adapter.fhir.bundles import same_origin
from adapter.fhir.errors import WriteNotAllowedError

TYPE_RE = re.compile(r"[A-Z][A-Za-z]{1,63}")
ID_RE = re.compile(r"[A-Za-z0-9\-.]{1,64}")  # FHIR R4 id
READ_METHODS = frozenset({"GET", "HEAD"})


def write_target(base_url: str, url: str) -> tuple[str, str | None] | None:
    """``(type, id)`` a write URL addresses (id None for ``Type`` or ``Type?query``), or None
    when it is not exactly one resource type (and id) under this server's base."""
    if "://" in url:
        if not same_origin(base_url, url):
            return None
        path = urlsplit(url).path
        base_path = urlsplit(base_url).path.rstrip("/")
        if not path.startswith(base_path + "/"):
            return None
        path = path[len(base_path) + 1:]
    else:
        path = url.partition("?")[0].partition("#")[0].lstrip("/")
    segments = unquote(path).split("/")
    if not TYPE_RE.fullmatch(segments[0]):
        return None
    if len(segments) == 1:
        return segments[0], None
    if len(segments) == 2 and ID_RE.fullmatch(segments[1]) and segments[1] not in (".", ".."):
        return segments[0], segments[1]
    return None


class WriteGuard:
    """Refuses, before sending, any write outside ``writable`` resource types."""

    def __init__(self, base_url: str, writable: frozenset[str]) -> None:
        self.base_url = base_url
        self.writable = writable

    def check_url(self, method: str, url: str) -> None:
        target = write_target(self.base_url, url)
        if target is None or target[0] not in self.writable:
            self._refuse(method, url, f"{method} {url} writes {target[0] if target else '?'}")

    def check_bundle(self, bundle: dict[str, Any]) -> None:
        """Every entry of a batch/transaction: reads pass, writes must be to writable types,
        and the resource sent must be of the type its URL names (a PATCH sends Parameters)."""
        entries = bundle.get("entry")
        for index, entry in enumerate(entries if isinstance(entries, list) else []):
            request = entry.get("request") if isinstance(entry, dict) else None
            if not isinstance(request, dict) or not request.get("method") or not request.get("url"):
                self._refuse("POST", self.base_url, f"entry {index} has no request method and url")
            method = str(request["method"]).upper()
            if method in READ_METHODS:
                continue
            url = str(request["url"])
            target = write_target(self.base_url, url)
            resource = entry.get("resource")
            sent = resource.get("resourceType") if isinstance(resource, dict) else None
            if target is None or target[0] not in self.writable:
                self._refuse("POST", self.base_url,
                             f"entry {index} {method} {url} writes {target[0] if target else '?'}")
            elif method != "PATCH" and sent is not None and sent != target[0]:
                self._refuse("POST", self.base_url, f"entry {index} {method} {url} writes {sent}")

    def _refuse(self, method: str, url: str, what: str) -> None:
        allowed = ", ".join(sorted(self.writable)) or "nothing"
        raise WriteNotAllowedError(method, url, None,
                                   f"{what}; this client may write only {allowed}")
