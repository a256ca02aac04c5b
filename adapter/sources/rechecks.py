"""A sync's second look: the B12 claims of patients whose chart changed since the watermark.

A lab or a note that arrives after a claim was judged changes its verdict, but not the claim's
``meta.lastUpdated``: a sync that selected claims by their own changes only left the stale
DetectedIssue forever (issue 25). So after the claims changed since the watermark, the source
yields, in the same pages and batches, the claims of every patient one of whose records (the
kinds of ``adapter.evidence.kinds`` keyed to a patient, searched as the checks search them)
changed since the watermark, created within the lookback window; a claim is never yielded
twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from typing import Any

from adapter.evidence.fields import normalize_reference
from adapter.evidence.kinds import BY_TYPE, PATIENT_TYPES
from adapter.evidence.needs import RecordSearch
from adapter.fhir import FhirClient, Query, matches
from adapter.outcomes import Problem
from adapter.sources.server import CLAIM_TYPES_READ, ClaimSelection, ServerSource

Resource = dict[str, Any]
CHANGES_PAGE_SIZE = 1000
PATIENTS_PER_SEARCH = 50


class RecheckSource(ServerSource):
    """``ServerSource`` over the claims changed since ``since``, then the claims of the
    patients whose chart changed since it; ``rechecked`` names the latter (a watermark must
    not place them: their own stamps are older)."""

    def __init__(self, client: FhirClient, selection: ClaimSelection,
                 searches: Sequence[RecordSearch], *, since: str | None,
                 lookback_days: int, today: date) -> None:
        super().__init__(client, selection, searches)
        self.since = since
        self.created_from = today - timedelta(days=lookback_days)
        self.rechecked: set[str] = set()
        self._seen: set[str] = set()

    def claim_pages(self) -> Iterator[Sequence[Resource | Problem]]:
        for page in super().claim_pages():
            self._seen.update(_ref(r) for r in page if isinstance(r, dict))
            yield page
        if self.since is None:  # a first run checks every claim already
            return
        patients = self.changed_patients()
        for start in range(0, len(patients), PATIENTS_PER_SEARCH):
            chunk = ",".join(patients[start:start + PATIENTS_PER_SEARCH])
            for rtype in CLAIM_TYPES_READ:
                query = Query(rtype, (("patient", chunk),
                                      ("created", f"ge{self.created_from.isoformat()}"),
                                      ("_count", str(self.client.page_size))))
                for bundle in self.client.search(query).pages():
                    page = [r for r in matches(bundle, rtype) if _ref(r) not in self._seen]
                    refs = {_ref(r) for r in page}
                    self._seen |= refs
                    self.rechecked |= refs
                    if page:
                        yield page

    def changed_patients(self) -> list[str]:
        """``Patient/x`` of every patient a record of whose changed since ``since``."""
        found: set[str] = set()
        for search in self.searches:
            kind = BY_TYPE.get(search.resource_type)
            if kind is None or search.resource_type not in PATIENT_TYPES:
                continue
            params = (*search.params, ("_lastUpdated", f"ge{self.since}"),
                      ("_count", str(CHANGES_PAGE_SIZE)))
            for resource in self.client.search(Query(search.resource_type, params)):
                if resource.get("resourceType") != search.resource_type:
                    continue  # a Medication an _include brought
                if not kind.patient:  # the Patient itself
                    if isinstance(resource.get("id"), str):
                        found.add(f"Patient/{resource['id']}")
                    continue
                for element in kind.patient:
                    target = resource.get(element)
                    ref = target.get("reference") if isinstance(target, dict) else None
                    if isinstance(ref, str) and (ref := normalize_reference(ref)) \
                            .startswith("Patient/"):
                        found.add(ref)
        return sorted(found)


def _ref(resource: Resource) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"
