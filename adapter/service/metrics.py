"""``GET /metrics``: Prometheus text format (prometheus-client).

Requests by route template and status, latency histograms by route, claims by verdict,
findings by code, DetectedIssue writes by outcome, CDS cards by indicator, sync runs by
result and the sync's lag. Labels are route templates, codes and outcomes: never a claim,
patient or any other id (no PHI).

With ``--workers`` above 1 each worker is its own process: ``serve`` gives them a shared
directory (``PROMETHEUS_MULTIPROC_DIR``, made fresh at start, removed at exit) and
``/metrics`` adds up every worker's figures, whichever worker answers the scrape.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from starlette.routing import Match

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            30.0)

REQUESTS = Counter("b12_http_requests", "HTTP requests answered, by route template, method "
                   "and status", ["route", "method", "status"])
LATENCY = Histogram("b12_http_request_duration_seconds", "Time to answer, by route template",
                    ["route", "method"], buckets=_BUCKETS)
IN_FLIGHT = Gauge("b12_http_requests_in_flight", "Requests being answered",
                  multiprocess_mode="livesum")
REFUSED = Counter("b12_http_requests_refused", "Requests refused before any work, by reason "
                  "(saturated, body-timeout)", ["reason"])
CLAIMS = Counter("b12_claims", "Claims checked, by verdict (or skipped) and by what asked "
                 "(operation, notification, cds)", ["verdict", "source"])
FINDINGS = Counter("b12_findings", "Findings, by code", ["code", "source"])
WRITES = Counter("b12_detectedissue_writes", "DetectedIssue writes, by outcome as the server "
                 "confirmed them", ["outcome"])
CARDS = Counter("b12_cds_cards", "CDS Hooks cards returned, by indicator", ["indicator"])
SYNC_RUNS = Counter("b12_sync_runs", "Incremental sync runs started by Subscription pings, by "
                    "result (ok, failed, not-run)", ["result"])
SYNC_LAG = Gauge("b12_sync_lag_seconds", "Seconds between the last sync run's end and its "
                 "watermark (how far behind the server the checks are)",
                 multiprocess_mode="mostrecent")


def render() -> tuple[bytes, str]:
    """The exposition text: this process's registry, or every worker's when multiprocess."""
    if os.environ.get(MULTIPROCESS_VARIABLE):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE
    return generate_latest(), CONTENT_TYPE


def route_of(scope: dict[str, Any] | Any, routes: Iterable[Any]) -> str:
    """The route template a request matched (``/cds-services/b12-injection``), else
    ``unmatched``: a label never carries an id from the path."""
    for route in routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return str(getattr(route, "path", "unmatched"))
    return "unmatched"


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    REQUESTS.labels(route, method, str(status)).inc()
    LATENCY.labels(route, method).observe(seconds)


def observe_run(report: Any, writes: Any, source: str) -> None:
    """A check run's claims, findings and confirmed writes (``Report``, ``WriteTotals``)."""
    for result in report.claims:
        CLAIMS.labels(result.verdict.value, source).inc()
        for finding in result.findings:
            FINDINGS.labels(finding.code, source).inc()
    skipped = len(report.skipped)
    if skipped:
        CLAIMS.labels("skipped", source).inc(skipped)
    if writes is not None:
        for outcome in ("created", "updated", "cancelled", "unchanged", "failed"):
            count = getattr(writes, outcome)
            if count:
                WRITES.labels(outcome).inc(count)


def observe_cards(cards: Iterable[dict[str, Any]]) -> None:
    for card in cards:
        CARDS.labels(str(card.get("indicator"))).inc()


def observe_sync(result: str, watermark: str | None = None) -> None:
    SYNC_RUNS.labels(result).inc()
    if watermark:
        from datetime import datetime

        try:
            mark = datetime.fromisoformat(watermark.replace("Z", "+00:00"))
        except ValueError:
            return
        SYNC_LAG.set(max(0.0, time.time() - mark.timestamp()))
