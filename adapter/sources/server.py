"""Resources from a FHIR server: pages of claims, and the evidence for a whole page at once.

A page of claims costs one search request; the Conditions, labs, administrations, Patients
and earlier DetectedIssues of all its patients cost one batch request (plus next pages only
when a patient's record overflows a page), never a request per claim.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote

from adapter.evidence.chart import Chart
from adapter.evidence.fields import normalize_reference
from adapter.fhir import FhirClient, paging
from adapter.fhir.errors import FhirError
from adapter.mappings import Mappings
from adapter.output.detected_issue import CLAIM_SYSTEM

EVIDENCE_PAGE_SIZE = 1000


@dataclass(frozen=True)
class ClaimSelection:
    """Which claims to check: ids, a patient, changed since an instant, or a raw search."""

    ids: tuple[str, ...] = ()
    patient: str | None = None
    since: str | None = None
    search: str | None = None
    oldest_first: bool = False  # sort by _lastUpdated, as a watermark needs

    def __post_init__(self) -> None:
        path, sep, _ = (self.search or "").partition("?")
        if sep and path.strip("/") != "Claim":
            raise ValueError(f"--search must be a Claim search ('Claim?...'): {self.search!r}")

    def params(self) -> list[tuple[str, str]]:
        params: list[tuple[str, str]] = []
        if self.search:
            path, sep, query = self.search.partition("?")
            params += parse_qsl(query if sep else path, keep_blank_values=True)
        if self.ids:
            params.append(("_id", ",".join(self.ids)))
        if self.patient:
            target = self.patient if "/" in self.patient else f"Patient/{self.patient}"
            params.append(("patient", target))
        if self.since:
            params.append(("_lastUpdated", f"ge{self.since}"))
        if self.since or self.oldest_first:
            params.append(("_sort", "_lastUpdated"))
        return params


@dataclass
class PageEvidence:
    chart: Chart
    issues: list[dict[str, Any]] = field(default_factory=list)  # DetectedIssues already written


class ServerSource:
    """Reads claims and evidence through a ``FhirClient``; knows nothing of the rules."""

    def __init__(self, client: FhirClient, mappings: Mappings) -> None:
        self.client = client
        self.mappings = mappings
        self._lab_codes = ",".join(f"http://loinc.org|{code}" for code in mappings.labs_by_loinc)

    def claim_pages(self, selection: ClaimSelection) -> Iterator[list[dict[str, Any]]]:
        for bundle in self.client.search_pages("Claim", selection.params()):
            yield list(paging.matches(bundle, "Claim"))

    def evidence(self, claims: list[dict[str, Any]]) -> PageEvidence:
        """Everything the page's claims may need, in one batch; raises ``FhirError``."""
        patients = sorted({
            normalize_reference(target)
            for claim in claims
            if isinstance(claim.get("patient"), dict)
            and isinstance(target := claim["patient"].get("reference"), str)
        })
        chart = Chart(self.mappings)
        evidence = PageEvidence(chart)
        if not patients:
            return evidence
        who = ",".join(patients)
        claim_ids = ",".join(
            quote(f"{CLAIM_SYSTEM}|Claim/{c['id']}", safe="/:") for c in claims if c.get("id")
        )
        searches = [
            ("Condition", f"Condition?patient={who}"),
            ("Observation", f"Observation?patient={who}&code={self._lab_codes}"),
            ("MedicationAdministration", f"MedicationAdministration?patient={who}"),
            ("Patient", "Patient?_id=" + ",".join(p.split("/")[-1] for p in patients)),
        ]
        if claim_ids:
            searches.append(("DetectedIssue", f"DetectedIssue?identifier={claim_ids}"))
        for rtype, resource in self._batch_search(searches):
            if rtype == "DetectedIssue":
                evidence.issues.append(resource)
            else:
                chart.add(resource)
        self._fetch_missing_links(claims, chart)
        return evidence

    def _batch_search(self, searches: list[tuple[str, str]]) -> Iterator[tuple[str, dict]]:
        """Run several searches in one batch request; overflowing results are paged on."""
        bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
            {"request": {"method": "GET", "url": f"{url}&_count={EVIDENCE_PAGE_SIZE}"}}
            for _, url in searches
        ]}
        answers = self.client.entry_results(bundle, self.client.batch(bundle))
        for (rtype, _), answer in zip(searches, answers, strict=True):
            if isinstance(answer, FhirError):
                raise answer
            for page in self.client.pages_from(answer.get("resource") or {}, rtype):
                yield from ((rtype, r) for r in paging.matches(page, rtype))

    def _fetch_missing_links(self, claims: list[dict[str, Any]], chart: Chart) -> None:
        """Conditions and Observations a claim references that the patient searches missed."""
        wanted: dict[str, set[str]] = {"Condition": set(), "Observation": set()}
        for claim in claims:
            targets = [d.get("diagnosisReference") for d in claim.get("diagnosis") or []]
            targets += [s.get("valueReference") for s in claim.get("supportingInfo") or []]
            for target in targets:
                if isinstance(target, dict) and isinstance(target.get("reference"), str):
                    ref = normalize_reference(target["reference"])
                    rtype = ref.split("/")[0]
                    if rtype in wanted and not chart.has(ref):
                        wanted[rtype].add(ref.split("/")[-1])
        searches = [(rtype, f"{rtype}?_id={','.join(sorted(ids))}")
                    for rtype, ids in wanted.items() if ids]
        if searches:
            for _, resource in self._batch_search(searches):
                chart.add(resource)

