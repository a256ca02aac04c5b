"""What a source is: pages of claims, and the records a page of claims needs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from adapter.fhir.search import Query
from adapter.outcomes import Problem
from adapter.values import value

Resource = dict[str, Any]


@dataclass(frozen=True)
class Reads:
    """What one page of claims needs read: its patients' records, the resources its claims
    point at, and the sinks' own searches (by name). ``types`` and ``lines`` let a source
    pass over what cannot matter without parsing it: resource types the chart never reads,
    and lines a per-type test on the raw bytes says are of no interest (None: read all)."""

    patients: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()  # the page's B12 dates (ISO): notes are read for these only
    queries: Mapping[str, Query] = field(default_factory=dict)
    types: frozenset[str] | None = None
    lines: Mapping[str, LineTest] = field(default_factory=dict)


class LineTest(Protocol):
    """A resource of a type may matter when one of a few words occurs in its raw line
    (lower-cased first, if the test says so); ``adapter.evidence.needs`` makes them."""

    def found(self, block: bytes) -> list[int]:
        """Where in ``block`` (many lines) a word starts, in order."""
        ...

    def keeps(self, line: bytes) -> bool: ...

    @property
    def narrowed(self) -> bool:
        """Whether ``belongs`` may refuse a line the words were found in."""
        ...

    def belongs(self, line: bytes) -> bool: ...


@value
class Seen:
    """Resources passed over unread: only that they exist is known (``Type/id``), so a
    reference to one is not taken for a reference to nothing."""

    refs: tuple[str, ...]


@value
class Unbilled:
    """A claim whose raw line names no B12 product (the claim test found none of its words):
    known by its ``Type/id`` and skipped as billing no B12 injection, never parsed."""

    ref: str


@dataclass
class Records:
    """Resources to build a chart from (a ``Problem`` stands for one that could not be read),
    ``urn:uuid:`` aliases of Bundle entries, and the results of the sinks' searches."""

    resources: Iterable[Resource | Problem | Seen]
    aliases: Mapping[str, str] = field(default_factory=dict)
    found: dict[str, list[Resource]] = field(default_factory=dict)
    # patients the source says hold clinical notes on any day (a server reads only the notes
    # of the page's dates, so holding notes is asked apart: SPEC 4.2 note-missing)
    notes_held: frozenset[str] = frozenset()
    # what the source says once about itself (a server that does not support a note type)
    run_notes: tuple[str, ...] = ()
    # the source could read no clinical note at all (a server supporting no note type): the
    # note checks cannot be judged, and no patient may be said to have no note
    notes_unread: bool = False


class Source(Protocol):
    one_chart: bool  # True: records() is the same whatever the page; read it once, first

    def claim_pages(self) -> Iterator[Sequence[Resource | Problem | Unbilled]]: ...

    def records(self, reads: Reads) -> Records: ...
