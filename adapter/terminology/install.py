"""``b12-adapter codes add`` and ``codes list``: install an ICD-10-CM release a user
downloaded from the CDC or CMS, and show what is installed (SPEC 4.3).

A release is installed from its tabular XML (``icd10cm-tabular-2027.xml``, or the zip that
holds it) and its code list (the code-order file ``icd10cm-order-2027.txt`` or the codes file
``icd10cm-codes-2027.txt``, or the zip that holds them), with the date it takes effect. The
files are checked by building the release's index from them before anything is kept: a
damaged or wrong file is refused and installs nothing. Kept gzipped in the cache folder,
beside the indexes (``icd10cm-releases/<id>/``), where every run, the service, sync and Spark
on this machine find them.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import shutil
import sqlite3
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from adapter.terminology import releases, tabular
from adapter.terminology.releases import Release

_VERSION = re.compile(rb"<version>\s*(\d{4})\s*</version>")
_ROOT = b"<ICD10CM.tabular>"
_TABULAR_CODE = re.compile(
    rf"<name>\s*({tabular.CODE_HEAD}(?:\.[0-9A-Z]{{1,4}})?)\s*</name>".encode())
_CODE = rf"{tabular.CODE_HEAD}[0-9A-Z]{{0,4}}"  # a code undotted (QA0, FY2026: a letter second)
# A code list's lines: the code-order file's (order number, code, billable flag, titles), the
# codes file's (code, title), or simple-icd-10-cm's list (a code, a chapter or a block alone).
_ORDER_LINE = re.compile(rf"\d{{5}} ({_CODE}) *[01] +\S")
_CODES_LINE = re.compile(rf"({_CODE})[ \t]+\S")
_BARE_LINE = re.compile(rf"({_CODE})|\d{{1,2}}|{tabular.CODE_HEAD}-{tabular.CODE_HEAD}")
MIN_CODES = 50_000  # the smallest release's codes file (FY2016) lists 69,823
MAX_ABSENT = 0.001  # of the tabular's codes, the share a code list may lack (a whole one: none)


class InstallError(RuntimeError):
    """The files given cannot be installed as an ICD-10-CM release; nothing was installed."""


@dataclass(frozen=True, slots=True)
class Installed:
    release: Release
    billable: int
    replaced: bool


def _read(path: Path, kind: str) -> tuple[str, bytes]:
    """(name, bytes) of the file to use: ``path`` itself, or the member of a zip it is."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InstallError(f"{path}: cannot be read ({exc.strerror})") from exc
    if data[:2] == b"\x1f\x8b":
        try:
            return path.name.removesuffix(".gz"), gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise InstallError(f"{path}: a damaged gzip file ({exc})") from exc
    if not zipfile.is_zipfile(io.BytesIO(data)):
        if data[:4] == b"PK\x03\x04":
            raise InstallError(f"{path}: a damaged zip file (its directory is missing: cut "
                               "short?)")
        return path.name, data
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/")]
            member = _member(names, kind)
            if member is None:
                wanted = ("a tabular XML (…tabular….xml)" if kind == "tabular" else
                          "a code-order or codes file (…order….txt, …codes….txt)")
                raise InstallError(f"{path}: the zip holds no {wanted}")
            return member.rsplit("/", 1)[-1], archive.read(member)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise InstallError(f"{path}: a damaged zip file ({exc})") from exc


def _member(names: list[str], kind: str) -> str | None:
    lower = {n: n.lower().rsplit("/", 1)[-1] for n in names}
    if kind == "tabular":
        found = [n for n, low in lower.items() if low.endswith(".xml") and "tabular" in low]
    else:
        found = ([n for n, low in lower.items() if low.endswith(".txt") and "order" in low]
                 or [n for n, low in lower.items()
                     if low.endswith(".txt") and "code" in low and "addend" not in low])
    return sorted(found)[0] if found else None


def _check_tabular(name: str, data: bytes, fiscal_year: int, ident: str) -> None:
    head = data[:4096]
    if _ROOT not in head:
        raise InstallError(f"{name}: not an ICD-10-CM tabular (no <ICD10CM.tabular> root); "
                           "give the tabular XML of the CDC's table-and-index files")
    match = _VERSION.search(head)
    if match is None:
        raise InstallError(f"{name}: the tabular names no <version>")
    year = int(match.group(1))
    if year != fiscal_year:
        raise InstallError(f"{name}: the tabular is version {year}, but the release in force "
                           f"from the date given is {ident} (fiscal year {fiscal_year})")


