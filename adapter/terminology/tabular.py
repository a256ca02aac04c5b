"""The ICD-10-CM tabular as a small on-disk index: titles, leaves, parents, "code first" notes.

simple-icd-10-cm parses the CDC XML when it is imported: about 1.3 s and 200 MB in every
process, which a per-claim call cannot afford. The facts the checks read are written once to
an SQLite file in the user's cache (``B12_CACHE_DIR``, else ``$XDG_CACHE_HOME`` or
``~/.cache``, then ``b12-fhir-adapter/``), named for the adapter's and simple-icd-10-cm's
versions, so an upgrade of either builds a new one; every later process opens it in a
millisecond and asks for the few codes it meets. The file is written to a temporary name and
renamed, so processes starting together never read half of it. Where the cache cannot be
written, the index is built in memory (the old cost, nothing worse).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import tempfile
import threading
from functools import cache
from importlib.metadata import version
from pathlib import Path

from adapter import __version__

logger = logging.getLogger("adapter.terminology")
_LOCK = threading.Lock()
_SCHEMA = """
create table item (
    code text primary key,      -- dotted, as the tabular writes it (D51.0, G63, D50-D53)
    title text not null,
    leaf integer not null,      -- a leaf is a billable code
    parent text,
    code_first text not null    -- its own note, else the nearest ancestor's (as the package)
) without rowid;
"""


def cache_path() -> Path:
    root = os.environ.get("B12_CACHE_DIR")
    if root:
        base = Path(root)
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        base = base / "b12-fhir-adapter"
    return base / f"icd10cm-{version('simple-icd-10-cm')}-adapter-{__version__}.sqlite"


@cache
def connection() -> sqlite3.Connection:
    """The index, built on first use; read-only, shareable between threads."""
    with _LOCK:
        path = cache_path()
        if not path.exists():
            try:
                _build_file(path)
            except OSError as exc:
                logger.warning("cannot write the ICD-10-CM index to %s (%s): built in memory",
                               path.parent, exc.strerror)
                memory = sqlite3.connect(":memory:", check_same_thread=False)
                _fill(memory)
                return memory
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)


def _build_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".building")
    os.close(handle)
    try:
        built = sqlite3.connect(temporary)
        _fill(built)
        built.close()
        os.chmod(temporary, 0o644)  # a cache shared by a service account stays readable
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _fill(db: sqlite3.Connection) -> None:
    import simple_icd_10_cm as icd  # the slow parse, once per machine

    logger.info("building the ICD-10-CM index (once)")
    rows = []
    for code in icd.get_all_codes(with_dots=True):
        parent = icd.get_parent(code)
        rows.append((code, icd.get_description(code), int(icd.is_leaf(code)), parent or None,
                     icd.get_code_first(code, search_in_ancestors=True)))
    db.executescript(_SCHEMA)
    db.executemany("insert or replace into item values (?, ?, ?, ?, ?)", rows)
    db.commit()


@cache
def item(code: str) -> tuple[str, bool, str | None, str] | None:
    """(title, leaf, parent, code-first note) of a tabular item, None when there is none."""
    row = connection().execute(
        "select title, leaf, parent, code_first from item where code = ?", (code,)).fetchone()
    return None if row is None else (row[0], bool(row[1]), row[2], row[3])


def ancestors(code: str) -> list[str]:
    found = []
    node = item(code)
    while node is not None and node[2]:
        found.append(node[2])
        node = item(node[2])
    return found
