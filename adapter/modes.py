"""What each command runs: a source and its sinks, through the one driver.

The CLI turns arguments into one call here (the HTTP service's server check too). Nothing
here prints.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from adapter.driver import Driver, RunTotals, Sink
from adapter.file_plan import FilePlan
from adapter.judge import Judge
from adapter.outcomes import PageOutcome, Problem
from adapter.output.files import DetectedIssueFile
from adapter.output.report import Report
from adapter.sources.base import Source
from adapter.sources.files import FileSource

if TYPE_CHECKING:  # the server modes import their transport only when they run
    from adapter.fhir import FhirClient
    from adapter.output.audit.collect import Audit, Period
    from adapter.output.writeback import WriteTotals
    from adapter.sources.server import ClaimSelection
    from adapter.sync import SyncOutcome


def check_files(judge: Judge, path: Path, out: Path | None = None, *,
                workers: int | None = None, progress: Sink | None = None) -> Report:
    """Check a file source; with ``out``, also write DetectedIssue.ndjson and report.json.
    ``workers`` processes (None: as many as pay, ``adapter.parallel.choose``)."""
    source = FileSource.open(path)
    plan = FilePlan.auto(source, judge.mappings, workers)
    report = Report()
    sinks: list[Sink] = [report]
    if out is not None:
        sinks.append(DetectedIssueFile(out, datetime.now(UTC)))
    if progress is not None:
        sinks.append(progress)
    Driver(source, judge.policy, judge.mappings, sinks, plan=plan).run()
    if out is not None:
        with (out / "report.json").open("w", encoding="utf-8", errors="backslashreplace") as file:
            report.write_json(file)
            file.write("\n")
    return report


@dataclass
class ServerRun:
    report: Report
    writes: WriteTotals
    totals: RunTotals

    @property
    def failed(self) -> bool:
        return bool(self.totals.read_failures or self.writes.failed)


def check_server(judge: Judge, client: FhirClient, selection: ClaimSelection, *,
                 dry_run: bool, max_entries: int, sinks: Sequence[Sink] = ()) -> ServerRun:
    """Check the selected claims on a server and write their DetectedIssues back; ``sinks``
    (a progress bar) see every page too."""
    from adapter.evidence.needs import record_searches
    from adapter.sources.server import ServerSource

    source = ServerSource(client, selection, record_searches(judge.mappings))
    return check_against(judge, client, source, dry_run=dry_run, max_entries=max_entries,
                         sinks=sinks)


def check_against(judge: Judge, client: FhirClient, source: Source, *, dry_run: bool,
                  max_entries: int, sinks: Sequence[Sink] = ()) -> ServerRun:
    """Check the claims of ``source`` (a server's, or claims handed in beside a server's
    chart) and write their DetectedIssues back to ``client``'s server; ``sinks`` see every
    page too (the service keeps the outcomes)."""
    from adapter.output.writeback import WriteBack

    report = Report()
    writeback = WriteBack(client, dry_run=dry_run, max_entries=max_entries)
    totals = Driver(source, judge.policy, judge.mappings, [report, *sinks, writeback]).run()
    report.errors.extend(writeback.problems)
    return ServerRun(report, writeback.totals, totals)


def sync(judge: Judge, client: FhirClient, state: Path, *, dry_run: bool, max_entries: int,
         overlap: timedelta, max_claims: int | None,
         progress: TextIO | None = None) -> tuple[ServerRun, SyncOutcome]:
    """The scheduled run: claims changed since the last good run, under a lock."""
    from adapter.output.writeback import WriteBack
    from adapter.sync import run_sync

    report = Report()
    writeback = WriteBack(client, dry_run=dry_run, max_entries=max_entries)
    sinks: list[Sink] = [report, writeback]
    if progress is not None:
        sinks.append(Progress(writeback.totals, progress))
    outcome = run_sync(client, judge.policy, judge.mappings, writeback, sinks, state,
                       overlap, max_claims)
    report.errors.extend(writeback.problems)
    report.errors.extend(outcome.problems)  # why the watermark could not move
    return ServerRun(report, writeback.totals, outcome.totals), outcome


class Progress(Sink):
    """A progress line on a terminal; one JSON log line per page otherwise."""

    def __init__(self, writes: WriteTotals, stream: TextIO = sys.stderr) -> None:
        self.writes = writes
        self.stream = stream
        self.pages = self.claims = self.errors = 0
        self._show: Callable[[], None] = self._line if stream.isatty() else self._json

    def write(self, page: PageOutcome) -> None:
        self.pages += 1
        self.claims += len(page.claims)
        self.errors += len(page.problems) + sum(len(o.problems) for o in page.claims)
        self._show()

    def _line(self) -> None:
        w = self.writes
        self.stream.write(f"\r  pages {self.pages}  claims {self.claims}  created {w.created}  "
                          f"updated {w.updated}  cancelled {w.cancelled}  failed {w.failed}")
        self.stream.flush()

    def _json(self) -> None:
        w = self.writes
        self.stream.write(json.dumps({
            "event": "page", "page": self.pages, "claims": self.claims, "errors": self.errors,
            "created": w.created, "updated": w.updated, "cancelled": w.cancelled,
            "failed": w.failed,
        }) + "\n")


# --- audit: the coder's review as one HTML page (adapter/output/audit; the `audit` extra) ----


@dataclass
class AuditRun:
    report: Report  # the run's errors and counts, for the exit status
    audit: Audit
    failed: bool = False  # a server read failed

    @property
    def sampled(self) -> int:
        return sum(len(s.rows) for s in self.audit.sample)


def audit_files(judge: Judge, path: Path, out: Path, *, period: Period | None = None,
                sample_size: int = 10, show_names: bool = False,
                link_base: str | None = None) -> AuditRun:
    """The audit page of a file source, written to ``out``."""
    from adapter.output.audit.collect import AuditSink

    report = Report()
    sink = AuditSink(judge.policy, period=period, sample_size=sample_size,
                     show_names=show_names)
    source = FileSource.open(path)
    Driver(source, judge.policy, judge.mappings, [report, sink],
           plan=FilePlan(source, judge.mappings)).run()
    run = AuditRun(report, sink.audit())
    _write_audit(run.audit, out, str(path), link_base)
    return run


def audit_server(judge: Judge, client: FhirClient, selection: ClaimSelection, out: Path, *,
                 period: Period | None = None, sample_size: int = 10,
                 show_names: bool = False, link_base: str | None = None) -> AuditRun:
    """The audit page of the selected claims on a server, written to ``out``. Reads only:
    nothing is written back. Provider and facility names are read at the end, by id."""
    from adapter.evidence.needs import record_searches
    from adapter.fhir.errors import FhirError
    from adapter.fhir.redaction import redact_text
    from adapter.output.audit.collect import AuditSink
    from adapter.output.audit.lookup import provider_names
    from adapter.sources.server import ServerSource

    report = Report()
    sink = AuditSink(judge.policy, period=period, sample_size=sample_size,
                     show_names=show_names)
    source = ServerSource(client, selection, record_searches(judge.mappings))
    totals = Driver(source, judge.policy, judge.mappings, [report, sink]).run()
    failed = bool(totals.read_failures)
    try:
        names = provider_names(client, sink.provider_refs() - sink.party_names.keys())
    except FhirError as exc:  # e.g. a SMART scope without Practitioner.read: the page still
        # shows every claim, with the references instead of the names
        names, failed = {}, True
        report.errors.append(Problem("provider names", str(exc)))
    run = AuditRun(report, sink.audit(names), failed)
    _write_audit(run.audit, out, redact_text(client.base_url), link_base)
    return run


def _write_audit(audit: Audit, out: Path, source: str, link_base: str | None = None) -> None:
    from adapter.output.audit.html import render

    page = render(audit, source=source, generated=datetime.now(UTC).astimezone(),
                  link_base=link_base)
    out.write_text(page, encoding="utf-8", errors="backslashreplace")