def _check_codes(name: str, data: bytes, tab: bytes) -> None:
    """Refuse a code list that is empty, not one, cut short or not the tabular's."""
    give = ("give the code-order file (…order….txt) or the codes file (…codes….txt) of the "
            "same release")
    if b"<" in data[:200]:
        raise InstallError(f"{name}: not a code list (it looks like XML); {give}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InstallError(f"{name}: not a code list (not text: byte {exc.start} is not "
                           f"UTF-8); {give}") from exc
    codes: set[str] = set()
    described = False
    for number, line in enumerate(text.splitlines(), 1):
        line = line.rstrip()
        if not line:
            continue
        match = (_ORDER_LINE.match(line) or _CODES_LINE.match(line)
                 or _BARE_LINE.fullmatch(line))
        if match is None:
            raise InstallError(f"{name}: line {number} is not a line of a code list "
                               f"({line[:60]!r}); {give}")
        described = match.re is not _BARE_LINE
        if match.group(1):
            codes.add(match.group(1))
    if not codes:
        raise InstallError(f"{name}: holds no codes (an empty file?); {give}")
    if described and not data.endswith(b"\n"):
        raise InstallError(f"{name}: its last line is cut short (no line end): a damaged "
                           "download; download it again")
    if len(codes) < MIN_CODES:
        held = "1 code" if len(codes) == 1 else f"{len(codes)} codes"
        raise InstallError(f"{name}: holds {held}, a whole ICD-10-CM code list "
                           f"over {MIN_CODES:,}: cut short, or not the release's list; {give}")
    listed = {code[:end] for code in codes for end in range(3, len(code) + 1)}
    wanted = {found.decode().replace(".", "") for found in _TABULAR_CODE.findall(tab)}
    absent = sorted(wanted - listed)
    if len(absent) > MAX_ABSENT * len(wanted):
        raise InstallError(f"{name}: {len(absent)} of the tabular's {len(wanted)} codes are "
                           f"not in it ({', '.join(absent[:3])}, …): cut short, or the list "
                           f"of another release; {give}")


def add(tabular_file: Path, codes_file: Path, effective: date) -> Installed:
    """Install a release, or raise ``InstallError`` having installed nothing."""
    try:
        ident, title, kind, year = releases.release_id(effective)
    except ValueError as exc:
        raise InstallError(str(exc)) from exc
    tab_name, tab = _read(tabular_file, "tabular")
    codes_name, codes = _read(codes_file, "codes")
    _check_tabular(tab_name, tab, year, ident)
    _check_codes(codes_name, codes, tab)
    home = releases.added_dir()
    try:
        home.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=home, prefix=f".{ident}-"))
    except OSError as exc:
        raise InstallError(f"cannot write to {home} ({exc.strerror})") from exc
    try:
        (staging / "tabular.xml.gz").write_bytes(gzip.compress(tab, mtime=0))
        (staging / "codes.txt.gz").write_bytes(gzip.compress(codes, mtime=0))
        manifest = {
            "id": ident, "title": title, "kind": kind, "fiscal_year": year,
            "effective": effective.isoformat(), "tabular": "tabular.xml.gz",
            "codes": "codes.txt.gz",
            "source": f"added with `b12-adapter codes add` from {tab_name} and {codes_name}",
            "sha256": {"tabular": hashlib.sha256(tab).hexdigest(),
                       "codes": hashlib.sha256(codes).hexdigest()},
        }
        (staging / "release.json").write_text(json.dumps(manifest, indent=2) + "\n",
                                              encoding="utf-8")
        release = releases._release(manifest, staging, shipped=False)
        try:  # refuses what it cannot read; the index kept is the installed release's
            tabular.build_file(release, tabular.cache_path(release))
        except tabular.ReleaseUnreadable as exc:
            raise InstallError(f"{tab_name} and {codes_name}: {exc}; nothing installed") \
                from exc
        except OSError as exc:
            raise InstallError(f"cannot write the index to {home} ({exc.strerror})") from exc
        billable = _billable(tabular.cache_path(release))
        target = home / ident
        replaced = target.exists()
        if replaced:
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    installed = releases._release(manifest, target, shipped=False)
    from adapter.terminology import in_force

    in_force.forget()
    return Installed(installed, billable, replaced)


def _billable(path: Path) -> int:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return int(db.execute("select count(*) from item where leaf = 1 and code glob "
                              "'[A-Z][0-9A-Z][0-9A-Z]*'").fetchone()[0])


def listing() -> list[str]:
    """One line per installed release (id, title, the dates it is in force, where it came
    from), and a line per gap: dates whose release is not installed."""
    every = releases.installed()
    lines = []
    previous_end: date | None = None
    for release in every:
        start, end = releases.covers(release, every)
        if previous_end is not None and start.toordinal() > previous_end.toordinal() + 1:
            gap_from = date.fromordinal(previous_end.toordinal() + 1)
            lines.append(f"{'(missing)':<10} {'not installed':<32} {gap_from.isoformat()} to "
                         f"{date.fromordinal(start.toordinal() - 1).isoformat()}: judged with "
                         "the releases around, with code-set-missing")
        built = ("index built" if tabular.cache_path(release).exists()
                 else "index built on first use")
        origin = "shipped" if release.shipped else "added"
        lines.append(f"{release.id:<10} {release.title:<32} {start.isoformat()} to "
                     f"{end.isoformat()}  ({origin}; {built})")
        previous_end = end
    if previous_end is not None:
        after = date.fromordinal(previous_end.toordinal() + 1)
        lines.append(f"{'(missing)':<10} {'not installed':<32} from {after.isoformat()}: "
                     f"judged with {every[-1].id}, with code-set-missing")
    return lines
