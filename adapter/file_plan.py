"""The read plan of a file export (``check`` and ``audit`` of files): a pre-scan of the claim
files says which records the B12 claims point at, and on a big export worker processes read
the records and judge the pages (``adapter.parallel``) where that pays.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import orjson

from adapter import parallel
from adapter.evidence.chart import Chart
from adapter.evidence.needs import chart_types, claim_test, line_patients, line_tests
from adapter.evidence.read_claims import line_links
from adapter.mappings import Mappings
from adapter.outcomes import PageOutcome, Problem
from adapter.read_plan import Judge, Page, Pages, ReadPlan
from adapter.rules.status import NOT_A_SERVICE_USES, SKIPPED_CLAIM_STATUSES
from adapter.sources.base import Reads, Records, Resource, Source
from adapter.sources.files import FileSource

log = logging.getLogger(__name__)


class FilePlan(ReadPlan):
    """``workers`` processes (1: this one) over ``source``, a file export."""

    def __init__(self, source: FileSource, mappings: Mappings, workers: int | None = 1) -> None:
        self.source = source
        self.mappings = mappings
        self.workers = workers  # None: chosen after the claims pre-scan (``parallel.choose``)
        self._b12_claims: int | None = None  # claim lines that may bill B12 (pre-scan)
        self._note_patients: frozenset[str] | None = None  # their patients (pre-scan)

    @classmethod
    def auto(cls, source: FileSource, mappings: Mappings, workers: int | None) -> FilePlan:
        """``workers`` processes; None: as many as pay, chosen once the claims pre-scan has
        counted the claims that may bill B12 (``adapter.parallel.choose``)."""
        return cls(source, mappings, workers)

    def wanted(self) -> frozenset[str] | None:
        """What the B12 claims point at, from a pre-scan of the claim files that parses only
        the lines that may bill B12 (None: no pre-scan, as when claims sit in Bundles). Only
        these of the records passed over unread need be remembered."""
        lines = self.source.prescan_claims(claim_test(self.mappings))
        if lines is None:
            return None
        wanted: set[str] = set()
        patients: set[str] | None = set()
        self._b12_claims = 0
        for line in lines:  # B12 or not, in scope or not: a few more ids kept, no matter
            wanted |= line_links(line)
            named = line_patients(line)
            if named is None:
                patients = None
            elif patients is not None:
                patients.update(named)
            self._b12_claims += 1
        if patients is not None:  # only these patients' notes and records are read
            self._note_patients = frozenset(patients)
        if self.workers is None:
            self._choose_workers()
        if any(not ref[:1].isupper() for ref in wanted):  # urn:uuid:, #contained: no filter
            return None
        return frozenset(wanted)

    def _choose_workers(self) -> None:
        reads = Reads(types=chart_types(), lines=line_tests(self.mappings))
        self.workers, why = parallel.choose(self._b12_claims, self.source.scanned_bytes(reads))
        log.debug("%s", why)

    def note_patients(self) -> frozenset[str] | None:
        return self._note_patients

    def history_claims(self, pages: Pages) -> Iterator[Resource]:
        """The claims that may bill B12, from a pre-scan of the claim files (each such line
        parsed); where claims sit elsewhere (Bundles, files of mixed types), a claim pass."""
        lines = self.source.prescan_claims(claim_test(self.mappings))
        if lines is None:
            return super().history_claims(pages)
        return (parsed for line in lines if isinstance(parsed := _parsed(line), dict))

    def claim_pages(self, source: Source) -> Iterator[Page]:
        """The claims, the lines of the claim files that bill no B12 passed over unparsed
        (``FileSource.claim_pages``): on a real export nearly all of them. A line that names
        a status or use that skips a claim is parsed, so it is skipped for that reason as
        when it is read (``rules.scope``)."""
        return self.source.claim_pages(
            claim_test(self.mappings, SKIPPED_CLAIM_STATUSES | NOT_A_SERVICE_USES))

    def read_chart(self, records: Records, reads: Reads, chart: Chart) -> list[Problem]:
        if self.workers is None:  # no pre-scan asked (``wanted``)
            self._choose_workers()
        assert self.workers is not None
        scanned = self.source.scanned_bytes(reads) if self.workers > 1 else 0
        if self.workers > 1 and parallel.records_pay(self.workers, scanned, self._b12_claims):
            return parallel.read_chart(self.source, reads, chart, self.workers)
        return super().read_chart(records, reads, chart)

    def judged(self, pages: Pages, judge: Judge) -> Iterator[PageOutcome]:
        if self.workers is None:
            self._choose_workers()
        assert self.workers is not None
        if self.workers > 1:
            return parallel.judged_pages(pages, judge, self.workers)
        return super().judged(pages, judge)


def _parsed(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return None  # the claim pass names it
