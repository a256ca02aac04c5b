"""A search as a value, read lazily page by page (in the spirit of fhirpy's SearchSet).

``Query`` is the search itself: a resource type and parameters, no I/O, usable as a batch
entry. ``Search`` binds a query to a client: iterate it for the matched resources; the pages
are fetched as they are needed, following ``Bundle.link[next]`` verbatim (HAPI encodes its
paging state there), never rebuilt from our own parameters.

Paging is guarded: a next link to a page already read, to another host, a page holding only
entries already read, or more than ``max_pages`` pages stops the search with an error instead
of looping; a page link that expired (HAPI: 410 after a while) restarts the search from the
first page, passing over what was already read. A search read to its end whose ``total`` says
more matches than were read ends with an error too (after its last page), naming the search:
results went missing, and a run must not pass that for a complete one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from adapter.fhir.bundles import links, matches, next_link, resolve_link, same_origin
from adapter.fhir.errors import FhirError, PageExpiredError
from adapter.fhir.limits import DEFAULT_MAX_PAGES

Bundle = dict[str, Any]
ParamValue = str | int
Params = Mapping[str, ParamValue | Sequence[ParamValue]] | Iterable[tuple[str, ParamValue]]
# fetch(url, is_next_link) -> the Bundle at url; the client supplies it (I/O lives there).
FetchPage = Callable[[str, bool], Bundle]

_TYPE_RE = re.compile(r"[A-Z][A-Za-z]{1,63}")
MAX_RESTARTS = 2

logger = logging.getLogger("adapter.fhir")


@dataclass(frozen=True)
class Query:
    """``Query("Condition", [("patient", "Patient/a,Patient/b")])``: what to search for."""

    resource_type: str
    params: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not _TYPE_RE.fullmatch(self.resource_type):
            raise ValueError(f"not a FHIR resource type: {self.resource_type!r}")

    @classmethod
    def of(cls, resource_type: str, params: Params | None = None, **more: ParamValue) -> Query:
        return cls(resource_type, tuple(_pairs(params)) + tuple(_pairs(more)))

    def where(self, params: Params | None = None, **more: ParamValue) -> Query:
        """The same query with more parameters (a parameter may repeat: ``_lastUpdated``)."""
        return Query(self.resource_type, self.params + tuple(_pairs(params)) + tuple(_pairs(more)))

    def has(self, name: str) -> bool:
        return any(key == name for key, _ in self.params)

    def url(self) -> str:
        """Relative to the server base, e.g. ``Condition?patient=Patient/a``."""
        if not self.params:
            return self.resource_type
        return f"{self.resource_type}?{urlencode(self.params, safe=',:/$', quote_via=quote)}"


@dataclass
class _Read:
    """What a search has read so far, across restarts."""

    pages: int = 0
    matched: int = 0
    total: int | None = None  # the last page's Bundle.total, when the server sent one


class Search:
    """A query bound to a client's fetcher. Iterating yields the matched resources."""

    def __init__(self, fetch: FetchPage, base_url: str, query: Query,
                 first_page: Bundle | None = None, max_pages: int = DEFAULT_MAX_PAGES) -> None:
        self._fetch = fetch
        self._base_url = base_url
        self.query = query
        self._first_page = first_page
        self.max_pages = max_pages

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for page in self.pages():
            yield from matches(page, self.query.resource_type)

    def pages(self) -> Iterator[Bundle]:
        """Each page as a searchset Bundle (includes kept), lazily; entries already yielded
        by an earlier page are left out of later ones."""
        seen_entries: set[str] = set()
        read = _Read()
        restarts = replay = 0
        start: Bundle | None = self._first_page
        while True:
            walked = 0
            try:
                for page in self._walk(start, seen_entries, replay, read):
                    walked += 1
                    yield page
                break
            except PageExpiredError:
                restarts += 1
                if restarts > MAX_RESTARTS:
                    raise
                replay, start = max(replay, walked), None  # from the first page, by the query
        if read.total is not None and read.matched < read.total:
            url = resolve_link(self._base_url, self.query.url())
            message = (f"the server's total says {read.total} matches, {read.matched} were read "
                       "and there is no next link: results are missing")
            logger.warning("search %s: %s", self.query.resource_type, message)
            raise FhirError("GET", url, None, message)

    def _walk(self, start: Bundle | None, seen_entries: set[str],
              replay: int, read: _Read) -> Iterator[Bundle]:
        """The pages from ``start`` (else the query's first page); the first ``replay`` pages
        were read before a restart and may hold only entries already read."""
        first = resolve_link(self._base_url, self.query.url())
        seen_urls = {first}
        bundle = start if start is not None else self._fetch(first, False)
        if start is not None:
            seen_urls.update(resolve_link(self._base_url, link) for link in links(start, "self"))
        number = 0
        while True:
            read.pages += 1
            raw, fresh = _raw(bundle), _new_entries(bundle, seen_entries)
            link = next_link(bundle)
            number += 1
            if raw and not fresh and link is not None and number > replay:
                raise FhirError("GET", first, None,
                                "next page holds only entries already read (paging does not end)")
            page = bundle if len(fresh) == len(raw) else {**bundle, "entry": fresh}
            read.matched += sum(1 for _ in matches(page, self.query.resource_type))
            total = bundle.get("total")
            if isinstance(total, int) and not isinstance(total, bool) and total >= 0:
                read.total = total
            yield page
            if link is None:
                return
            url = resolve_link(self._base_url, link)
            if url in seen_urls:
                raise FhirError("GET", url, None, "next link repeats a page already fetched")
            if not same_origin(self._base_url, url):
                raise FhirError("GET", url, None, f"next link leaves the server {self._base_url}")
            if read.pages >= self.max_pages:
                raise FhirError("GET", first, None,
                                f"stopped after {read.pages} pages, the most a search may read "
                                "(--max-pages)")
            seen_urls.add(url)
            bundle = self._fetch(url, True)


def _raw(bundle: Bundle) -> list[Any]:
    entries = bundle.get("entry")
    return entries if isinstance(entries, list) else []


def _new_entries(bundle: Bundle, seen: set[str]) -> list[Any]:
    """The page's entries not read before (recording them); entries are known by ``Type/id``
    (else by fullUrl)."""
    raw = _raw(bundle)
    fresh = []
    for entry in raw:
        key = _entry_key(entry)
        if key is None or key not in seen:
            fresh.append(entry)
            if key is not None:
                seen.add(key)
    return fresh


def _entry_key(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return None
    resource = entry.get("resource")
    if isinstance(resource, dict) and isinstance(resource.get("id"), str):
        return f"{resource.get('resourceType')}/{resource['id']}"
    full_url = entry.get("fullUrl")
    return full_url if isinstance(full_url, str) else None


def _pairs(params: Params | None) -> list[tuple[str, str]]:
    if not params:
        return []
    items: Iterable[tuple[str, Any]] = params.items() if isinstance(params, Mapping) else params
    pairs: list[tuple[str, str]] = []
    for name, value in items:
        values = value if isinstance(value, list | tuple) else [value]
        pairs.extend((str(name), str(v)) for v in values)
    return pairs
