"""Walking a FHIR search: follow `Bundle.link[next]` verbatim, and sort entries by mode.

Servers encode their paging state in the next link (HAPI: `?_getpages=..&_getpagesoffset=..`),
so the link is followed exactly as given, never rebuilt from our own parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

from adapter.fhir.errors import FhirBadResourceError, PagingLoopError

Bundle = dict[str, Any]
# fetch(url, is_next_link) -> the Bundle at url; the client supplies it (I/O lives there).
FetchPage = Callable[[str, bool], Bundle]


def next_link(bundle: Bundle) -> str | None:
    """The Bundle's `link[relation=next].url`, if any."""
    return next(iter(_links(bundle, "next")), None)


def _links(bundle: Bundle, relation: str) -> list[str]:
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
    """True when `url` is on the same scheme, host and port as the base (safe for credentials)."""
    base, other = urlsplit(base_url), urlsplit(url)
    return (base.scheme, base.netloc.lower()) == (other.scheme, other.netloc.lower())


def follow_pages(fetch: FetchPage, base_url: str, start: str | Bundle) -> Iterator[Bundle]:
    """Yield each page of a search until there is no next link.

    `start` is the first page's URL, or a page already in hand (e.g. from a batch entry).
    Raises PagingLoopError when a next link points at a page already fetched, and
    FhirBadResourceError when it leaves the server (credentials must not follow it).
    """
    seen: set[str] = set()
    if isinstance(start, str):
        seen.add(start)
        bundle = fetch(start, False)
    else:
        bundle = start
        seen.update(resolve_link(base_url, link) for link in _links(bundle, "self"))
    while True:
        yield bundle
        link = next_link(bundle)
        if link is None:
            return
        url = resolve_link(base_url, link)
        if url in seen:
            raise PagingLoopError("GET", url, None, "next link repeats a page already fetched")
        if not same_origin(base_url, url):
            raise FhirBadResourceError("GET", url, None, f"next link leaves the server {base_url}")
        seen.add(url)
        bundle = fetch(url, True)


def matches(bundle: Bundle, resource_type: str) -> Iterator[dict[str, Any]]:
    """The resources a search matched: `search.mode` "match", or no mode and the searched type.

    Included resources (`_include`, mode "include") and OperationOutcome entries are skipped;
    without a mode, the type tells a match from an include.
    """
    for resource, mode in _entries(bundle):
        if mode == "match" or (mode is None and resource.get("resourceType") == resource_type):
            yield resource


def includes(bundle: Bundle, resource_type: str) -> Iterator[dict[str, Any]]:
    """The resources a search pulled in with `_include`/`_revinclude` (the rest of `matches`)."""
    for resource, mode in _entries(bundle):
        if mode == "include" or (
            mode is None and resource.get("resourceType") not in (resource_type, "OperationOutcome")
        ):
            yield resource


def _entries(bundle: Bundle) -> Iterator[tuple[dict[str, Any], str | None]]:
    for entry in bundle.get("entry") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            continue
        search = entry.get("search") if isinstance(entry.get("search"), dict) else {}
        yield entry["resource"], search.get("mode")
