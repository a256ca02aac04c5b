"""``load``: upload fixture data to a sandbox server, so a developer can try the adapter.

Resources go up as transaction Bundles of ``PUT Type/id`` (idempotent: loading twice creates
no duplicates), referenced types first. This is the one command allowed to write other types.
What is counted as loaded is what the server confirmed, entry by entry.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from adapter.fhir import FhirClient, FhirError
from adapter.outcomes import Problem
from adapter.sources.base import Reads
from adapter.sources.files import FileSource

ORDER = ("Patient", "Practitioner", "Organization", "Location", "Encounter", "Medication",
         "Condition", "Observation", "MedicationAdministration", "Coverage", "Claim")
CHUNK = 50  # entries per transaction: servers cap updates per transaction (Medplum: 50)


@dataclass
class LoadTotals:
    loaded: int = 0  # entries the server confirmed (2xx)
    transactions: int = 0
    problems: list[Problem] = field(default_factory=list)  # entries refused, unreadable input


def _rewrite(value: Any, aliases: dict[str, str]) -> Any:
    """Replace ``urn:uuid:`` references by the ``Type/id`` they alias."""
    if isinstance(value, dict):
        out = {k: _rewrite(v, aliases) for k, v in value.items()}
        target = out.get("reference")
        if isinstance(target, str) and target in aliases:
            out["reference"] = aliases[target]
        return out
    if isinstance(value, list):
        return [_rewrite(v, aliases) for v in value]
    return value


def load_resources(source: FileSource) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Every resource of the source, references rewritten, referenced types first."""
    items = [*source.records(Reads()).resources,
             *(item for page in source.claim_pages() for item in page)]
    problems = [item for item in items if isinstance(item, Problem)]
    resources = [_rewrite(r, source.aliases) for r in items
                 if not isinstance(r, Problem) and r.get("id")]
    rank = {rtype: n for n, rtype in enumerate(ORDER)}
    resources.sort(key=lambda r: rank.get(r["resourceType"], len(ORDER) - 1))
    return resources, problems


def _chunks(resources: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(resources), max(1, size)):
        yield resources[start:start + size]


def writable_types(resources: list[dict[str, Any]]) -> frozenset[str]:
    return frozenset(r["resourceType"] for r in resources)


def load(client: FhirClient, resources: list[dict[str, Any]], chunk_size: int = CHUNK
         ) -> LoadTotals:
    totals = LoadTotals()
    for chunk in _chunks(resources, chunk_size):
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in chunk
        ]}
        totals.transactions += 1
        try:
            results = client.transaction(bundle)
        except FhirError as exc:
            totals.problems.append(Problem("load transaction", str(exc)))
            continue
        for resource, result in zip(chunk, results, strict=True):
            if result.ok:
                totals.loaded += 1
            else:
                ref = f"{resource['resourceType']}/{resource['id']}"
                totals.problems.append(Problem(ref, str(result.error())))
    return totals
