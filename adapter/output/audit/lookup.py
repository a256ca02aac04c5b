"""Names of the providers and facilities a server run met, read at the end in one batch.

A server source reads a page's patients' records, not the Practitioners, Organizations and
Locations its claims name; the audit reads those once, by id, after the last page.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from adapter.evidence.names import name_of
from adapter.fhir import FhirClient, Query
from adapter.output.audit.collect import PROVIDER_TYPES

IDS_PER_SEARCH = 100


def provider_names(client: FhirClient, refs: Iterable[str]) -> dict[str, str]:
    """``{"Practitioner/d1": "Dr Ana Ortiz", ...}`` for the references the server holds;
    raises ``FhirError`` when it cannot be read."""
    wanted: dict[str, list[str]] = defaultdict(list)
    for ref in sorted(set(refs)):
        rtype, _, rid = ref.partition("/")
        if rtype in PROVIDER_TYPES and rid and "/" not in rid:
            wanted[rtype].append(rid)
    queries = [Query.of(rtype, _id=",".join(ids[n:n + IDS_PER_SEARCH]))
               for rtype, ids in sorted(wanted.items())
               for n in range(0, len(ids), IDS_PER_SEARCH)]
    if not queries:
        return {}
    names = {}
    for search in client.batch_search(queries):
        for resource in search:
            name = name_of(resource)
            if name:
                names[f"{resource.get('resourceType')}/{resource.get('id')}"] = name
    return names
