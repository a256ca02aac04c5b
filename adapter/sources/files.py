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
JSON are all read. A line or file that cannot be read is a ``Problem`` naming it; the rest
goes on.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from adapter.evidence.fields import text
from adapter.outcomes import Problem
from adapter.sources import CLAIM_TYPES
from adapter.sources.base import Reads, Records
from adapter.sources.bundles import unpack

logger = logging.getLogger("adapter.sources")

Resource = dict[str, Any]
CLAIM_PAGE_SIZE = 500
_TYPE_NAME = re.compile(r"[A-Z][A-Za-z]{2,63}")
_RESOURCE_TYPE = b'"resourceType"'
_SCAN_CHUNK = 1 << 16


class SourceError(Exception):
    """The source as a whole cannot be used (missing, not FHIR): the run stops with status 2."""


@dataclass(frozen=True)
class DataFile:
    """A file of resources: NDJSON (one per line) or JSON (one resource or Bundle)."""

    path: Path
    ndjson: bool
    rtype: str | None = None  # the one type the manifest or the file name says it holds

    @property
    def claims_only(self) -> bool:
        return self.rtype in CLAIM_TYPES


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
            source.files = _directory_files(p)
            if not source.files:
                raise SourceError(f"{p}: directory holds no FHIR NDJSON or JSON files")
        else:
            ndjson = _is_ndjson(p)
            if _holds_resources(p) is not True:
                kind = "FHIR NDJSON (one resource per line)" if ndjson else \
                    "a FHIR JSON resource or Bundle"
                raise SourceError(f"{p}: not {kind}")
            source.files = [DataFile(p, ndjson, _type_from_name(p) if ndjson else None)]
        return source

    # The records pass

    def records(self, reads: Reads) -> Records:
        """Every resource but the claims; where claims were met is noted for ``claim_pages``."""
        return Records(self._records(), self.aliases)

    def _records(self) -> Iterator[Resource | Problem]:
        for data in self.files:
            if data.claims_only:
                continue
            if data.ndjson:
                yield from self._ndjson_records(data.path)
            else:
                yield from self._bundle_records(data.path)

    def _ndjson_records(self, path: Path) -> Iterator[Resource | Problem]:
        for offset, item in _lines(path, self.aliases):
            if isinstance(item, Problem) or item.get("resourceType") not in CLAIM_TYPES:
                yield item
            else:
                self._claim_lines.setdefault(path, []).append(offset)

    def _bundle_records(self, path: Path) -> Iterator[Resource | Problem]:
        holds_claims = False
        for item in _json_file(path, self.aliases):
            if isinstance(item, Problem) or item.get("resourceType") not in CLAIM_TYPES:
                yield item
            else:
                holds_claims = True
        if holds_claims:
            self._claim_bundles.add(path)

    # The claim pass

    def claim_pages(self) -> Iterator[Sequence[Resource | Problem]]:
        """Claims a page at a time, in file order; call after ``records``."""
        page: list[Resource | Problem] = []
        for item in self._claims():
            page.append(item)
            if len(page) >= CLAIM_PAGE_SIZE:
                yield page
                page = []
        if page:
            yield page

    def _claims(self) -> Iterator[Resource | Problem]:
        for data in self.files:
            if data.claims_only:
                yield from _only_claims(_lines(data.path, self.aliases), data)
            elif data.path in self._claim_lines:
                yield from _lines_at(data.path, self._claim_lines[data.path])
            elif data.path in self._claim_bundles:
                yield from (item for item in _json_file(data.path, self.aliases)
                            if not isinstance(item, Problem)
                            and item.get("resourceType") in CLAIM_TYPES)


def _only_claims(lines: Iterator[tuple[int, Resource | Problem]], data: DataFile
                 ) -> Iterator[Resource | Problem]:
    """The claims of a file named for them; anything else in it is named, not read."""
    for _, item in lines:
        if isinstance(item, Problem) or item.get("resourceType") in CLAIM_TYPES:
            yield item
        else:
            ref = f"{item.get('resourceType')}/{item.get('id')}"
            yield Problem(ref, f"in {_name(data.path)}, a file of {data.rtype}: not read")


# Which files a directory holds

def _directory_files(directory: Path) -> list[DataFile]:
    manifest = directory / "manifest.json"
    if manifest.is_file():
        return _manifest_files(directory, manifest)
    files = []
    for path in sorted(directory.iterdir()):
        if not path.is_file():
            continue
        ndjson = _is_ndjson(path)
        if not (ndjson or _is_json(path)):
            continue
        rtype = _type_from_name(path) if ndjson else None
        if rtype is None and _holds_resources(path) is False:
            logger.info("%s holds no FHIR resources: not data", _name(path))
            continue  # the export's log.ndjson, a README.json ...
        files.append(DataFile(path, ndjson, rtype))
    return files


