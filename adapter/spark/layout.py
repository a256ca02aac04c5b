"""Which files of a Bulk Data directory are data, as SPEC section 2 describes them.

``manifest.json`` (the export manifest), when present, names the files and their types;
without one, every ``*.ndjson`` / ``*.jsonl`` file (gzipped or not) is data, its type taken
from its name (``Condition.ndjson``, ``Condition.000.ndjson``, ``1.Condition.ndjson``), and
``*.json`` files other than the manifest are Bundles. ``log.ndjson`` (the export's log) and
anything else are not data. Files whose type cannot matter to a check (``DocumentReference``,
``Encounter``, ...) are never read: on a real export they are most of the bytes.

Pure: works on names and the manifest's text, so the Spark job lists the directory with
Hadoop's file system (local, ``s3a://``, ``abfss://``, ``gs://``) and tests need no Spark.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache

from adapter.outcomes import Problem

MANIFEST = "manifest.json"
LOG = "log.ndjson"
NDJSON_SUFFIXES = (".ndjson", ".jsonl", ".ndjson.gz", ".jsonl.gz")
BUNDLE_SUFFIXES = (".json", ".json.gz")


@dataclass(frozen=True, slots=True)
class DataFile:
    """One file to read: NDJSON (read by line, split across tasks) or a Bundle (read whole)."""

    path: str  # as Spark reads it: the directory's path or URI joined with the name
    name: str
    resource_type: str | None  # from the manifest or the name; None when neither says
    bundle: bool = False


@dataclass
class Layout:
    files: list[DataFile] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # names not read, and why
    problems: list[Problem] = field(default_factory=list)  # a manifest naming a missing file


def join(base: str, name: str) -> str:
    return f"{base.rstrip('/')}/{name}"


def type_from_name(name: str) -> str | None:
    """``Condition`` for ``Condition.ndjson``, ``Condition.000.ndjson``, ``1.Condition.ndjson``."""
    stem = name
    for suffix in (*NDJSON_SUFFIXES, *BUNDLE_SUFFIXES):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    words = [p for p in stem.split(".") if p and not p.isdigit()]
    return words[0] if len(words) == 1 and words[0][:1].isupper() and words[0].isalnum() else None


@cache
def is_resource_type(name: str) -> bool:
    """A FHIR resource type (by the R4B models); an unknown word says nothing about a file."""
    from fhir.resources.R4B import get_fhir_model_class
    from fhir.resources.R4B.resource import Resource

    try:
        model = get_fhir_model_class(name)
    except (KeyError, ValueError, ImportError, AttributeError):
        return False
    return isinstance(model, type) and issubclass(model, Resource)


def _hidden(name: str) -> bool:
    """Hadoop's convention: ``_SUCCESS``, ``.crc`` and dot files are not data."""
    return name.startswith(("_", "."))


def plan(base: str, names: Iterable[str], manifest: str | None,
         wanted: Callable[[str], bool]) -> Layout:
    """The files to read in directory ``base`` holding ``names``; ``manifest`` is the text of its
    manifest.json, if any; ``wanted(type)`` says whether a resource type can matter."""
    present = sorted(n for n in names if not _hidden(n))
    if manifest is not None:
        return _from_manifest(base, set(present), manifest, wanted)
    layout = Layout()
    for name in present:
        lower = name.lower()
        if lower == LOG:
            layout.ignored.append(f"{name}: the export's log")
        elif lower.endswith(NDJSON_SUFFIXES):
            rtype = type_from_name(name)
            if rtype is not None and is_resource_type(rtype) and not wanted(rtype):
                layout.ignored.append(f"{name}: {rtype} cannot matter to a check")
            else:
                layout.files.append(DataFile(join(base, name), name, rtype))
        elif lower.endswith(BUNDLE_SUFFIXES) and lower != MANIFEST:
            layout.files.append(DataFile(join(base, name), name, type_from_name(name), True))
        else:
            layout.ignored.append(f"{name}: not an NDJSON or JSON file")
    return layout  # by name, as the file source reads them (which of two claims is first)


def _from_manifest(base: str, present: set[str], text: str,
                   wanted: Callable[[str], bool]) -> Layout:
    layout = Layout(ignored=[f"{n}: not named in {MANIFEST}" for n in sorted(present)
                             if n != MANIFEST])
    try:
        manifest = json.loads(text.lstrip("\ufeff"))
        outputs = manifest["output"]
        if not isinstance(outputs, list):
            raise TypeError
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        layout.problems.append(Problem(MANIFEST, f"not a Bulk Data manifest ({exc!r}); "
                                       "no file was read"))
        return layout
    for index, entry in enumerate(outputs):
        url = entry.get("url") if isinstance(entry, dict) else None
        if not isinstance(url, str) or not url:
            layout.problems.append(Problem(f"{MANIFEST} output[{index}]", "has no url"))
            continue
        name = url.rstrip("/").rsplit("/", 1)[-1]
        rtype = entry.get("type") if isinstance(entry.get("type"), str) else type_from_name(name)
        layout.ignored = [i for i in layout.ignored if not i.startswith(f"{name}: ")]
        if name not in present:
            layout.problems.append(Problem(f"{MANIFEST} output[{index}]",
                                           f"names {name}, which is not in the directory"))
        elif rtype is not None and not wanted(rtype):
            layout.ignored.append(f"{name}: {rtype} cannot matter to a check")
        else:
            bundle = name.lower().endswith(BUNDLE_SUFFIXES)
            layout.files.append(DataFile(join(base, name), name, rtype, bundle))
    return layout  # in the manifest's order, as the file source reads them


def single_file(path: str) -> DataFile:
    """A source that is one file: NDJSON by its suffix, else a Bundle (or one resource)."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return DataFile(path, name, type_from_name(name), not name.lower().endswith(NDJSON_SUFFIXES))
