"""How the driver reads a source's records and judges its pages: the serial plan every mode
uses, which a source-specific plan may replace (``adapter.file_plan``: a pre-scan of the claim
files and worker processes for a big file export). The driver knows only this protocol, never
the kind of source.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from adapter.evidence.chart import Chart
from adapter.outcomes import PageOutcome, Problem
from adapter.sources.base import Reads, Records, Resource, Seen, Source, Unbilled

Page = Sequence[Resource | Problem | Unbilled]
Pages = Callable[[], Iterator[Page]]
Judge = Callable[[Page], PageOutcome]


def take(chart: Chart, problems: list[Problem], item: Resource | Problem | Seen) -> None:
    """One item of a records pass into the chart."""
    if isinstance(item, Problem):
        problems.append(item)
    elif isinstance(item, Seen):
        chart.seen(item.refs)
    else:
        chart.add(item)


class ReadPlan:
    """One process, in source order: the records read into the chart as they come, each
    page judged as it comes."""

    def wanted(self) -> frozenset[str] | None:
        """The only references the records passed over unread need be remembered for (None:
        all of them; no pre-scan told)."""
        return None

    def note_patients(self) -> frozenset[str] | None:
        """The only patients whose clinical notes need be kept: those of the B12 claims
        (None: all; no pre-scan told). Asked after ``wanted``."""
        return None

    def claim_pages(self, source: Source) -> Iterator[Page]:
        """The source's claims, a page at a time."""
        return source.claim_pages()

    def read_chart(self, records: Records, reads: Reads, chart: Chart) -> list[Problem]:
        """Fill ``chart`` from ``records``; the problems met doing it."""
        problems: list[Problem] = []
        for item in records.resources:
            take(chart, problems, item)
        return problems

    def history_claims(self, pages: Pages) -> Iterator[Resource]:
        """Every claim of the source, for the injection history a payer policy counts (SPEC
        4.4): here a pass over the claim pages; unreadable ones are left out."""
        return (item for page in pages() for item in page if isinstance(item, dict))

    def judged(self, pages: Pages, judge: Judge) -> Iterator[PageOutcome]:
        """``judge`` of each page, in order."""
        for page in pages():
            yield judge(page)


SERIAL = ReadPlan()
