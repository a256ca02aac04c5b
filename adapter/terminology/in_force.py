"""The ICD-10-CM release(s) a claim is judged with (SPEC 4.3), handed to the rules as a value.

``for_day`` picks the release in force on the claim's earliest B12 date. When that release
is not installed, the claim is judged with its installed neighbours: a code valid in any of
them is valid, an Excludes1 pair (or a manifestation) counts only when all of them agree, and
the claim gets ``code-set-missing``. A value of plain fields (release keys), so it pickles to
a worker and back; the indexes behind it are opened once per process, on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache, lru_cache

from adapter.terminology import icd10cm, releases, tabular
from adapter.terminology.releases import Needed


@dataclass(frozen=True, slots=True)
class InForce:
    needed: Needed  # the release in force on the date, installed or not
    keys: tuple[str, ...]  # the installed releases judged with (``Release.key``), oldest first
    ids: tuple[str, ...]  # their ids, as the report names them
    missing: bool = False  # the release in force is not installed: judged with its neighbours
    label: str = ""  # ``code_set`` in the report: the release, or the releases, judged with

    def is_billable(self, code: str) -> bool:
        """Valid and billable in the release in force (without it: in any neighbour)."""
        return bool(_billable_in(self.keys, self.ids, code))

    def billable_in(self, code: str) -> tuple[str, ...]:
        """The ids of the releases judged with in which ``code`` is billable."""
        return _billable_in(self.keys, self.ids, code)

    def title(self, code: str) -> str:
        """The newest title the releases give, '' when none knows the code."""
        return _title(self.keys, code)

    def is_manifestation_of(self, code: str, underlying: frozenset[str],
                            note_words: tuple[str, ...]) -> bool:
        """A manifestation in every release judged with that knows the code."""
        return _manifestation(self.keys, code, underlying, note_words)

    def excludes1(self, code: str, other: str) -> tuple[str, str] | None:
        """(the item the note sits on, its words) when ``code`` and ``other`` form an
        Excludes1 pair in every release judged with (either way round), else None."""
        notes, _ = _excludes1(self.keys, self.ids, code, other)
        return notes[0] if notes and len(notes) == len(self.keys) else None

    def excludes1_in(self, code: str, other: str) -> tuple[str, ...]:
        """The ids of the releases judged with in which the pair is Excludes1."""
        return _excludes1(self.keys, self.ids, code, other)[1]


# Answers kept per (releases, code): a run asks about the same few codes for every claim.

def _indexes(keys: tuple[str, ...]) -> tuple[tabular.Index, ...]:
    return tuple(tabular.index(key) for key in keys)


@lru_cache(maxsize=16384)
def _billable_in(keys: tuple[str, ...], ids: tuple[str, ...], code: str) -> tuple[str, ...]:
    return tuple(ident for ident, index in zip(ids, _indexes(keys), strict=True)
                 if icd10cm.is_billable(code, index))


@lru_cache(maxsize=16384)
def _title(keys: tuple[str, ...], code: str) -> str:
    for index in reversed(_indexes(keys)):
        if found := icd10cm.title(code, index):
            return found
    return ""


@lru_cache(maxsize=4096)
def _manifestation(keys: tuple[str, ...], code: str, underlying: frozenset[str],
                   note_words: tuple[str, ...]) -> bool:
    readings = [icd10cm.is_manifestation_of(code, underlying, note_words, index)
                for index in _indexes(keys) if index.item(code) is not None]
    return bool(readings) and all(readings)


@lru_cache(maxsize=16384)
def _excludes1(keys: tuple[str, ...], ids: tuple[str, ...], code: str, other: str
               ) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """The Excludes1 notes barring the pair, and the ids of the releases that have one."""
    notes, where = [], []
    for ident, index in zip(ids, _indexes(keys), strict=True):
        note = (icd10cm.excludes1_note(code, other, index)
                or icd10cm.excludes1_note(other, code, index))
        if note is not None:
            notes.append(note)
            where.append(ident)
    return tuple(notes), tuple(where)


@cache
def _installed() -> tuple[releases.Release, ...]:
    return releases.installed()


@lru_cache(maxsize=4096)
def for_day(day: date) -> InForce:
    """The release(s) a claim whose earliest B12 date is ``day`` is judged with."""
    return of(*releases.in_force(day, _installed()))


def of(need: Needed, around: tuple[releases.Release, ...]) -> InForce:
    """The value for the release needed and the installed releases judged with."""
    ids = tuple(r.id for r in around)
    return InForce(need, tuple(r.key for r in around), ids, ids != (need.id,), "+".join(ids))


def forget() -> None:
    """Read the installed releases again (after ``codes add``)."""
    _installed.cache_clear()
    for_day.cache_clear()
    for kept in (_billable_in, _title, _manifestation, _excludes1):
        kept.cache_clear()
    tabular.index.cache_clear()
    tabular.default_release.cache_clear()
    releases.shipped.cache_clear()
