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
from typing import IO, Any, cast
from urllib.parse import unquote, urlsplit

import orjson

from adapter.evidence.fields import text
from adapter.outcomes import Problem
from adapter.sources import CLAIM_TYPES
from adapter.sources.base import LineTest, Reads, Records, Seen
from adapter.sources.bundles import unpack

logger = logging.getLogger("adapter.sources")

Resource = dict[str, Any]
CLAIM_PAGE_SIZE = 500
_TYPE_NAME = re.compile(r"[A-Z][A-Za-z]{2,63}")
_RESOURCE_TYPE = b'"resourceType"'
_BOM = b"\xef\xbb\xbf"
_BLOCK = 1 << 22  # bytes read at a time by the scan of a typed file
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
            if size is None or not _scanned(data, reads) or _gzipped(data.path):
                parts.append(Part(data))
                continue
            parts += [Part(data, start, end, alone=True)
                      for start, end in _ranges(data.path, size)]
        return parts

    def prescan_claims(self, test: LineTest) -> Iterator[bytes] | None:
        """The lines ``test`` finds something in, raw, from the files named for a claim type;
        None when claims may sit anywhere else (a Bundle, a file of mixed types), so no
        pre-scan can be complete. Nothing is checked: the claim pass reads them again."""
        if not all(data.ndjson and data.rtype is not None for data in self.files):
            return None
        return (line for data in self.files if data.claims_only
                for line in _lines_found(data.path, test))

    def scanned_bytes(self, reads: Reads) -> int:
        """Size of the files the scan reads (typed NDJSON with a line test): the work that
        worker processes can share."""
        return sum(data.path.stat().st_size for data in self.files if _scanned(data, reads))

    def part_records(self, part: Part, reads: Reads) -> Iterator[Resource | Problem | Seen]:
        data = part.data
        if _scanned(data, reads):
            assert data.rtype is not None
            yield from _scan(data.path, data.rtype, reads.lines[data.rtype], self.aliases,
                             part.start, part.end)
        elif data.ndjson:
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
    files: dict[Path, DataFile] = {}
    for entry in outputs:
        url = entry.get("url") if isinstance(entry, dict) else None
        rtype = entry.get("type") if isinstance(entry, dict) else None
        if not isinstance(url, str):
            raise SourceError(f"{manifest}: an output entry has no url")
        for path in _manifest_output(directory, url, rtype if isinstance(rtype, str) else None):
            files.setdefault(path, DataFile(
                path, ndjson=True,
                rtype=rtype if isinstance(rtype, str) else _type_from_name(path)))
    return list(files.values())


def _manifest_output(directory: Path, url: str, rtype: str | None) -> list[Path]:
    """The local files of one manifest entry: the file beside the manifest named as the URL's
    last segment; else, when the URL is the exporting server's (published exports keep
    them, and a downloader saves each file under its type's name), the files beside it named
    for the entry's type (``Condition.ndjson``, ``Condition.000.ndjson``)."""
    parts = urlsplit(url)
    path = directory / Path(unquote(parts.path)).name
    if path.is_file():
        return [path]
    if parts.scheme.lower() in ("http", "https") and rtype is not None:
        typed = [candidate for candidate in sorted(directory.iterdir())
                 if candidate.is_file() and _is_ndjson(candidate)
                 and _type_from_name(candidate) == rtype]
        if typed:
            return typed
    also = f" (nor any file of {text(rtype)})" if rtype else ""
    raise SourceError(f"manifest.json names {_name(path)}, which is not in {directory}{also}")


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


def _scanned(data: DataFile, reads: Reads) -> bool:
    """Whether the file is read by the scan: NDJSON of one type that has a line test."""
    return data.ndjson and data.rtype is not None and data.rtype in reads.lines


