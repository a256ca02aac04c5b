"""Resources already in memory (a posted Bundle, a test's chart, one patient's partition)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from adapter.outcomes import Problem
from adapter.sources import CLAIM_TYPES
from adapter.sources.base import Reads, Records
from adapter.sources.bundles import unpack

Resource = dict[str, Any]


class MemorySource:
    """Every Claim among ``resources`` (Bundles unpacked), checked against all the rest."""

    one_chart = True

    def __init__(self, resources: Iterable[Resource]) -> None:
        self.aliases: dict[str, str] = {}
        self._claims: list[Resource | Problem] = []
        self._records: list[Resource | Problem] = []
        for resource in resources:
            if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
                self._records.append(Problem("(resource)", "not a FHIR resource (no "
                                             "resourceType)"))
                continue
            items = (unpack(resource, "Bundle", self.aliases)
                     if resource["resourceType"] == "Bundle" else [resource])
            for item in items:
                claim = not isinstance(item, Problem) and item.get("resourceType") in CLAIM_TYPES
                (self._claims if claim else self._records).append(item)

    def claim_pages(self) -> Iterator[Sequence[Resource | Problem]]:
        if self._claims:
            yield self._claims

    def records(self, reads: Reads) -> Records:
        return Records(self._records, self.aliases)
