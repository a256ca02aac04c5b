"""Reading a data file's lines: whole blocks of a typed NDJSON file scanned by a line test in
one pass (Aho-Corasick over the raw bytes), only the lines it finds something in parsed; a
line or file that cannot be read is a ``Problem`` naming it (file and line), the rest goes on.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import ahocorasick_rs
import orjson

from adapter.outcomes import Problem
from adapter.sources import CLAIM_TYPES
from adapter.sources.base import LineTest, Seen
from adapter.sources.bundles import unpack
from adapter.sources.export_files import file_name, open_data

Resource = dict[str, Any]
_BOM = b"\xef\xbb\xbf"
_BLOCK = 1 << 22  # bytes read at a time by the scan of a typed file


def ranges(path: Path, size: int) -> list[tuple[int, int | None]]:
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


def lines(path: Path, aliases: dict[str, str]) -> Iterator[tuple[int, Resource | Problem]]:
    """(byte offset, resource or problem) for each non-blank line; a Bundle line unpacked."""
    name = file_name(path)
    try:
        with open_data(path) as handle:
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
            with open_data(self.path) as handle:
                left, count = self.start, 0
                while left > 0 and (chunk := handle.read(min(_BLOCK, left))):
                    count, left = count + chunk.count(b"\n"), left - len(chunk)
            self._before_range = count
        return self._before_range + self.in_range


def scan(path: Path, rtype: str, test: LineTest, aliases: dict[str, str], start: int = 0,
          end: int | None = None, ordered: bool = False,
          accepts: frozenset[str] | None = frozenset()) -> Iterator[Resource | Problem | Seen]:
    """Bytes ``start``..``end`` of a file of one resource type, read a block at a time:
    ``test`` runs over the whole block and only the lines it finds something in are parsed;
    every other line is known by the ``Type/id`` its start gives
    (``{"resourceType":"X","id":"..."``, as exports write), in one ``findall``, and is not
    parsed (so not checked: a line cut short, not ending in ``}``, still is, and named; so is
    the file's last line when no newline ends it, where a file cut short ends). A
    block whose lines do not all start and end so is read line by line (the same tests, then
    parsed or not), so nothing is guessed. ``ordered``: the lines passed over come each as its
    own ``Seen``, in file order among the parsed ones (the claim pass: a report lists skipped
    claims in order); else a block's together, after its parsed lines. ``accepts``: other
    types read as the file's own (None: any; the caller names what it does not read)."""
    name = file_name(path)
    leading = re.compile(rb'\n\{"resourceType": ?"' + re.escape(rtype.encode())
                         + rb'", ?"id": ?"([A-Za-z0-9\-.]{1,64})"[,}]')
    before = _LinesBefore(path, start)
    try:
        with open_data(path) as handle:
            left = None if end is None else end - start
            if start:
                handle.seek(start)
                carry = b""
            else:
                carry = handle.read(3)
                left = None if left is None else left - len(carry)
                carry = carry[3:] if carry == _BOM else carry
            while True:
                chunk, damage = _read(handle, _BLOCK if left is None else min(_BLOCK, left))
                left = None if left is None else left - len(chunk)
                block = carry + chunk
                if chunk or damage:
                    cut = block.rfind(b"\n") + 1  # damaged: the line it cut is lost, as in lines()
                    block, carry = block[:cut], block[cut:]
                    if not block and not damage:
                        continue  # a line longer than a block: read on
                if block:
                    newlines = block.count(b"\n")
                    yield from _scan_block(block, newlines, name, before, rtype, test,
                                           leading, aliases, ordered, accepts)
                    before.in_range += newlines
                if damage:
                    raise damage
                if not chunk:
                    return
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        yield Problem(name, f"cannot be read ({exc})")


def _read(handle: IO[bytes], size: int) -> tuple[bytes, Exception | None]:
    """Up to ``size`` bytes of the file, and None; of a damaged gzip stream, the bytes it gave
    before the damage and the error (one ``read`` would lose them all: the lines before the
    damage are read, as ``lines`` reads them)."""
    if not isinstance(handle, gzip.GzipFile):
        return handle.read(size), None
    parts: list[bytes] = []
    got = 0
    try:
        while got < size and (part := handle.read1(size - got)):
            parts.append(part)
            got += len(part)
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        return b"".join(parts), exc
    return b"".join(parts), None


def _scan_block(block: bytes, newlines: int, name: str, before: _LinesBefore, rtype: str,
                test: LineTest, leading: re.Pattern[bytes], aliases: dict[str, str],
                ordered: bool, accepts: frozenset[str] | None
                ) -> Iterator[Resource | Problem | Seen]:
    def parsed(raw: bytes, index: int) -> Iterator[Resource | Problem]:
        """Line ``index`` (from 0) of the block, read the slow way that names problems."""
        where = f"{name}:{before() + index + 1}"
        for item in _parse_line(raw, where, aliases):
            if isinstance(item, Problem) or item["resourceType"] == rtype or accepts is None \
                    or item["resourceType"] in accepts:
                yield item
            else:  # a file named for one type holds another: named, not read
                yield Problem(where, f"a {item['resourceType']} in a file of {rtype}: "
                              "not read")

    if not block.endswith(b"\n"):
        # the file's last line, with no newline after it: where a file cut short ends, so it
        # is parsed (a cut that falls after a "}" would pass for a whole line, and a claim
        # cut short for one that bills no B12)
        cut = block.rfind(b"\n") + 1
        if cut:
            yield from _scan_block(block[:cut], newlines, name, before, rtype, test, leading,
                                   aliases, ordered, accepts)
        if block[cut:].strip():
            yield from parsed(block[cut:], newlines)
        return
    lines = newlines
    spans = _found_lines(block, test)
    ids: list[bytes] = []
    if len(spans) < lines:  # lines passed over: known by their start, if all are well-formed
        ids = leading.findall(b"\n" + block)  # the \n: the first line starts like the others
        closed = _closed_lines(block)
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
    if ordered and ids:
        wanted = dict(spans)
        line_start = 0
        for rid in ids:  # a line each, in order: parsed, or passed over
            end = block.find(b"\n", line_start)
            end = len(block) if end < 0 else end
            if line_start in wanted:
                yield from _read_span(block, line_start, end, rtype, parsed)
            else:
                yield Seen((f"{rtype}/{rid.decode()}",))
            line_start = end + 1
        return
    broken: set[int] = set()  # lines parsed that gave a problem: not known to exist
    for start, end in spans:
        for item in _read_span(block, start, end, rtype, parsed):
            if type(item) is Problem:
                broken.add(block.count(b"\n", 0, start))
            yield item
    if ids:
        yield Seen(tuple(f"{rtype}/{rid.decode()}" for index, rid in enumerate(ids)
                         if index not in broken))


def _read_span(block: bytes, start: int, end: int, rtype: str,
               parsed: Callable[[bytes, int], Iterator[Resource | Problem]]
               ) -> Iterator[Resource | Problem]:
    try:  # the common case inline: a valid resource of the file's type
        resource = orjson.loads(block[start:end])
    except orjson.JSONDecodeError:
        resource = None
    if type(resource) is dict and resource.get("resourceType") == rtype:
        yield resource
    else:
        yield from parsed(block[start:end], block.count(b"\n", 0, start))


_CLOSING = ahocorasick_rs.BytesAhoCorasick([b"}\n", b"}\r\n"])


def _closed_lines(block: bytes) -> int:
    """How many lines of ``block`` (which ends in a newline) end in ``}``: one Aho-Corasick
    pass (memchr-fast), where ``bytes.count(b"}\n")`` takes ten times as long."""
    return len(_CLOSING.find_matches_as_indexes(block))


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
    if test.narrowed:
        return [(start, end) for start, end in spans if test.belongs(block[start:end])]
    return spans


def lines_found(path: Path, test: LineTest) -> Iterator[bytes]:
    """The lines of ``path`` that ``test`` finds something in, a block at a time."""
    try:
        with open_data(path) as handle:
            carry = b""
            while True:
                chunk, damage = _read(handle, _BLOCK)
                block = carry + chunk
                cut = block.rfind(b"\n") + 1 if chunk or damage else len(block)
                block, carry = block[:cut], block[cut:]
                yield from (block[start:end] for start, end in _found_lines(block, test))
                if damage or not chunk:
                    return  # damaged: the claim pass names it
    except (OSError, EOFError, gzip.BadGzipFile):
        return  # the claim pass names it


def lines_at(path: Path, offsets: list[int]) -> Iterator[Resource | Problem]:
    """The claims at ``offsets`` (noted by the records pass) of an uncompressed NDJSON file;
    a gzipped file is read again whole."""
    if path.name.lower().endswith(".gz"):
        yield from (item for _, item in lines(path, {}) if not isinstance(item, Problem)
                    and item.get("resourceType") in CLAIM_TYPES)
        return
    with path.open("rb") as handle:
        for at in offsets:
            handle.seek(at)
            raw = handle.readline()
            if at == 0 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            yield from (item for item in _parse_line(raw, f"{file_name(path)}@{at}", {})
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


def json_file(path: Path, aliases: dict[str, str]) -> Iterator[Resource | Problem]:
    try:
        with open_data(path) as handle:
            raw = handle.read()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        yield Problem(file_name(path), f"cannot be read ({exc})")
        return
    yield from _parse_line(raw.removeprefix(b"\xef\xbb\xbf"), file_name(path), aliases)


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
        return Problem(where, f"not valid JSON ({message}){_ndjson_hint(raw, message)}")


def _ndjson_hint(raw: bytes, message: str) -> str:
    """What to do when a whole file that is not one JSON value is NDJSON under another name
    (``x.json``, no extension): its first line alone is a JSON object."""
    first, newline, _ = raw.partition(b"\n")
    if message != "Extra data" or not newline:
        return ""
    try:
        return (": it is NDJSON, one resource per line: name it .ndjson"
                if isinstance(orjson.loads(first), dict) else "")
    except orjson.JSONDecodeError:
        return ""
