"""Resources from disk: a Bundle, an NDJSON file, a Bulk Data directory or a directory of Bundles.

Chart resources are read first and claims streamed after, so a Bulk Data export of any size
is held as compact facts, never as all its parsed resources at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapter.evidence.fields import BadResource

Resource = dict[str, Any]


class SourceError(Exception):
    """The source as a whole cannot be used (missing, not FHIR): the run stops with status 2."""


@dataclass
class FileSource:
    """A file or directory of FHIR resources; malformed lines or entries land in ``problems``."""

    path: Path
    aliases: dict[str, str] = field(default_factory=dict)
    problems: list[BadResource] = field(default_factory=list)
    _claims: list[Resource] = field(default_factory=list)
    _bundles: list[Path] = field(default_factory=list)
    _ndjson: list[Path] = field(default_factory=list)

    @classmethod
    def open(cls, path: str | Path) -> FileSource:
        source = cls(Path(path))
        p = source.path
        if not p.exists():
            raise SourceError(f"{p}: no such file or directory")
        if p.is_dir():
            source._ndjson = sorted(p.glob("*.ndjson"))
            source._bundles = sorted(p.glob("*.json"))
            if not source._ndjson and not source._bundles:
                raise SourceError(f"{p}: directory holds no .ndjson or .json FHIR files")
        elif p.suffix.lower() in (".ndjson", ".jsonl"):
            source._ndjson = [p]
        else:
            source._bundles = [p]
        for bundle in source._bundles:
            if not _looks_like_fhir(bundle):
                raise SourceError(f"{bundle}: not a FHIR JSON resource or Bundle")
        for ndjson in source._ndjson:
            if not _looks_like_ndjson(ndjson):
                raise SourceError(f"{ndjson}: not FHIR NDJSON (one resource per line)")
        return source

    def chart_resources(self) -> Iterator[Resource]:
        """Every resource but the claims (claims met on the way are kept for ``claims()``)."""
        for path in self._bundles:
            for resource in self._bundle_resources(path):
                if resource.get("resourceType") == "Claim":
                    self._claims.append(resource)
                else:
                    yield resource
        for path in self._ndjson:
            if _is_claim_file(path):
                continue
            for resource in self._lines(path):
                if resource.get("resourceType") == "Claim":
                    self._claims.append(resource)
                else:
                    yield resource

    def claims(self) -> Iterator[Resource]:
        """Claims, streamed from Claim NDJSON files; call after ``chart_resources()``."""
        yield from self._claims
        self._claims = []
        for path in self._ndjson:
            if _is_claim_file(path):
                for resource in self._lines(path):
                    if resource.get("resourceType") == "Claim":
                        yield resource

    def _lines(self, path: Path) -> Iterator[Resource]:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    resource = json.loads(line)
                except json.JSONDecodeError as exc:
                    self.problems.append(BadResource(f"{path.name}:{number}",
                                                     f"not valid JSON ({exc.msg})"))
                    continue
                if not isinstance(resource, dict) or "resourceType" not in resource:
                    self.problems.append(BadResource(f"{path.name}:{number}",
                                                     "not a FHIR resource (no resourceType)"))
                    continue
                if resource["resourceType"] == "Bundle":
                    yield from self._entries(resource, f"{path.name}:{number}")
                else:
                    yield resource

    def _bundle_resources(self, path: Path) -> Iterator[Resource]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            self.problems.append(BadResource(path.name, f"not valid JSON ({exc})"))
            return
        if data.get("resourceType") == "Bundle":
            yield from self._entries(data, path.name)
        else:
            yield data

    def _entries(self, bundle: Resource, where: str) -> Iterator[Resource]:
        """A Bundle's resources; ``urn:uuid:`` fullUrls become aliases of ``Type/id``."""
        entries = bundle.get("entry") or []
        if not isinstance(entries, list):
            self.problems.append(BadResource(where, "Bundle.entry is not a list"))
            return
        resources = []
        for index, entry in enumerate(entries):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict) or "resourceType" not in resource:
                if not (isinstance(entry, dict) and "request" in entry and "resource" not in entry):
                    self.problems.append(BadResource(f"{where} entry[{index}]",
                                                     "entry has no resource"))
                continue
            full_url = entry.get("fullUrl")
            if isinstance(full_url, str) and full_url:
                if not resource.get("id") and full_url.startswith("urn:uuid:"):
                    resource = {**resource, "id": full_url.removeprefix("urn:uuid:")}
                if resource.get("id"):
                    self.aliases[full_url] = f"{resource['resourceType']}/{resource['id']}"
            if resource["resourceType"] == "Bundle":
                resources.extend(self._entries(resource, f"{where} entry[{index}]"))
            else:
                resources.append(resource)
        yield from resources


def _is_claim_file(path: Path) -> bool:
    name = path.name.split(".")
    return "Claim" in name[:-1]


def _looks_like_fhir(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as handle:
            head = handle.read(4096)
    except (OSError, UnicodeDecodeError):
        return False
    return head.lstrip().startswith("{") and '"resourceType"' in head


def _looks_like_ndjson(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as handle:
            first = next((line for line in handle if line.strip()), "")
    except (OSError, UnicodeDecodeError):
        return False
    return first == "" or (first.lstrip().startswith("{") and '"resourceType"' in first)
