"""Which files of a source hold resources, and of which type: a Bulk Data export's
``manifest.json`` (its ``output`` entries resolved to the files beside it, even when their URLs
are the exporting server's), numbered or gzipped NDJSON files named by type, JSON files of one
resource or Bundle; ``log.ndjson`` and other files that hold no resources are not data.
"""

from __future__ import annotations

import gzip
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast
from urllib.parse import unquote, urlsplit

from adapter.evidence.fields import text
from adapter.sources import CLAIM_TYPES
from adapter.sources.resource_types import NAMED_TYPES

logger = logging.getLogger("adapter.sources")

_RESOURCE_TYPE = b'"resourceType"'
_BOM = b"\xef\xbb\xbf"
_SCAN_CHUNK = 1 << 16


class SourceError(Exception):
    """The source as a whole cannot be used (missing, not FHIR): the run stops with status 2."""


@dataclass(frozen=True)
class DataFile:
    """A file of resources: NDJSON (one per line) or JSON (one resource or Bundle)."""

    path: Path
    ndjson: bool
    rtype: str | None = None  # the one type the manifest or the file name says it holds
    problem: str | None = None  # named like data but not to be read as such: why

    @property
    def claims_only(self) -> bool:
        return self.rtype in CLAIM_TYPES


def directory_files(directory: Path) -> list[DataFile]:
    manifest = directory / "manifest.json"
    if manifest.is_file():
        return manifest_files(directory, manifest)
    files = []
    for path in sorted(directory.iterdir()):
        ndjson = is_ndjson(path)
        if not (ndjson or is_json(path)):
            continue
        if not path.is_file():  # named as data: an error naming it, not passed over
            files.append(DataFile(path, ndjson, type_from_name(path) if ndjson else None,
                                  problem=_not_a_file(path)))
            continue
        rtype = type_from_name(path) if ndjson else None
        if rtype is None and holds_resources(path) is False:
            logger.info("%s holds no FHIR resources: not data", file_name(path))
            continue  # the export's log.ndjson, a README.json ...
        files.append(DataFile(path, ndjson, rtype,
                              problem=NOT_NDJSON if ndjson and one_document(path) else None))
    return files


NOT_NDJSON = ("a JSON document over several lines, not NDJSON (one resource per line): not "
              "read (name it .json, or write one resource per line)")


def one_document(path: Path) -> bool:
    """Whether a file named as NDJSON is one JSON document over several lines, as a
    pretty-printer writes a Bundle or a resource: its first line is ``{`` or ``[`` alone and
    the whole file is one JSON value. Read as lines, it would be an error a line. Only the
    first line is read of any other file (an NDJSON line is a whole resource)."""
    try:
        with open_data(path) as handle:
            first = handle.readline()
            while first and not first.strip():
                first = handle.readline()
            if first.removeprefix(_BOM).strip() not in (b"{", b"["):
                return False
            whole = first.removeprefix(_BOM) + handle.read()
    except (OSError, EOFError, gzip.BadGzipFile):
        return False  # reading it says why
    try:
        return isinstance(json.loads(whole), dict | list)
    except (ValueError, RecursionError):
        return False  # not JSON either: each line is named


def _not_a_file(path: Path) -> str:
    """Why an entry named like a data file cannot be read (it is never opened: a pipe would
    block the run)."""
    if path.is_dir():
        return "cannot be read (a directory, not a file)"
    if path.is_symlink() and not path.exists():
        return "cannot be read (a link to a file that does not exist)"
    return "cannot be read (not a regular file)"


def manifest_files(directory: Path, manifest: Path) -> list[DataFile]:
    """The ``output`` files of a Bulk Data export manifest, with the types it names."""
    try:
        data = json.loads(manifest.read_bytes())
    except (ValueError, RecursionError) as exc:
        raise SourceError(f"{manifest}: not a Bulk Data export manifest (not valid JSON: "
                          f"{exc})") from None
    except OSError as exc:
        raise SourceError(f"{manifest}: cannot be read ({exc.strerror})") from None
    outputs = data.get("output") if isinstance(data, dict) else None
    if not isinstance(outputs, list):
        what = ("is not a JSON object" if not isinstance(data, dict)
                else "has no \"output\"" if "output" not in data
                else "has an \"output\" that is not a list")
        raise SourceError(f"{manifest}: not a Bulk Data export manifest: it {what} (a "
                          "manifest is an object whose \"output\" lists the files, each "
                          "{\"type\", \"url\"})")
    files: dict[Path, DataFile] = {}
    for entry in outputs:
        url = entry.get("url") if isinstance(entry, dict) else None
        rtype = entry.get("type") if isinstance(entry, dict) else None
        if not isinstance(url, str):
            raise SourceError(f"{manifest}: an output entry has no url")
        for path in _manifest_output(directory, url, rtype if isinstance(rtype, str) else None):
            files.setdefault(path, DataFile(
                path, ndjson=True,
                rtype=rtype if isinstance(rtype, str) else type_from_name(path),
                problem=NOT_NDJSON if one_document(path) else None))
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
                 if candidate.is_file() and is_ndjson(candidate)
                 and type_from_name(candidate) == rtype]
        if typed:
            return typed
    also = f" (nor any file of {text(rtype)})" if rtype else ""
    raise SourceError(f"manifest.json names {file_name(path)}, which is not in {directory}{also}")


def file_name(path: Path) -> str:
    """A file's name for a message (a name that is not UTF-8 is shown with U+FFFD)."""
    return text(path.name)


def is_ndjson(path: Path) -> bool:
    return path.name.lower().endswith((".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz"))


def is_json(path: Path) -> bool:
    return path.name.lower().endswith((".json", ".json.gz"))


def type_from_name(path: Path) -> str | None:
    """``Condition.ndjson``, ``Condition.000.ndjson``, ``1.Condition.ndjson.gz`` -> Condition;
    None for a name that is no resource type (``Export.ndjson``) or Bundle."""
    names = [part for part in path.name.split(".") if part in NAMED_TYPES]
    return names[0] if len(names) == 1 else None


def gzipped(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def open_data(path: Path) -> IO[bytes]:
    return cast(IO[bytes], gzip.open(path, "rb")) if gzipped(path) else path.open("rb")


def holds_resources(path: Path) -> bool | None:
    """Whether the file mentions ``"resourceType"`` at all: a cheap scan, whatever the key
    order or layout (a key-sorted Bundle has it last); None when it cannot be read (reading
    it then says why)."""
    try:
        with open_data(path) as handle:
            tail = b""
            while chunk := handle.read(_SCAN_CHUNK):
                if _RESOURCE_TYPE in tail + chunk:
                    return True
                tail = chunk[-len(_RESOURCE_TYPE):]
    except (OSError, EOFError, gzip.BadGzipFile):
        return None
    return False


# Reading
