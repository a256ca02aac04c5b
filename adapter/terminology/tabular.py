"""An ICD-10-CM release as a small on-disk index: titles, leaves, parents, "code first" notes,
Excludes1 and Excludes2 notes. One index per release (``adapter.terminology.releases``).

simple-icd-10-cm parses the CDC XML in about 1.5-3 s and 200 MB, which a per-claim call
cannot afford. The facts the checks read are written once to an SQLite file in the user's
cache (``releases.cache_dir()``), named for the release and the adapter's and
simple-icd-10-cm's versions, so an upgrade of either builds a new one; every later process
opens it in a millisecond and asks for the few codes it meets; ``INDEX_FORMAT`` is in the name
too, so an index of an older shape is built again. An index is opened only when a claim dated
in its release's range is judged. The file is written to a temporary name and
renamed, so processes starting together never read half of it. Where the cache cannot be
written, the index is built in memory (the old cost, nothing worse).
"""

from __future__ import annotations

import gzip
import logging
import os
import re
import shutil
import sqlite3
import tempfile
import threading
import warnings
from functools import cache
from importlib.metadata import version
from pathlib import Path

from adapter import __version__
from adapter.terminology import releases
from adapter.terminology.releases import Release

logger = logging.getLogger("adapter.terminology")
_LOCK = threading.RLock()
_SCHEMA = """
create table item (
    code text primary key,      -- dotted, as the tabular writes it (D51.0, G63, D50-D53, C50-C50)
    title text not null,
    leaf integer not null,      -- a leaf is a billable code
    parent text,
    code_first text not null    -- its own note, else the nearest ancestor's (as the package)
) without rowid;
create table note (
    code text not null,         -- the item the note sits on (its own notes only)
    kind text not null,         -- excludes1 | excludes2
    line text not null          -- one line of the note, as the tabular writes it
);
create index note_code on note (code);
"""
_ORDER_LINE = re.compile(r"^\d{5} ")
# The shape of the index, in its file name: raised when ``fill`` writes something else, so a
# cached index of the old shape is built again (2: a block holding one category of its name,
# C50, is its own item, C50-C50, between the category and its chapter)
INDEX_FORMAT = 2
ITEM = tuple[str, bool, str | None, str]  # title, leaf, parent, code-first note


class ReleaseUnreadable(RuntimeError):
    """The files of a release could not be read into an index (damaged or not ICD-10-CM)."""


def cache_path(release: Release | None = None) -> Path:
    release = release or default_release()
    return releases.cache_dir() / (
        f"icd10cm-{release.key}-sicd-{version('simple-icd-10-cm')}-adapter-{__version__}"
        f"-index-{INDEX_FORMAT}.sqlite")


class Index:
    """One release's index, opened on first use; answers are kept (a run meets few codes)."""

    def __init__(self, release: Release) -> None:
        self.release = release
        self._db: sqlite3.Connection | None = None
        self._items: dict[str, ITEM | None] = {}
        self._notes: dict[str, tuple[tuple[str, str], ...]] = {}

    def __repr__(self) -> str:
        return f"Index({self.release.id})"

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            with _LOCK:
                if self._db is None:
                    self._db = _open(self.release)
        return self._db

    def item(self, code: str) -> ITEM | None:
        """(title, leaf, parent, code-first note) of a tabular item, None when there is none."""
        try:
            return self._items[code]
        except KeyError:
            pass
        row = self.db.execute("select title, leaf, parent, code_first from item where code = ?",
                              (code,)).fetchone()
        found = None if row is None else (row[0], bool(row[1]), row[2], row[3])
        self._items[code] = found
        return found

    def ancestors(self, code: str) -> list[str]:
        """Parent, grandparent, ... up to the chapter: C50.911 to C50, its block C50-C50 and
        chapter 2. An item met twice (a damaged index) ends the walk."""
        found: list[str] = []
        seen = {code}
        node = self.item(code)
        while node is not None and node[2] and node[2] not in seen:
            seen.add(node[2])
            found.append(node[2])
            node = self.item(node[2])
        return found

    def notes(self, code: str) -> tuple[tuple[str, str], ...]:
        """The Excludes1 and Excludes2 lines the item itself carries: (kind, line)."""
        try:
            return self._notes[code]
        except KeyError:
            pass
        rows = self.db.execute("select kind, line from note where code = ? order by rowid",
                               (code,)).fetchall()
        found = tuple((kind, line) for kind, line in rows)
        self._notes[code] = found
        return found


@cache
def index(release_key: str) -> Index:
    """The index of an installed release, by ``Release.key`` (one object per process)."""
    for release in releases.installed():
        if release.key == release_key:
            return Index(release)
    raise KeyError(f"ICD-10-CM release {release_key} is not installed")


def index_of(release: Release) -> Index:
    return index(release.key)


@cache
def default_release() -> Release:
    """The newest shipped release, or the added release that replaced it (same id): what a
    code is looked up in when no date is given (titles on a page, a warm-up); never what a
    claim is judged with. Read once per process (``in_force.forget`` reads it again)."""
    newest = releases.shipped()[-1]
    for release in releases.installed():
        if release.id == newest.id:
            return release
    return newest


def _open(release: Release) -> sqlite3.Connection:
    path = cache_path(release)
    if not path.exists():
        try:
            build_file(release, path)
        except OSError as exc:
            logger.warning("cannot write the ICD-10-CM index to %s (%s): built in memory",
                           path.parent, exc.strerror)
            memory = sqlite3.connect(":memory:", check_same_thread=False)
            fill(memory, release)
            return memory
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)


