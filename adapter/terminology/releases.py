"""The ICD-10-CM releases the adapter knows, and which one is in force on a date (SPEC 4.3).

A release is the CDC's tabular XML plus its list of codes (the code-order file, the codes
file, or simple-icd-10-cm's code list), with the date it takes effect. Three ship inside the
package (``icd10cm_releases/releases.json``: the ones the package registries hold); a user
adds more with ``b12-adapter codes add`` into the cache folder the indexes live in
(``icd10cm-releases/<id>/``). Fiscal year Y's October release is in force from 1 October Y-1;
an April update replaces it from 1 April Y, and does not stand in for the October release
before it. Reading the catalogue costs a directory listing: no index is opened here.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

SHIPPED = "icd10cm_releases"
FIRST = date(2015, 10, 1)  # ICD-10-CM took effect in the US (FY2016)
ADDED = "icd10cm-releases"


@dataclass(frozen=True, slots=True)
class Release:
    """One ICD-10-CM release: its id (``FY2027``, ``FY2026-04``), when it takes effect, and
    its two files (gzipped)."""

    id: str
    title: str
    kind: str  # "october" | "april"
    fiscal_year: int
    effective: date
    tabular: Traversable
    codes: Traversable
    shipped: bool
    digest: str = ""  # the files' sha256 (added releases: part of the index's name)

    @property
    def key(self) -> str:
        """What the index file is named after: the id, and for an added release its files."""
        return self.id if self.shipped else f"{self.id}-{self.digest[:12]}"


@dataclass(frozen=True, slots=True)
class Needed:
    """The release in force on a date, whether or not it is installed."""

    id: str
    title: str
    effective: date

    def describe(self) -> str:
        """What is missing, in a sentence's first half."""
        if self.effective < FIRST:
            return (f"no ICD-10-CM release was in force then (ICD-10-CM took effect on "
                    f"{FIRST.isoformat()}; ICD-9-CM before)")
        return f"{self.title}, in force from {self.effective.isoformat()}, is not installed"


def release_id(effective: date) -> tuple[str, str, str, int]:
    """(id, title, kind, fiscal year) of the release taking effect on ``effective``; only 1
    October and 1 April are release dates."""
    if (effective.month, effective.day) == (10, 1):
        year = effective.year + 1
        return f"FY{year}", f"ICD-10-CM FY{year}", "october", year
    if (effective.month, effective.day) == (4, 1):
        year = effective.year
        return f"FY{year}-04", f"ICD-10-CM FY{year} April update", "april", year
    raise ValueError(f"{effective.isoformat()} is not a release date: ICD-10-CM releases "
                     "take effect on 1 October (a fiscal year's release) or 1 April (an update)")


def fiscal_year(day: date) -> int:
    return day.year + 1 if day.month >= 10 else day.year


def cache_dir() -> Path:
    """The user's cache folder (``B12_CACHE_DIR``, else ``$XDG_CACHE_HOME`` or ``~/.cache``,
    then ``b12-fhir-adapter/``): the indexes and the added releases live there."""
    root = os.environ.get("B12_CACHE_DIR")
    if root:
        return Path(root)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "b12-fhir-adapter"


def added_dir() -> Path:
    return cache_dir() / ADDED


@cache
def shipped() -> tuple[Release, ...]:
    folder = files("adapter.terminology") / SHIPPED
    data = json.loads((folder / "releases.json").read_text(encoding="utf-8"))
    return tuple(sorted((_release(entry, folder, shipped=True) for entry in data["releases"]),
                        key=lambda r: r.effective))


def _release(entry: dict, folder: Traversable, *, shipped: bool) -> Release:
    effective = date.fromisoformat(entry["effective"])
    ident, title, kind, year = release_id(effective)
    if entry["id"] != ident:
        raise ValueError(f"release {entry['id']} takes effect on {effective}: its id is {ident}")
    digest = entry.get("sha256", {})
    return Release(ident, entry.get("title") or title, kind, year, effective,
                   folder / entry["tabular"], folder / entry["codes"], shipped,
                   digest.get("tabular", "") + digest.get("codes", ""))


def added() -> tuple[Release, ...]:
    """The releases a user installed with ``codes add`` (each a folder with ``release.json``);
    a folder that cannot be read is passed over (``codes list`` says so)."""
    found = []
    folder = added_dir()
    if not folder.is_dir():
        return ()
    for entry in sorted(folder.iterdir()):
        manifest = entry / "release.json"
        try:
            found.append(_release(json.loads(manifest.read_text(encoding="utf-8")),
                                  entry, shipped=False))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return tuple(found)


def installed() -> tuple[Release, ...]:
    """Every release, earliest first; an added release replaces a shipped one of its id."""
    by_id = {r.id: r for r in shipped()}
    by_id.update({r.id: r for r in added()})
    return tuple(sorted(by_id.values(), key=lambda r: r.effective))


def needed(day: date, releases: tuple[Release, ...]) -> Needed:
    """The release in force on ``day``: the April update of its fiscal year from 1 April when
    that update is installed, else the fiscal year's October release (installed or not:
    whether an April update was published is known only from what is installed). A date
    beyond the calendar's ends (a year 1 or 9999 typo) is taken at the nearest end it can."""
    day = min(max(day, date(2, 1, 1)), date(9998, 9, 30))
    year = fiscal_year(day)
    april = date(year, 4, 1)
    if day >= april:
        for release in releases:
            if release.effective == april:
                return Needed(release.id, release.title, april)
    ident, title, _, _ = release_id(date(year - 1, 10, 1))
    return Needed(ident, title, date(year - 1, 10, 1))


def in_force(day: date, releases: tuple[Release, ...]) -> tuple[Needed, tuple[Release, ...]]:
    """The release needed on ``day`` and the releases to judge with: that one when installed;
    else the nearest installed release before it and the nearest after it (after the newest,
    that one alone; before the oldest, the oldest)."""
    need = needed(day, releases)
    for release in releases:
        if release.id == need.id:
            return need, (release,)
    before = [r for r in releases if r.effective < need.effective]
    after = [r for r in releases if r.effective > need.effective]
    around = ((before[-1],) if before else ()) + ((after[0],) if after else ())
    return need, around


def covers(release: Release, releases: tuple[Release, ...]) -> tuple[date, date]:
    """The dates ``release`` is in force, as far as the installed releases tell: from its
    effective date to 30 September of its fiscal year, or to the day before its year's April
    update when that is installed."""
    end_of_year = date(release.fiscal_year, 9, 30)
    later = [r.effective for r in releases if release.effective < r.effective <= end_of_year]
    if later:
        return release.effective, date.fromordinal(min(later).toordinal() - 1)
    return release.effective, end_of_year