def _manifest_files(directory: Path, manifest: Path) -> list[DataFile]:
    """The ``output`` files of a Bulk Data export manifest, with the types it names."""
    try:
        data = json.loads(manifest.read_bytes())
        outputs = data["output"]
        assert isinstance(outputs, list)
    except (ValueError, KeyError, TypeError, AssertionError, RecursionError) as exc:
        raise SourceError(f"{manifest}: not a Bulk Data export manifest ({exc})") from None
    files = []
    for entry in outputs:
        url = entry.get("url") if isinstance(entry, dict) else None
        rtype = entry.get("type") if isinstance(entry, dict) else None
        if not isinstance(url, str):
            raise SourceError(f"{manifest}: an output entry has no url")
        path = directory / Path(unquote(urlsplit(url).path)).name
        if not path.is_file():
            raise SourceError(f"{manifest}: names {_name(path)}, which is not in {directory}")
        files.append(DataFile(path, ndjson=True,
                              rtype=rtype if isinstance(rtype, str) else _type_from_name(path)))
    return files


def _name(path: Path) -> str:
    """A file's name for a message (a name that is not UTF-8 is shown with U+FFFD)."""
    return text(path.name)


def _is_ndjson(path: Path) -> bool:
    return path.name.lower().endswith((".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz"))


def _is_json(path: Path) -> bool:
    return path.name.lower().endswith((".json", ".json.gz"))


def _type_from_name(path: Path) -> str | None:
    """``Condition.ndjson``, ``Condition.000.ndjson``, ``1.Condition.ndjson.gz`` -> Condition."""
    names = [part for part in path.name.split(".") if _TYPE_NAME.fullmatch(part)]
    return names[0] if len(names) == 1 else None


def _open(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")


def _holds_resources(path: Path) -> bool | None:
    """Whether the file mentions ``"resourceType"`` at all: a cheap scan, whatever the key
    order or layout (a key-sorted Bundle has it last); None when it cannot be read (reading
    it then says why)."""
    try:
        with _open(path) as handle:
            tail = b""
            while chunk := handle.read(_SCAN_CHUNK):
                if _RESOURCE_TYPE in tail + chunk:
                    return True
                tail = chunk[-len(_RESOURCE_TYPE):]
    except (OSError, EOFError, gzip.BadGzipFile):
        return None
    return False


# Reading

def _lines(path: Path, aliases: dict[str, str]) -> Iterator[tuple[int, Resource | Problem]]:
    """(byte offset, resource or problem) for each non-blank line; a Bundle line unpacked."""
    try:
        with _open(path) as handle:
            offset = 0
            for number, raw in enumerate(handle, 1):
                at, offset = offset, offset + len(raw)
                if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                if raw.strip():
                    for item in _parse_line(raw, f"{_name(path)}:{number}", aliases):
                        yield at, item
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        yield 0, Problem(_name(path), f"cannot be read ({exc})")


def _lines_at(path: Path, offsets: list[int]) -> Iterator[Resource | Problem]:
    """The claims at ``offsets`` (noted by the records pass) of an uncompressed NDJSON file;
    a gzipped file is read again whole."""
    if path.name.lower().endswith(".gz"):
        yield from (item for _, item in _lines(path, {}) if not isinstance(item, Problem)
                    and item.get("resourceType") in CLAIM_TYPES)
        return
    with path.open("rb") as handle:
        for at in offsets:
            handle.seek(at)
            raw = handle.readline()
            if at == 0 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            yield from (item for item in _parse_line(raw, f"{_name(path)}@{at}", {})
                        if isinstance(item, Problem) or item.get("resourceType") in CLAIM_TYPES)


def _parse_line(raw: bytes, where: str, aliases: dict[str, str]
                ) -> Iterator[Resource | Problem]:
    resource = _parse(raw, where)
    if isinstance(resource, Problem):
        yield resource
    elif not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        yield Problem(where, "not a FHIR resource (no resourceType)")
    elif resource["resourceType"] == "Bundle":
        yield from unpack(resource, where, aliases)
    else:
        yield resource


def _json_file(path: Path, aliases: dict[str, str]) -> Iterator[Resource | Problem]:
    try:
        with _open(path) as handle:
            raw = handle.read()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        yield Problem(_name(path), f"cannot be read ({exc})")
        return
    yield from _parse_line(raw.removeprefix(b"\xef\xbb\xbf"), _name(path), aliases)


def _parse(raw: bytes, where: str) -> Any:
    """JSON from UTF-8 bytes, or a Problem saying why not (never an exception)."""
    try:
        return json.loads(raw)
    except UnicodeDecodeError as exc:
        return Problem(where, f"not valid UTF-8 (byte {exc.start})")
    except RecursionError:
        return Problem(where, "JSON nested too deeply to read")
    except ValueError as exc:  # JSONDecodeError, and integers too long to convert
        message = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc).split(";")[0]
        return Problem(where, f"not valid JSON ({message})")
