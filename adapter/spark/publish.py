"""Runs under ``--out``, each in a folder of its own, published by a pointer written last.

    OUT/runs/<run id>/claims/ findings/ DetectedIssue/ skipped/ errors/ summary.json
    OUT/_LATEST           the run id of the last run that finished, written last

A run writes only into its own folder; ``_LATEST`` names it once every section and the
summary are written. On a local or mounted file system ``_LATEST`` is replaced by one
rename (``os.replace``), so a reader that follows it sees one whole run, the old or the new,
never a mix; a run killed midway leaves a folder no pointer names, and ``_LATEST`` still
names the last whole run. On an object store (``s3a://``, ``gs://``, ``abfss://``), and over
Spark Connect (the client does not share the server's disk), the pointer is a one-line text
part file in ``OUT/_LATEST/``, overwritten by Spark: a reader
may find it missing for a moment while it is replaced, but never naming a run that did not
finish. Plain Python (no pyspark): tested without Spark.
"""

from __future__ import annotations

import os
import re
import secrets
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

LATEST = "_LATEST"
RUNS = "runs"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def run_id(started: datetime) -> str:
    """Sortable by start time, unique across runs started in the same second."""
    return f"{started:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def join(base: str, *names: str) -> str:
    return "/".join([base.rstrip("/"), *names])


def run_dir(out: str, run: str) -> str:
    return join(out, RUNS, run)


def local_path(uri: str) -> Path | None:
    """The path of a local URI (a plain path or ``file:``), None for any other scheme."""
    if not _SCHEME.match(uri) or re.match(r"^[A-Za-z]:[\\/]", uri):  # C:\ is a path
        return Path(uri)
    parsed = urlparse(uri)
    return Path(parsed.path) if parsed.scheme == "file" else None


def scheme(uri: str) -> str | None:
    return None if local_path(uri) is not None else urlparse(uri).scheme.lower()


def write_local(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` in one rename: a reader sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def read_small(path: Path) -> str | None:
    """A small file as ``job.write_small`` leaves it: a file, or a Spark text folder."""
    if path.is_file():
        return path.read_text(encoding="utf-8")
    if path.is_dir():
        for part in sorted(path.glob("part-*")):
            text = part.read_text(encoding="utf-8")
            if text.strip():
                return text
    return None


def latest(out: str | Path) -> str | None:
    """The run id ``_LATEST`` names under a local ``out``."""
    text = read_small(Path(out) / LATEST)
    return text.strip() or None if text is not None else None


def latest_run(out: str | Path) -> Path:
    """The folder of the last whole run under a local ``out``."""
    run = latest(out)
    if run is None:
        raise FileNotFoundError(f"{out}: no finished run ({LATEST} names none)")
    return Path(out) / RUNS / run


def rename_parts(folder: Path, suffix: str) -> None:
    """Spark names text part files ``.txt``: give them the suffix a reader expects
    (``.ndjson``: what a FHIR server's bulk import takes)."""
    for part in folder.glob("part-*.txt"):
        part.rename(part.with_name(part.name[: -len(".txt")] + suffix))
