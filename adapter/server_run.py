"""Checking claims on a FHIR server, page by page, and writing the findings back.

Each page: read its evidence (one batch), check its claims, write one transaction of
DetectedIssue changes. A page whose evidence cannot be read is reported and the run goes on;
so is a page whose write fails. ``sync`` builds on this with a watermark and a lock.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from adapter.fhir import FhirClient
from adapter.fhir.errors import FhirError
from adapter.output.report import ClaimResult, Problem, Report
from adapter.output.writeback import WritePlan, plan_writes
from adapter.pipeline import Checker
from adapter.sources.server import ClaimSelection, ServerSource

logger = logging.getLogger("adapter.run")


@dataclass
class RunTotals:
    """What a server run did, for the summary line and the exit status."""

    pages: int = 0
    claims: int = 0
    created: int = 0
    updated: int = 0
    cancelled: int = 0
    unchanged: int = 0
    read_failures: int = 0
    write_failures: int = 0
    newest_claim_update: str | None = None  # greatest Claim meta.lastUpdated seen
    planned: list[str] = field(default_factory=list)  # --dry-run: the writes not made

    @property
    def server_failed(self) -> bool:
        return bool(self.read_failures or self.write_failures)


@dataclass
class ServerRun:
    client: FhirClient
    source: ServerSource
    checker: Checker
    dry_run: bool = False
    max_claims: int | None = None
    max_transaction_entries: int = 50
    progress: Callable[[RunTotals], None] | None = None
    totals: RunTotals = field(default_factory=RunTotals)

    @property
    def report(self) -> Report:
        return self.checker.report

    def run(self, selection: ClaimSelection) -> RunTotals:
        try:
            for claims in self.source.claim_pages(selection):
                if self.max_claims is not None:
                    claims = claims[: self.max_claims - self.totals.claims]
                self._page(claims)
                if self.max_claims is not None and self.totals.claims >= self.max_claims:
                    break
        except FhirError as exc:
            self.totals.read_failures += 1
            self.report.errors.append(Problem("Claim search", str(exc)))
        return self.totals

    def _page(self, claims: list[dict[str, Any]]) -> None:
        totals = self.totals
        totals.pages += 1
        totals.claims += len(claims)
        try:
            evidence = self.source.evidence(claims)
        except FhirError as exc:
            totals.read_failures += 1
            for claim in claims:
                self.report.errors.append(Problem(
                    f"Claim/{claim.get('id')}", f"evidence could not be read: {exc}"))
            self._emit()
            return
        results: list[ClaimResult] = []
        cancelled_claims: dict[str, str] = {}
        skipped_before = len(self.report.skipped)
        for claim in claims:
            result = self.checker.check(claim, evidence.chart)
            if result:
                results.append(result)
            self._note_update(claim)
        for skipped in self.report.skipped[skipped_before:]:
            cancelled_claims[skipped.claim] = f"claim skipped: {skipped.reason}"
        self.checker.add_problems(evidence.chart.problems)
        plan = plan_writes(results, evidence.issues, datetime.now(UTC), cancelled_claims)
        self._write(plan)
        self._emit()

    def _write(self, plan: WritePlan) -> None:
        totals = self.totals
        totals.unchanged += plan.unchanged
        if not plan:
            return
        if self.dry_run:
            totals.planned += plan.describe()
            return
        for bundle in plan.transactions(self.max_transaction_entries):
            try:
                self.client.transaction(bundle)
            except FhirError as exc:
                totals.write_failures += 1
                self.report.errors.append(Problem("DetectedIssue transaction", str(exc)))
                return
        totals.created += len(plan.creates)
        totals.updated += len(plan.updates)
        totals.cancelled += len(plan.cancels)

    def _note_update(self, claim: dict[str, Any]) -> None:
        meta = claim.get("meta") if isinstance(claim.get("meta"), dict) else {}
        updated = meta.get("lastUpdated")
        if isinstance(updated, str) and (
            self.totals.newest_claim_update is None
            or _instant(updated) > _instant(self.totals.newest_claim_update)
        ):
            self.totals.newest_claim_update = updated

    def _emit(self) -> None:
        if self.progress:
            self.progress(self.totals)


def _instant(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def progress_printer(stream: TextIO = sys.stderr) -> Callable[[RunTotals], None]:
    """A one-line progress display on a terminal; one JSON log line per page otherwise."""
    interactive = stream.isatty()

    def show(totals: RunTotals) -> None:
        if interactive:
            stream.write(f"\r  pages {totals.pages}  claims {totals.claims}  "
                         f"created {totals.created}  updated {totals.updated}  "
                         f"cancelled {totals.cancelled}  failures "
                         f"{totals.read_failures + totals.write_failures}")
            stream.flush()
        else:
            stream.write(json.dumps({
                "event": "page", "page": totals.pages, "claims": totals.claims,
                "created": totals.created, "updated": totals.updated,
                "cancelled": totals.cancelled, "read_failures": totals.read_failures,
                "write_failures": totals.write_failures,
            }) + "\n")

    return show