def _ranges(path: Path, size: int) -> list[tuple[int, int | None]]:
    """``path`` cut into ranges of about ``size`` bytes, each ending after a newline."""
    total = path.stat().st_size
    starts = [0]
    with path.open("rb") as handle:
        while starts[-1] + size < total:
            handle.seek(starts[-1] + size)
            handle.readline()  # to the end of the line the cut falls in
            if handle.tell() >= total:
                break
            starts.append(handle.tell())
    return [(start, end) for start, end in zip(starts, [*starts[1:], None], strict=True)]


def _gzipped(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def _open(path: Path) -> IO[bytes]:
    return cast(IO[bytes], gzip.open(path, "rb")) if _gzipped(path) else path.open("rb")


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
    name = _name(path)
    try:
        with _open(path) as handle:
            offset = 0
            for number, raw in enumerate(handle, 1):
                at, offset = offset, offset + len(raw)
                if number == 1 and raw.startswith(_BOM):
                    raw = raw[3:]
                try:  # the common case inline: one valid resource, not a Bundle
                    resource = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    resource = None
                if type(resource) is dict and type(rtype := resource.get("resourceType")) is str \
                        and rtype != "Bundle":
                    yield at, resource
                elif raw.strip():
                    for item in _parse_line(raw, f"{name}:{number}", aliases):
                        yield at, item
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        yield 0, Problem(name, f"cannot be read ({exc})")


class _LinesBefore:
    """How many lines come before a block of a scanned file, for naming a bad line. A range
    that starts mid-file counts the lines before it only if one of its lines is bad."""

    def __init__(self, path: Path, start: int) -> None:
        self.path, self.start = path, start
        self.in_range = 0  # lines of the range before the current block
        self._before_range: int | None = 0 if start == 0 else None

    def __call__(self) -> int:
        if self._before_range is None:
            with _open(self.path) as handle:
                left, count = self.start, 0
                while left > 0 and (chunk := handle.read(min(_BLOCK, left))):
                    count, left = count + chunk.count(b"\n"), left - len(chunk)
            self._before_range = count
        return self._before_range + self.in_range


def _scan(path: Path, rtype: str, test: LineTest, aliases: dict[str, str], start: int = 0,
          end: int | None = None) -> Iterator[Resource | Problem | Seen]:
    """Bytes ``start``..``end`` of a file of one resource type, read a block at a time:
    ``test`` runs over the whole block and only the lines it finds something in are parsed;
    every other line is known by the ``Type/id`` its start gives
    (``{"resourceType":"X","id":"..."``, as exports write), in one ``findall``, and is not
    parsed (so not checked: a line cut short, not ending in ``}``, still is, and named). A
    block whose lines do not all start and end so is read line by line (the same tests, then
    parsed or not), so nothing is guessed."""
    name = _name(path)
    leading = re.compile(rb'\n\{"resourceType": ?"' + re.escape(rtype.encode())
                         + rb'", ?"id": ?"([A-Za-z0-9\-.]{1,64})"[,}]')
    before = _LinesBefore(path, start)
    try:
        with _open(path) as handle:
            left = None if end is None else end - start
            if start:
                handle.seek(start)
                carry = b""
            else:
                carry = handle.read(3)
                left = None if left is None else left - len(carry)
                carry = carry[3:] if carry == _BOM else carry
            while True:
                chunk = handle.read(_BLOCK if left is None else min(_BLOCK, left))
                left = None if left is None else left - len(chunk)
                block = carry + chunk
                if chunk:
                    cut = block.rfind(b"\n") + 1
                    block, carry = block[:cut], block[cut:]
                    if not block:
                        continue  # a line longer than a block: read on
                if block:
                    newlines = block.count(b"\n")
                    yield from _scan_block(block, newlines, name, before, rtype, test,
                                           leading, aliases)
                    before.in_range += newlines
                if not chunk:
                    return
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        yield Problem(name, f"cannot be read ({exc})")


def _scan_block(block: bytes, newlines: int, name: str, before: _LinesBefore, rtype: str,
                test: LineTest, leading: re.Pattern[bytes], aliases: dict[str, str]
                ) -> Iterator[Resource | Problem | Seen]:
    def parsed(raw: bytes, index: int) -> Iterator[Resource | Problem]:
        """Line ``index`` (from 0) of the block, read the slow way that names problems."""
        where = f"{name}:{before() + index + 1}"
        for item in _parse_line(raw, where, aliases):
            if isinstance(item, Problem) or item["resourceType"] == rtype:
                yield item
            else:  # a file named for one type holds another: named, not read
                yield Problem(where, f"a {item['resourceType']} in a file of {rtype}: "
                              "not read")

    lines = newlines + (not block.endswith(b"\n"))
    spans = _found_lines(block, test)
    ids: list[bytes] = []
    if len(spans) < lines:  # lines passed over: known by their start, if all are well-formed
        ids = leading.findall(b"\n" + block)  # the \n: the first line starts like the others
        closed = block.count(b"}\n") + block.endswith(b"}")
        if b"\r" in block:  # CRLF
            closed += block.count(b"}\r\n")
        if len(ids) != lines or closed != lines:  # a blank, odd or cut-short line: one by one
            for index, raw in enumerate(block.split(b"\n")):
                if not raw.strip():
                    continue
                found = leading.match(b"\n" + raw)
                if found is None or not raw.rstrip().endswith(b"}") or test.keeps(raw):
                    yield from parsed(raw, index)
                else:
                    yield Seen((f"{rtype}/{found.group(1).decode()}",))
            return
    for start, end in spans:
        try:  # the common case inline: a valid resource of the file's type
            resource = orjson.loads(block[start:end])
        except orjson.JSONDecodeError:
            resource = None
        if type(resource) is dict and resource.get("resourceType") == rtype:
            yield resource
        else:
            yield from parsed(block[start:end], block.count(b"\n", 0, start))
    if ids:
        yield Seen(tuple(f"{rtype}/{rid.decode()}" for rid in ids))


def _found_lines(block: bytes, test: LineTest) -> list[tuple[int, int]]:
    """(start, end) of each line of ``block`` that ``test`` finds something in."""
    spans = []
    end = -1
    for hit in test.found(block):
        if hit > end:  # the first hit of a line
            start = block.rfind(b"\n", 0, hit) + 1
            end = block.find(b"\n", hit)
            end = len(block) if end < 0 else end
            spans.append((start, end))
    return spans


def _lines_found(path: Path, test: LineTest) -> Iterator[bytes]:
    """The lines of ``path`` that ``test`` finds something in, a block at a time."""
    try:
        with _open(path) as handle:
            carry = b""
            while True:
                chunk = handle.read(_BLOCK)
                block = carry + chunk
                cut = block.rfind(b"\n") + 1 if chunk else len(block)
                block, carry = block[:cut], block[cut:]
                yield from (block[start:end] for start, end in _found_lines(block, test))
                if not chunk:
                    return
    except (OSError, EOFError, gzip.BadGzipFile):
        return  # the claim pass names it


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
    elif isinstance(resource, list):  # some servers' fixture files: an array of resources
        for index, item in enumerate(resource):
            yield from _one_resource(item, f"{where}[{index}]", aliases)
    else:
        yield from _one_resource(resource, where, aliases)


def _one_resource(resource: Any, where: str, aliases: dict[str, str]
                  ) -> Iterator[Resource | Problem]:
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
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
    """JSON from UTF-8 bytes, or a Problem saying why not (never an exception). orjson reads
    what is valid JSON several times faster; anything it refuses (NaN, a lone surrogate, an
    integer past 64 bits, invalid UTF-8, deep nesting) is read again by the standard parser,
    so a value it accepts reaches the field checks that name it, and the rest is named."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(raw)
    except UnicodeDecodeError as exc:
        return Problem(where, f"not valid UTF-8 (byte {exc.start})")
    except RecursionError:
        return Problem(where, "JSON nested too deeply to read")
    except ValueError as exc:  # JSONDecodeError, and integers too long to convert
        message = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc).split(";")[0]
        return Problem(where, f"not valid JSON ({message})")
