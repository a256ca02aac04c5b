"""``load``: upload fixture data to a sandbox server, so a developer can try the adapter.

Resources go up as transaction Bundles of ``PUT Type/id`` (idempotent: loading twice creates
no duplicates), referenced types first. This is the one command allowed to write other types.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from adapter.fhir import FhirClient
from adapter.sources.files import FileSource

ORDER = ("Patient", "Practitioner", "Organization", "Location", "Encounter", "Medication",
         "Condition", "Observation", "MedicationAdministration", "Coverage", "Claim")
CHUNK = 50  # entries per transaction: servers cap updates per transaction (Medplum: 50)


@dataclass
class LoadTotals:
    resources: int = 0
    transactions: int = 0


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


def load_resources(source: FileSource) -> list[dict[str, Any]]:
    resources = [*source.chart_resources(), *source.claims()]
    resources = [_rewrite(r, source.aliases) for r in resources if r.get("id")]
    rank = {rtype: n for n, rtype in enumerate(ORDER)}
    return sorted(resources, key=lambda r: rank.get(r["resourceType"], len(ORDER) - 1))


def _chunks(resources: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(resources), max(1, size)):
        yield resources[start:start + size]


def writable_types(resources: list[dict[str, Any]]) -> frozenset[str]:
    return frozenset(r["resourceType"] for r in resources)


def load(client: FhirClient, resources: list[dict[str, Any]], chunk_size: int = CHUNK
         ) -> LoadTotals:
    totals = LoadTotals()
    for chunk in _chunks(resources, chunk_size):
        client.transaction({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in chunk
        ]})
        totals.resources += len(chunk)
        totals.transactions += 1
    return totals
