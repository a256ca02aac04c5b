"""Unpacking a Bundle into its resources, remembering ``urn:uuid:`` fullUrls as aliases."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

from adapter.outcomes import Problem

Resource = dict[str, Any]


def unpack(bundle: Resource, where: str, aliases: MutableMapping[str, str]
           ) -> Iterator[Resource | Problem]:
    """A Bundle's resources (nested Bundles unpacked); an entry without a resource is a
    ``Problem`` unless it is a bare request (a transaction's DELETE, a batch GET).

    Every alias of the Bundle is known before its first resource is handed out, so a reader
    can resolve a reference to an entry further down.
    """
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        yield Problem(where, "Bundle.entry is not a list")
        return
    yield from list(_resources(entries, where, aliases))


def _resources(entries: list[Any], where: str, aliases: MutableMapping[str, str]
               ) -> Iterator[Resource | Problem]:
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or "resourceType" not in resource:
            if not (isinstance(entry, dict) and "request" in entry and "resource" not in entry):
                yield Problem(f"{where} entry[{index}]", "entry has no resource")
            continue
        if not isinstance(resource["resourceType"], str):  # e.g. {} or a number
            yield Problem(f"{where} entry[{index}]", "resource.resourceType is not a string")
            continue
        full_url = entry.get("fullUrl")
        if isinstance(full_url, str) and full_url:
            if "id" not in resource and full_url.startswith("urn:uuid:"):
                resource = {**resource, "id": full_url.removeprefix("urn:uuid:")}
            if isinstance(resource.get("id"), str) and resource["id"]:
                aliases[full_url] = f"{resource['resourceType']}/{resource['id']}"
        if resource["resourceType"] == "Bundle":
            yield from unpack(resource, f"{where} entry[{index}]", aliases)
        else:
            yield resource
