"""Checking for the service: the one driver over a posted Bundle, or over a FHIR server.

No HTTP framework here: the endpoints turn requests into these calls and ``CheckRun``s into
answers. A run keeps every claim outcome (so an endpoint can tell "no claim", "one claim"
and "unreadable claim" apart), the report, the DetectedIssues built for its findings and,
on a server, what the write-back confirmed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from queue import Empty, LifoQueue
from typing import Any

from adapter import modes
from adapter.driver import Driver, RunTotals, Sink
from adapter.evidence.needs import record_searches
from adapter.fhir import FhirClient, Query
from adapter.fhir.errors import FhirAuthError, FhirError
from adapter.modes import Judge
from adapter.outcomes import ClaimOutcome, PageOutcome
from adapter.output.detected_issue import build_detected_issue, issue_urn
from adapter.output.report import Report, claim_dict
from adapter.output.writeback import WriteTotals
from adapter.service.outcome import ServiceError
from adapter.service.settings import FhirSettings
from adapter.sources.base import Source
from adapter.sources.memory import MemorySource
from adapter.sources.posted import PostedClaimsSource
from adapter.sources.server import ClaimSelection, ServerSource

Resource = dict[str, Any]


class Outcomes(Sink):
    """Every claim outcome and DetectedIssue of a run, in the order the claims were read."""

    def __init__(self, identified: datetime) -> None:
        self.identified = identified
        self.claims: list[ClaimOutcome] = []
        self.issues: list[Resource] = []
        self.complete = True

    def write(self, page: PageOutcome) -> None:
        self.complete &= page.complete
        self.claims.extend(page.claims)
        for result in page.results:
            self.issues += [build_detected_issue(result, finding, self.identified)
                            for finding in result.findings]


@dataclass
class CheckRun:
    report: Report
    outcomes: Outcomes
    totals: RunTotals
    writes: WriteTotals | None = None
    dry_run: bool = False

    @property
    def read_failed(self) -> bool:
        return bool(self.totals.read_failures) or not self.outcomes.complete

    @property
    def write_failed(self) -> bool:
        return bool(self.writes and self.writes.failed)

    def issues_bundle(self) -> Resource:
        # a collection has no total (bdl-1); a urn:uuid is the hyphenated RFC 4122 form
        return {"resourceType": "Bundle", "type": "collection",
                "entry": [{"fullUrl": issue_urn(issue["id"]), "resource": issue}
                          for issue in self.outcomes.issues]}

    def writes_dict(self) -> dict[str, Any] | None:
        if self.writes is None:
            return None
        w = self.writes
        return {"created": w.created, "updated": w.updated, "cancelled": w.cancelled,
                "unchanged": w.unchanged, "failed": w.failed, "dry_run": self.dry_run,
                "planned": list(w.planned)}

    def claim_answer(self) -> dict[str, Any]:
        """The ``$b12-check`` answer for a run that checked or skipped exactly one claim."""
        report = self.report
        return {
            "claim": claim_dict(report.claims[0]) if report.claims else None,
            "skipped": ({"claim": report.skipped[0].claim, "reason": report.skipped[0].reason}
                        if report.skipped else None),
            "errors": [{"resource": p.resource, "message": p.message} for p in report.errors],
            "detected_issues": self.issues_bundle(),
            "writes": self.writes_dict(),
        }

    def summary(self) -> dict[str, Any]:
        """A notification's answer: what was checked, and what the server confirmed."""
        return {
            "checked": [{"claim": r.claim, "verdict": r.verdict.value,
                         "findings": [f.code for f in r.findings]} for r in self.report.claims],
            "skipped": [{"claim": s.claim, "reason": s.reason} for s in self.report.skipped],
            "errors": [{"resource": p.resource, "message": p.message}
                       for p in self.report.errors],
            "writes": self.writes_dict(),
        }


def run(judge: Judge, source: Source, sinks: Sequence[Sink] = ()) -> CheckRun:
    report, outcomes = Report(), Outcomes(datetime.now(UTC))
    totals = Driver(source, judge.policy, judge.mappings, [report, outcomes, *sinks]).run()
    return CheckRun(report, outcomes, totals)


