"""The client a user would write by hand: a few searches per claim, with plain ``requests``.

    python -m bench.naive_client --server URL [--since 2000-01-01] [--dry-run]
                                 [--limit N] [--max-seconds S]

It pages through the claims, and for each claim sends one search per type: Condition?patient=,
Observation?patient=&code=, MedicationAdministration?patient= and a read of Patient/id, then
runs the adapter's own checks on what came back (``Chart`` + ``check_claim``: same findings). It
writes each finding as a conditional create of a DetectedIssue, one request per finding,
unless ``--dry-run``. It is the baseline the adapter's page-at-a-time reading is measured
against; every request it sends is counted. Everything is bounded: a timeout per request, at
most ``MAX_PAGES`` pages per search, and ``--limit`` / ``--max-seconds`` for the whole run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from adapter.check import InScope, check_claim, problem, read_scoped
from adapter.evidence.chart import Chart
from adapter.mappings import load_mappings
from adapter.outcomes import PageOutcome
from adapter.output.detected_issue import IDENTIFIER_SYSTEM, build_detected_issue, issue_key
from adapter.output.report import Report
from adapter.rules import Policy

FHIR_JSON = "application/fhir+json"
TIMEOUT = (10, 300)  # connect, read: this in-memory test server scans for every search
MAX_PAGES = 1000  # per search: a runaway next link cannot loop forever


class NaiveClient:
    """GET and POST with a request counter; nothing else (no batching, no retries)."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Accept"] = FHIR_JSON
        self.requests = 0

    def get(self, url: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        self.requests += 1
        response = self.session.get(url if url.startswith("http") else f"{self.base}/{url}",
                                    params=params, timeout=TIMEOUT)
        response.raise_for_status()
        return response.json()

    def pages(self, rtype: str, params: dict[str, str]) -> Iterator[list[dict[str, Any]]]:
        """The matches of a search, page by page, following ``next`` links."""
        bundle = self.get(rtype, {**params, "_count": "100"})
        for _ in range(MAX_PAGES):
            yield [e["resource"] for e in bundle.get("entry", [])
                   if e.get("search", {}).get("mode", "match") == "match"]
            next_url = next((link["url"] for link in bundle.get("link", [])
                             if link.get("relation") == "next"), None)
            if not next_url:
                return
            bundle = self.get(next_url)
        raise RuntimeError(f"{rtype} search: more than {MAX_PAGES} pages")

    def search(self, rtype: str, params: dict[str, str]) -> list[dict[str, Any]]:
        return [resource for page in self.pages(rtype, params) for resource in page]

    def create_if_none_exist(self, resource: dict[str, Any], condition: str) -> None:
        self.requests += 1
        response = self.session.post(
            f"{self.base}/{resource['resourceType']}", data=json.dumps(resource),
            headers={"Content-Type": FHIR_JSON, "If-None-Exist": condition}, timeout=TIMEOUT)
        response.raise_for_status()


def run(base: str, since: str = "2000-01-01", limit: int | None = None,
        max_seconds: float | None = None, dry_run: bool = True,
        report: Report | None = None) -> dict[str, Any]:
    """Check the claims changed since ``since`` one by one; stop after ``limit`` claims or
    once ``max_seconds`` have passed (the claims checked so far are counted)."""
    mappings = load_mappings()
    policy = Policy.from_mappings(mappings, mappings.thresholds)
    report = report if report is not None else Report()
    client = NaiveClient(base)
    lab_codes = ",".join(f"http://loinc.org|{code}" for code in mappings.labs_by_loinc)
    started = time.perf_counter()
    claims = writes = 0
    stopped = "all claims"
    all_claims = (claim for page in client.pages("Claim", {"_lastUpdated": f"ge{since}"})
                  for claim in page)
    for claim in all_claims:
        if limit is not None and claims >= limit:
            stopped = f"limit of {limit} claims"
            break
        if max_seconds is not None and time.perf_counter() - started > max_seconds:
            stopped = f"time budget of {max_seconds:g} s"
            break
        claims += 1
        patient = claim.get("patient", {}).get("reference", "")
        chart = Chart(mappings)
        for resource in (
            client.search("Condition", {"patient": patient})
            + client.search("Observation", {"patient": patient, "code": lab_codes})
            + client.search("MedicationAdministration", {"patient": patient})
        ):
            chart.add(resource)
        if patient:
            chart.add(client.get(patient))
        pending = read_scoped(claim, policy)
        outcome = check_claim(pending, chart, policy) if isinstance(pending, InScope) else pending
        report.write(PageOutcome((outcome,), tuple(problem(p) for p in chart.problems)))
        result = outcome.result
        if result and not dry_run:
            for finding in result.findings:
                issue = build_detected_issue(result, finding, datetime.now(UTC))
                key = issue_key(result, finding)
                client.create_if_none_exist(issue, f"identifier={IDENTIFIER_SYSTEM}|{key}")
                writes += 1
    seconds = time.perf_counter() - started
    return {"claims": claims, "requests": client.requests, "writes": writes,
            "seconds": round(seconds, 3), "stopped_at": stopped,
            "summary": report.summary()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="FHIR R4 base URL")
    parser.add_argument("--since", default="2000-01-01", help="claims updated since (default "
                        "2000-01-01)")
    parser.add_argument("--dry-run", action="store_true", help="write no DetectedIssue")
    parser.add_argument("--limit", type=int, help="check only the first N claims")
    parser.add_argument("--max-seconds", type=float, help="stop checking new claims after S s")
    parser.add_argument("--report", type=Path, metavar="FILE",
                        help="also write the JSON report of the claims checked here")
    args = parser.parse_args(argv)
    report = Report()
    try:
        outcome = run(args.server, args.since, args.limit, args.max_seconds, args.dry_run,
                      report)
    except (requests.RequestException, RuntimeError) as exc:
        print(f"naive client: {exc}", file=sys.stderr)
        return 1
    if args.report:
        args.report.write_text(report.to_json(indent=None), encoding="utf-8")
    print(json.dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main())
