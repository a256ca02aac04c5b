"""Claims handed to the adapter (a posted Claim, a Subscription notification's resources),
checked against a FHIR server's chart: the claims are given, the records are the server's."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from adapter.outcomes import Problem
from adapter.sources.base import Reads, Records
from adapter.sources.server import ServerSource

Resource = dict[str, Any]


class PostedClaimsSource:
    """One page holding ``claims``; each page's records are read by ``server`` in one batch."""

    one_chart = False

    def __init__(self, claims: Sequence[Resource], server: ServerSource) -> None:
        self.claims = list(claims)
        self.server = server

    def claim_pages(self) -> Iterator[Sequence[Resource | Problem]]:
        if self.claims:
            yield self.claims

    def records(self, reads: Reads) -> Records:
        return self.server.records(reads)
