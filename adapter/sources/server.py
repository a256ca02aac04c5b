"""Resources from a FHIR server: pages of claims, and a page's records in one batch.

A page of claims costs one search request; the records of all its patients (the searches in
``adapter.evidence.needs``) and the sinks' own searches cost one batch request, plus next
pages only when a result overflows a page, never a request per claim.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from adapter.evidence.needs import LINKED_TYPES, RecordSearch
from adapter.fhir import FhirClient, FhirNotSupportedError, Query, Search, includes, matches
from adapter.notes.documents import binary_ids
from adapter.outcomes import Problem
from adapter.sources import CLAIM_TYPES
from adapter.sources.base import Reads, Records

RECORDS_PAGE_SIZE = 1000
_HELD = "\x00notes held by "  # the name of a patient's note-presence search in the batch
CLAIM_TYPES_READ = ("Claim", "ExplanationOfBenefit")  # searched in this order
Resource = dict[str, Any]


@dataclass(frozen=True)
class ClaimSelection:
    """Which claims to check: ids, a patient, changed since an instant, or a raw search."""

    ids: tuple[str, ...] = ()
    patient: str | None = None
    since: str | None = None
    search: str | None = None
    oldest_first: bool = False  # sort by _lastUpdated, as a watermark needs

    def __post_init__(self) -> None:
        if self.since is not None and not _is_instant(self.since):
            raise ValueError(f"--since must be a date or an instant (2026-03-01, "
                             f"2026-03-01T08:00:00Z): {self.since!r}")
        path, sep, _ = (self.search or "").partition("?")
        if sep and path.strip("/") not in CLAIM_TYPES:
            raise ValueError("--search must be a Claim or ExplanationOfBenefit search "
                             f"('Claim?...'): {self.search!r}")

    def queries(self) -> list[Query]:
        """A search per claim type: Claims, then ExplanationOfBenefits (payer data is
        checked like a claim), or the one type ``search`` names."""
        path, sep, _ = (self.search or "").partition("?")
        types = [path.strip("/")] if sep else list(CLAIM_TYPES_READ)
        return [self.query(rtype) for rtype in types]

    def query(self, resource_type: str = "Claim") -> Query:
        params: list[tuple[str, str]] = []
        if self.search:
            path, sep, query = self.search.partition("?")
            params += parse_qsl(query if sep else path, keep_blank_values=True)
        if self.ids:
            params.append(("_id", ",".join(self.ids)))
        if self.patient:
            target = self.patient if "/" in self.patient else f"Patient/{self.patient}"
            params.append(("patient", target))
        if self.since:
            params.append(("_lastUpdated", f"ge{self.since}"))
        if self.since or self.oldest_first:
            params.append(("_sort", "_lastUpdated"))
        if self.oldest_first:
            # A sync's watermark must not pass a claim the paging skipped: a server paging
            # by offset slides an unread claim into a page already read when another is
            # updated mid-run, and only its total (which Medplum gives only when asked) says
            # that fewer were read than matched (``fhir.search``: the run then keeps it).
            params.append(("_total", "accurate"))
        return Query(resource_type, tuple(params))


_INSTANT = re.compile(r"(\d{4})(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?"
                      r"(Z|[+-]\d{2}:\d{2})?)?)?)?")


def _is_instant(text: str) -> bool:
    """A FHIR date or dateTime ``_lastUpdated`` takes (``yesterday`` is not one: sent as
    ``geyesterday`` a server ignores it or refuses it)."""
    if not _INSTANT.fullmatch(text):
        return False
    try:
        datetime.fromisoformat((text + "-01-01"[len(text) - 4:] if len(text) < 10 else text)
                               .replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


class ServerSource:
    """Reads claims and records through a ``FhirClient``; knows nothing of the rules."""

    one_chart = False

    def __init__(self, client: FhirClient, selection: ClaimSelection,
                 searches: Sequence[RecordSearch]) -> None:
        self.client = client
        self.selection = selection
        self.searches = tuple(searches)
        # note types (``dated`` searches) the server said it does not support -> its words:
        # not asked again; the notes are read from the other types
        self.unsupported: dict[str, str] = {}
        self._note_types = tuple(dict.fromkeys(s.resource_type for s in self.searches
                                               if s.dated))

    def claim_pages(self) -> Iterator[Sequence[Resource | Problem]]:
        """The selected claims a page at a time; then a claim asked for by id that no
        search returned, as an error: an engine that checks one claim a call must tell
        "not there" from "checked and clean" (SPEC 5: exit 1)."""
        wanted = dict.fromkeys(self.selection.ids)
        for query in self.selection.queries():
            for bundle in self.client.search(query).pages():
                if page := list(matches(bundle, query.resource_type)):
                    for resource in page:
                        wanted.pop(resource.get("id"), None)
                    yield page
        if wanted:
            yield [Problem(claim if "/" in claim else f"Claim/{claim}",
                           "not found: no Claim or ExplanationOfBenefit with this id on the "
                           "server matches the selection (ids are the server's: `load` "
                           "without --keep-ids gives new ones)") for claim in wanted]

    def records(self, reads: Reads) -> Records:
        """The page's records and the sinks' searches, in one batch; raises ``FhirError``."""
        ids = ",".join(ref.rpartition("/")[2] for ref in reads.patients)
        named: list[tuple[str | None, Query]] = []
        searches = [s for s in self.searches if s.resource_type not in self.unsupported]
        if reads.patients:
            named += [(None, self._query(search, ",".join(reads.patients), ids, reads.dates))
                      for search in searches]
            if reads.dates and any(s.resource_type == "DocumentReference" and s.dated
                                   for s in searches):
                # whether each patient holds a note on any day: one entry each, same batch
                named += [(f"{_HELD}{patient}", Query.of(
                    "DocumentReference", patient=patient, _count=1, _elements="subject"))
                    for patient in reads.patients]
        named += list(reads.queries.items())
        records: list[Resource] = []
        found: dict[str, list[Resource]] = {}
        held: set[str] = set()
        refused: list[str] = []
        for (name, query), search in zip(named, self.client.batch_searches(
                [q for _, q in named]), strict=True):
            if isinstance(search, FhirNotSupportedError) and self._note_search(name, query):
                if query.resource_type not in self.unsupported:
                    self.unsupported[query.resource_type] = " ".join(
                        f"{search.status}: {search.outcome}"[:200].split())
                    refused.append(query.resource_type)
                continue
            if not isinstance(search, Search):
                raise search
            rtype = search.query.resource_type
            if name is not None and name.startswith(_HELD):
                first = next(search.pages(), None)
                if first is not None and any(True for _ in matches(first, rtype)):
                    held.add(name[len(_HELD):])
                continue
            for page in search.pages():
                if name is None:  # the record: matches and what they _include (Medications)
                    records += [*matches(page, rtype), *includes(page, rtype)]
                else:
                    found.setdefault(name, []).extend(matches(page, rtype))
        records += self._missing_links(reads.links, records)
        records += self._binaries(records)
        unread = bool(self._note_types) and all(t in self.unsupported for t in self._note_types)
        return Records(records, {}, found, frozenset(held),
                       run_notes=tuple(self._refused_note(t) for t in refused)
                       + ((self._no_notes(),) if unread and refused else ()),
                       notes_unread=unread)

    def _note_search(self, name: str | None, query: Query) -> bool:
        """A search of clinical notes (a note type of the page's dates, or whether a patient
        holds notes): the run can go on without it."""
        return query.resource_type in self._note_types and (
            name is None or name.startswith(_HELD))

    def _refused_note(self, rtype: str) -> str:
        others = [t for t in self._note_types if t not in self.unsupported]
        read = (f"notes are read from {' and '.join(others)}" if others
                else "no note can be read")
        return (f"the server does not support {rtype} ({self.unsupported[rtype]}): the "
                f"charts' {rtype} notes were not read; {read}")

    def _no_notes(self) -> str:
        return (f"the server supports none of the note types ({', '.join(self._note_types)}): "
                "the note checks (note-missing and the other note-* findings) were not judged")

    def _query(self, search: RecordSearch, patients: str, ids: str,
               dates: Sequence[str] = ()) -> Query:
        query = Query(search.resource_type, search.params).where(
            {search.by: ids if search.by == "_id" else patients}, _count=RECORDS_PAGE_SIZE)
        if search.dated and dates:  # a day either side: a timestamp's day is the clinic's
            first, last = date.fromisoformat(min(dates)), date.fromisoformat(max(dates))
            query = query.where([("date", f"ge{(first - timedelta(days=1)).isoformat()}"),
                                 ("date", f"lt{(last + timedelta(days=2)).isoformat()}")])
        return query

    def _binaries(self, records: list[Resource]) -> list[Resource]:
        """The Binaries the notes' attachments point at (``url``), in one batch."""
        have = {r.get("id") for r in records if r.get("resourceType") == "Binary"}
        ids = sorted({rid for r in records for rid in binary_ids(r)} - have)
        if not ids:
            return []
        return list(self.client.batch_search([Query.of("Binary", _id=",".join(ids))])[0])

    def _missing_links(self, links: Sequence[str], records: list[Resource]) -> list[Resource]:
        """Resources the claims reference that the patient searches did not return."""
        have = {f"{r.get('resourceType')}/{r.get('id')}" for r in records}
        wanted: dict[str, list[str]] = {}
        for ref in links:
            rtype, _, rid = ref.partition("/")
            if rtype in LINKED_TYPES and rid and ref not in have:
                wanted.setdefault(rtype, []).append(rid)
        queries = [Query.of(rtype, _id=",".join(sorted(ids))) for rtype, ids in wanted.items()]
        return [r for search in self.client.batch_search(queries) for r in search]