def check_in_memory(judge: Judge, resources: Sequence[Resource]) -> CheckRun:
    """A posted Claim or Bundle, checked against what came with it; nothing is written."""
    return run(judge, MemorySource(resources))


class ServerChecks:
    """Checks against the configured FHIR server and writes the DetectedIssues back.

    Each worker thread borrows a client from a small pool (a requests session is not meant to
    be shared across threads); claims being checked are locked so two notifications for the
    same claim never plan their writes from the same stale view.
    """

    def __init__(self, judge: Judge, fhir: FhirSettings, *, dry_run: bool,
                 max_entries: int) -> None:
        self.judge = judge
        self.fhir = fhir
        self.dry_run = dry_run
        self.max_entries = max_entries
        self.base_url = fhir.url.strip().rstrip("/")
        self._clients: LifoQueue[FhirClient] = LifoQueue()
        self._locks = KeyedLocks()

    @contextmanager
    def client(self) -> Iterator[FhirClient]:
        try:
            client = self._clients.get_nowait()
        except Empty:
            client = self.fhir.client()
        try:
            yield client
        finally:
            self._clients.put(client)

    def close(self) -> None:
        while True:
            try:
                self._clients.get_nowait().close()
            except Empty:
                return

    def check_selection(self, selection: ClaimSelection, lock: Sequence[str] = ()) -> CheckRun:
        with self.client() as client:
            source = ServerSource(client, selection, record_searches(self.judge.mappings))
            return self._run(client, source, lock)

    def check_given(self, claims: Sequence[Resource]) -> CheckRun:
        """Claims handed in (a posted Claim, full-resource notifications), the server's chart."""
        refs = [f"{c.get('resourceType')}/{c.get('id')}" for c in claims]
        with self.client() as client:
            server = ServerSource(client, ClaimSelection(), record_searches(self.judge.mappings))
            return self._run(client, PostedClaimsSource(claims, server), refs)

    def read(self, refs: Sequence[str]) -> list[Resource]:
        """Resources by ``Type/id``, one batch for all of them (id-only notifications)."""
        wanted: dict[str, list[str]] = {}
        for ref in refs:
            rtype, _, rid = ref.partition("/")
            wanted.setdefault(rtype, []).append(rid)
        queries = [Query.of(rtype, _id=",".join(sorted(set(ids))))
                   for rtype, ids in wanted.items()]
        with self.client() as client:
            try:
                return [r for search in client.batch_search(queries) for r in search]
            except FhirError as exc:
                raise upstream(exc) from exc

    def _run(self, client: FhirClient, source: Source, lock: Sequence[str]) -> CheckRun:
        outcomes = Outcomes(datetime.now(UTC))
        with self._locks.hold(lock):
            try:
                done = modes.check_against(self.judge, client, source, dry_run=self.dry_run,
                                           max_entries=self.max_entries, sinks=[outcomes])
            except FhirError as exc:  # credentials refused: the driver stops the run
                raise upstream(exc) from exc
        return CheckRun(done.report, outcomes, done.totals, done.writes, self.dry_run)


def upstream(exc: FhirError) -> ServiceError:
    """The FHIR server failed or refused us: 502, with the server's words (no secrets)."""
    what = ("the FHIR server refused the service's credentials"
            if isinstance(exc, FhirAuthError) else "the FHIR server request failed")
    return ServiceError(502, f"{what}: {exc}", code="transient")


class KeyedLocks:
    """One lock per key (a claim reference), held only while someone uses it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, keys: Sequence[str]) -> Iterator[None]:
        ordered = sorted(set(keys))  # one order for everyone: no deadlock
        with self._guard:
            for key in ordered:
                lock, users = self._locks.get(key, (threading.Lock(), 0))
                self._locks[key] = (lock, users + 1)
        held: list[threading.Lock] = []
        try:
            for key in ordered:
                lock = self._locks[key][0]
                lock.acquire()
                held.append(lock)
            yield
        finally:
            for lock in held:
                lock.release()
            with self._guard:
                for key in ordered:
                    lock, users = self._locks[key]
                    if users <= 1:
                        del self._locks[key]
                    else:
                        self._locks[key] = (lock, users - 1)
