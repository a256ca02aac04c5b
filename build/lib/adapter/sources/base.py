"""What a source is: pages of claims, and the records a page of claims needs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from adapter.fhir.search import Query
from adapter.outcomes import Problem

Resource = dict[str, Any]


@dataclass(frozen=True)
class Reads:
    """What one page of claims needs read: its patients' records, the resources its claims
    point at, and the sinks' own searches (by name)."""

    patients: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    queries: Mapping[str, Query] = field(default_factory=dict)


@dataclass
class Records:
    """Resources to build a chart from (a ``Problem`` stands for one that could not be read),
    ``urn:uuid:`` aliases of Bundle entries, and the results of the sinks' searches."""

    resources: Iterable[Resource | Problem]
    aliases: Mapping[str, str] = field(default_factory=dict)
    found: dict[str, list[Resource]] = field(default_factory=dict)


class Source(Protocol):
    one_chart: bool  # True: records() is the same whatever the page; read it once, first

    def claim_pages(self) -> Iterator[Sequence[Resource | Problem]]: ...

    def records(self, reads: Reads) -> Records: ...
