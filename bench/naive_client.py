"""The client a user would write by hand: one search per type per claim.

For each claim: Condition?patient=, Observation?patient=&code=, MedicationAdministration?
patient= and Patient/id, then the same checks as the adapter (dry run: nothing is written).
It is the baseline the adapter's page-at-a-time reading is measured against.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import requests

from adapter.config import load_thresholds
from adapter.evidence.chart import Chart
from adapter.mappings import load_mappings
from adapter.output.report import Report
from adapter.pipeline import Checker
from adapter.rules import Policy


class NaiveClient:
    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/fhir+json"
        self.requests = 0

    def get(self, url: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        self.requests += 1
        response = self.session.get(url if url.startswith("http") else f"{self.base}/{url}",
                                    params=params, timeout=60)
        response.raise_for_status()
        return response.json()

    def search(self, rtype: str, params: dict[str, str]) -> list[dict[str, Any]]:
        bundle = self.get(rtype, {**params, "_count": "100"})
        found = [e["resource"] for e in bundle.get("entry", [])]
        while next_url := next((link["url"] for link in bundle.get("link", [])
                                if link.get("relation") == "next"), None):
            bundle = self.get(next_url)
            found += [e["resource"] for e in bundle.get("entry", [])]
        return found


def run(base: str, since: str = "2000-01-01", limit: int | None = None) -> dict[str, Any]:
    """Check every claim (or the first ``limit``) the way a hand-written client would."""
    mappings = load_mappings()
    policy = Policy.from_mappings(mappings, load_thresholds())
    report = Report()
    checker = Checker(policy, report)
    client = NaiveClient(base)
    lab_codes = ",".join(f"http://loinc.org|{c}" for c in mappings.labs_by_loinc)
    started = time.perf_counter()
    claims = client.search("Claim", {"_lastUpdated": f"ge{since}"})[:limit]
    for claim in claims:
        patient = claim["patient"]["reference"]
        chart = Chart(mappings)
        for resource in (
            client.search("Condition", {"patient": patient})
            + client.search("Observation", {"patient": patient, "code": lab_codes})
            + client.search("MedicationAdministration", {"patient": patient})
        ):
            chart.add(resource)
        chart.add(client.get(patient))
        checker.check(claim, chart)
    elapsed = time.perf_counter() - started
    return {"claims": len(claims), "requests": client.requests, "seconds": elapsed,
            "summary": report.summary()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True)
    parser.add_argument("--limit", type=int, help="check only the first N claims")
    args = parser.parse_args()
    print(json.dumps(run(args.server, limit=args.limit)))


if __name__ == "__main__":
    main()
