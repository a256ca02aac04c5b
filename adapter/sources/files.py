"""Resources from disk: a Bundle, an NDJSON file, a Bulk Data directory or a directory of Bundles.

The records (everything but claims) are read first, into the one chart every claim is checked
against; claims are streamed after, a page at a time. Claims are never held until the end:
claim files are read only in the claim pass, and a Bundle or mixed NDJSON file that holds
claims is read again for them (NDJSON: only the lines that hold them), so a Bulk Data export
or a directory of Bundles of any size is held as compact facts, never as its resources.

Bulk Data directories as servers publish them (SPEC section 2): ``manifest.json`` names the
files and their types when present; files may be numbered (``Condition.000.ndjson``,
``1.Condition.ndjson``) or gzipped (``.ndjson.gz``); ``log.ndjson`` and other files that hold
no FHIR resources are not data. A UTF-8 BOM, CRLF line ends and pretty-printed or key-sorted
JSON are all read. A line or file that cannot be read is a ``Problem`` naming it (a broken
link or a directory named like a data file too); the rest goes on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapter.outcomes import Problem
from adapter.sources import CLAIM_TYPES
from adapter.sources.base import LineTest, Reads, Records, Seen, Unbilled
from adapter.sources.export_files import (
    NOT_NDJSON,
    DataFile,
    SourceError,
    directory_files,
    file_name,
    gzipped,
    holds_resources,
    is_ndjson,
    one_document,
    type_from_name,
)
from adapter.sources.line_scan import json_file, lines, lines_at, lines_found, ranges, scan

Resource = dict[str, Any]
CLAIM_PAGE_SIZE = 500


@dataclass(frozen=True)
class Part:
    """A piece of the records pass: a file, or bytes ``start``..``end`` (line ends) of one.
    ``alone``: reading it changes nothing on the source, so another process may."""

    data: DataFile
    start: int = 0
    end: int | None = None
    alone: bool = False


@dataclass
class FileSource:
    """A file or directory of FHIR resources."""

    path: Path
    files: list[DataFile] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)
    one_chart = True
    # Where the records pass met claims, to read them (only them) in the claim pass.
    _claim_lines: dict[Path, list[int]] = field(default_factory=dict)  # NDJSON byte offsets
    _claim_bundles: set[Path] = field(default_factory=set)

    @classmethod
    def open(cls, path: str | Path) -> FileSource:
        source = cls(Path(path))
        p = source.path
        if not p.exists():
            raise SourceError(f"{p}: no such file or directory")
        if p.is_dir():
            source.files = directory_files(p)
            if not source.files:
                folders = any(child.is_dir() for child in p.iterdir())
                raise SourceError(f"{p}: directory holds no FHIR NDJSON or JSON files" + (
                    " (its subfolders are not read: point --source at one of them)"
                    if folders else ""))
        else:
            ndjson = is_ndjson(p)
            if holds_resources(p) is not True:
                kind = "FHIR NDJSON (one resource per line)" if ndjson else \
                    "a FHIR JSON resource or Bundle"
                raise SourceError(f"{p}: not {kind}")
            if ndjson and one_document(p):
                raise SourceError(f"{p}: {NOT_NDJSON}")
            source.files = [DataFile(p, ndjson, type_from_name(p) if ndjson else None)]
        return source

    # The records pass

    def records(self, reads: Reads) -> Records:
        """Every resource but the claims; where claims were met is noted for ``claim_pages``.
        A file named for a type ``reads.types`` leaves out is not opened; in a file named for
        a type, a line the type's ``reads.lines`` test rejects is not parsed (``Seen``)."""
        return Records((item for part in self.parts(reads)
                        for item in self.part_records(part, reads)), self.aliases)

    def parts(self, reads: Reads, size: int | None = None) -> list[Part]:
        """The records pass in pieces, in order: a file each, and with ``size`` the files a
        worker process can read on its own (typed, uncompressed NDJSON that the line test
        scans) cut at line ends into ranges of about ``size`` bytes."""
        parts = []
        for data in self.files:
            if data.claims_only or (data.rtype is not None and reads.types is not None
                                    and data.rtype not in reads.types):
                continue
            if size is None or not _scanned(data, reads) or gzipped(data.path):
                parts.append(Part(data))
                continue
            parts += [Part(data, start, end, alone=True)
                      for start, end in ranges(data.path, size)]
        return parts

    def prescan_claims(self, test: LineTest) -> Iterator[bytes] | None:
        """The lines ``test`` finds something in, raw, from the files named for a claim type;
        None when claims may sit anywhere else (a Bundle, a file of mixed types), so no
        pre-scan can be complete. Nothing is checked: the claim pass reads them again."""
        if not all(data.ndjson and data.rtype is not None for data in self.files):
            return None
        return (line for data in self.files if data.claims_only and data.problem is None
                for line in lines_found(data.path, test))

    def scanned_bytes(self, reads: Reads) -> int:
        """Size of the files the scan reads (typed NDJSON with a line test): the work that
        worker processes can share."""
        return sum(data.path.stat().st_size for data in self.files if _scanned(data, reads))

    def part_records(self, part: Part, reads: Reads) -> Iterator[Resource | Problem | Seen]:
        data = part.data
        if data.problem is not None:
            yield Problem(file_name(data.path), data.problem)
        elif _scanned(data, reads):
            assert data.rtype is not None
            yield from scan(data.path, data.rtype, reads.lines[data.rtype], self.aliases,
                             part.start, part.end)
        elif data.ndjson:
            yield from self._ndjson_records(data.path)
        else:
            yield from self._bundle_records(data.path)

    def _ndjson_records(self, path: Path) -> Iterator[Resource | Problem]:
        for offset, item in lines(path, self.aliases):
            if isinstance(item, Problem) or item.get("resourceType") not in CLAIM_TYPES:
                yield item
            else:  # once a line: a Bundle line may hold several claims
                offsets = self._claim_lines.setdefault(path, [])
                if not offsets or offsets[-1] != offset:
                    offsets.append(offset)

    def _bundle_records(self, path: Path) -> Iterator[Resource | Problem]:
        holds_claims = False
        for item in json_file(path, self.aliases):
            if isinstance(item, Problem) or item.get("resourceType") not in CLAIM_TYPES:
                yield item
            else:
                holds_claims = True
        if holds_claims:
            self._claim_bundles.add(path)

    # The claim pass

    def claim_pages(self, test: LineTest | None = None
                    ) -> Iterator[Sequence[Resource | Problem | Unbilled]]:
        """Claims a page at a time, in file order; call after ``records``. With ``test`` (the
        claim test of ``adapter.evidence.needs``), a line of a claim file it finds nothing in
        bills no B12: it is not parsed, only named (``Unbilled``), as the records scan does
        with the records that cannot matter. Nearly every claim of a real export is one."""
        page: list[Resource | Problem | Unbilled] = []
        for item in self._claims(test):
            page.append(item)
            if len(page) >= CLAIM_PAGE_SIZE:
                yield page
                page = []
        if page:
            yield page

    def _claims(self, test: LineTest | None) -> Iterator[Resource | Problem | Unbilled]:
        for data in self.files:
            if data.problem is not None:
                if data.claims_only:  # the records pass named the others
                    yield Problem(file_name(data.path), data.problem)
                continue
            # gzipped: a damaged stream fails a whole block of the scan, so read line by line
            # and keep every claim before the damage, as ever
            if data.claims_only and test is not None and data.rtype is not None \
                    and not gzipped(data.path):
                scanned = scan(data.path, data.rtype, test, self.aliases, ordered=True,
                               accepts=None)
                yield from _only_claims((Unbilled(item.refs[0]) if type(item) is Seen
                                         else item for item in scanned), data)
            elif data.claims_only:
                yield from _only_claims((item for _, item in lines(data.path, self.aliases)),
                                        data)
            elif data.path in self._claim_lines:
                yield from lines_at(data.path, self._claim_lines[data.path])
            elif data.path in self._claim_bundles:
                yield from (item for item in json_file(data.path, self.aliases)
                            if not isinstance(item, Problem)
                            and item.get("resourceType") in CLAIM_TYPES)


def _only_claims(items: Iterator[Resource | Problem | Unbilled], data: DataFile
                 ) -> Iterator[Resource | Problem | Unbilled]:
    """The claims of a file named for them; anything else in it is named, not read."""
    for item in items:
        if type(item) is not dict or item.get("resourceType") in CLAIM_TYPES:
            yield item
        else:
            ref = f"{item.get('resourceType')}/{item.get('id')}"
            yield Problem(ref, f"in {file_name(data.path)}, a file of {data.rtype}: not read")


# Which files a directory holds


def _scanned(data: DataFile, reads: Reads) -> bool:
    """Whether the file is read by the scan: NDJSON of one type that has a line test."""
    return data.ndjson and data.rtype is not None and data.rtype in reads.lines \
        and data.problem is None
