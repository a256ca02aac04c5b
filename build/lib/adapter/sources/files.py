"""Resources from disk: a Bundle, an NDJSON file, a Bulk Data directory or a directory of Bundles.

The records (everything but claims) are read first, into the one chart every claim is checked
against; claims are streamed after, a page at a time, so a Bulk Data export of any size is
held as compact facts, never as all its parsed resources at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapter.outcomes import Problem
from adapter.sources import CLAIM_TYPES
from adapter.sources.base import Reads, Records
from adapter.sources.bundles import unpack

Resource = dict[str, Any]
CLAIM_PAGE_SIZE = 500


class SourceError(Exception):
    """The source as a whole cannot be used (missing, not FHIR): the run stops with status 2."""


@dataclass
class FileSource:
    """A file or directory of FHIR resources; malformed lines or entries become ``Problem``s."""

    path: Path
    aliases: dict[str, str] = field(default_factory=dict)
    one_chart = True
    _claims: list[Resource | Problem] = field(default_factory=list)
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

    def records(self, reads: Reads) -> Records:
        """Every resource but the claims (claims met on the way wait for ``claim_pages``)."""
        return Records(self._records(), self.aliases)

    def _records(self) -> Iterator[Resource | Problem]:
        for path in self._bundles:
            yield from self._split(self._bundle_resources(path))
        for path in self._ndjson:
            if not _is_claim_file(path):
                yield from self._split(self._lines(path))

    def _split(self, items: Iterator[Resource | Problem]) -> Iterator[Resource | Problem]:
        for item in items:
            if not isinstance(item, Problem) and item.get("resourceType") in CLAIM_TYPES:
                self._claims.append(item)
            else:
                yield item

    def claim_pages(self) -> Iterator[Sequence[Resource | Problem]]:
        """Claims a page at a time: those met among the records, then the claim files'."""
        page, self._claims = self._claims, []
        for path in self._ndjson:
            if not _is_claim_file(path):
                continue
            for item in self._lines(path):
                page.append(item)
                if len(page) >= CLAIM_PAGE_SIZE:
                    yield page
                    page = []
        if page:
            yield page

    def _lines(self, path: Path) -> Iterator[Resource | Problem]:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                where = f"{path.name}:{number}"
                try:
                    resource = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield Problem(where, f"not valid JSON ({exc.msg})")
                    continue
                if not isinstance(resource, dict) or "resourceType" not in resource:
                    yield Problem(where, "not a FHIR resource (no resourceType)")
                elif resource["resourceType"] == "Bundle":
                    yield from unpack(resource, where, self.aliases)
                else:
                    yield resource

    def _bundle_resources(self, path: Path) -> Iterator[Resource | Problem]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            yield Problem(path.name, f"not valid JSON ({exc})")
            return
        if data.get("resourceType") == "Bundle":
            yield from unpack(data, path.name, self.aliases)
        else:
            yield data


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