def build_file(release: Release, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".building")
    os.close(handle)
    try:
        built = sqlite3.connect(temporary)
        fill(built, release)
        built.close()
        os.chmod(temporary, 0o644)  # a cache shared by a service account stays readable
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def fill(db: sqlite3.Connection, release: Release) -> int:
    """Parse the release's files (simple-icd-10-cm's reader) into ``db``; the number of
    billable codes. Raises ``ReleaseUnreadable`` when the files are not a readable ICD-10-CM
    release."""
    import simple_icd_10_cm as icd  # the slow parse, once per release and machine

    logger.info("building the ICD-10-CM %s index (once)", release.id)
    with _LOCK, tempfile.TemporaryDirectory(prefix="b12-icd10cm-") as work:
        tabular, codes = Path(work) / "tabular.xml", Path(work) / "codes.txt"
        try:
            _unpack(release.tabular, tabular)
            _code_list(release.codes, codes)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                icd.change_version(str(codes), str(tabular))
            rows: list[tuple[str, str, int, str | None, str]] = []
            notes: list[tuple[str, str, str]] = []
            for code in dict.fromkeys(icd.get_all_codes(with_dots=True)):
                parent = icd.get_parent(code)
                if parent == code:
                    parent = _block_named_like(icd, code, rows, notes)
                rows.append((code, icd.get_description(code), int(icd.is_leaf(code)),
                             parent or None, icd.get_code_first(code, search_in_ancestors=True)))
                notes.extend((code, "excludes1", line) for line in icd.get_excludes1(code))
                notes.extend((code, "excludes2", line) for line in icd.get_excludes2(code))
        except (OSError, EOFError, UnicodeDecodeError, ValueError, KeyError, IndexError,
                AttributeError, TypeError) as exc:
            raise ReleaseUnreadable(f"not a readable ICD-10-CM release ({type(exc).__name__}: "
                              f"{str(exc)[:200]})") from exc
        except Exception as exc:  # ElementTree.ParseError and other reader failures
            raise ReleaseUnreadable(f"not a readable ICD-10-CM release ({type(exc).__name__}: "
                              f"{str(exc)[:200]})") from exc
    billable = sum(row[2] for row in rows if _looks_like_code(row[0]))
    if billable < 10_000:
        held = "1 billable code" if billable == 1 else f"{billable} billable codes"
        raise ReleaseUnreadable(f"holds {held}: not a whole ICD-10-CM tabular")
    db.executescript(_SCHEMA)
    db.executemany("insert or replace into item values (?, ?, ?, ?, ?)", rows)
    db.executemany("insert into note values (?, ?, ?)", notes)
    db.commit()
    return billable


def _block_named_like(icd, code: str, rows: list[tuple[str, str, int, str | None, str]],
                      notes: list[tuple[str, str, str]]) -> str:
    """A block holding only the category of its name (``<section id="C50">`` around C50; 39
    in every release, B20, D49, T07, QA0...): simple-icd-10-cm keeps one item per name and
    gives the category itself as its parent, so the block, its title and its Excludes notes
    would be lost and the walk up from C50.911 would never reach chapter 2. The block is
    written as ``C50-C50``, the way every other block is named (D50-D53): that name is returned."""
    block = f"{code}-{code}"
    rows.append((block, icd.get_description(code, prioritize_blocks=True), 0,
                 icd.get_parent(code, prioritize_blocks=True) or None,
                 icd.get_code_first(code, search_in_ancestors=True, prioritize_blocks=True)))
    for kind, lines in (("excludes1", icd.get_excludes1(code, prioritize_blocks=True)),
                        ("excludes2", icd.get_excludes2(code, prioritize_blocks=True))):
        notes.extend((block, kind, line) for line in lines)
    return block


# A code's first three characters: a letter, then a digit and a digit or letter (E53, C7A), or
# a letter and a digit (QA0, genetic disorders, new in FY2026)
CODE_HEAD = r"[A-Z](?:[0-9][0-9A-Z]|[A-Z][0-9])"
_CODE = re.compile(rf"^{CODE_HEAD}(\.[0-9A-Z]{{1,4}})?$")


def _looks_like_code(code: str) -> bool:
    return bool(_CODE.match(code))


def _unpack(source, target: Path) -> None:
    with source.open("rb") as raw, gzip.open(raw) as unpacked, target.open("wb") as out:
        shutil.copyfileobj(unpacked, out)


def _code_list(source, target: Path) -> None:
    """The release's code file as simple-icd-10-cm reads it (a code first on each line): the
    CDC code-order file's lines carry their order number first, so the code is taken out."""
    with source.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8",
                                             errors="strict") as lines, \
            target.open("w", encoding="utf-8") as out:
        for line in lines:
            if _ORDER_LINE.match(line):
                out.write(line[6:13].strip() + "\n")
            elif line.strip():
                out.write(line.split()[0] + "\n")


# The newest shipped release, for callers with no date (kept for them and the start-up test).

def connection() -> sqlite3.Connection:
    return index_of(default_release()).db


def item(code: str) -> ITEM | None:
    return index_of(default_release()).item(code)


def ancestors(code: str) -> list[str]:
    return index_of(default_release()).ancestors(code)
