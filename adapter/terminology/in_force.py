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

    @property
    def missing(self) -> bool:
        """The release in force is not installed: judged with its neighbours."""
        return self.ids != (self.needed.id,)

    @property
    def label(self) -> str:
        """``code_set`` in the report: the release, or the releases, judged with."""
        return "+".join(self.ids)

    def _indexes(self) -> tuple[tabular.Index, ...]:
        return tuple(tabular.index(key) for key in self.keys)

    def is_billable(self, code: str) -> bool:
        """Valid and billable in the release in force (without it: in any neighbour)."""
        return any(icd10cm.is_billable(code, index) for index in self._indexes())

    def billable_in(self, code: str) -> tuple[str, ...]:
        """The ids of the releases judged with in which ``code`` is billable."""
        return tuple(ident for ident, index in zip(self.ids, self._indexes(), strict=True)
                     if icd10cm.is_billable(code, index))

    def title(self, code: str) -> str:
        """The newest title the releases give, '' when none knows the code."""
        for index in reversed(self._indexes()):
            if found := icd10cm.title(code, index):
                return found
        return ""

    def is_manifestation_of(self, code: str, underlying: frozenset[str],
                            note_words: tuple[str, ...]) -> bool:
        """A manifestation in every release judged with that knows the code."""
        readings = [icd10cm.is_manifestation_of(code, underlying, note_words, index)
                    for index in self._indexes() if index.item(code) is not None]
        return bool(readings) and all(readings)

    def excludes1(self, code: str, other: str) -> tuple[str, str] | None:
        """(the item the note sits on, its words) when ``code`` and ``other`` form an
        Excludes1 pair in every release judged with (either way round), else None."""
        found: tuple[str, str] | None = None
        for index in self._indexes():
            note = (icd10cm.excludes1_note(code, other, index)
                    or icd10cm.excludes1_note(other, code, index))
            if note is None:
                return None
            found = found or note
        return found

    def excludes1_in(self, code: str, other: str) -> tuple[str, ...]:
        """The ids of the releases judged with in which the pair is Excludes1."""
        return tuple(ident for ident, index in zip(self.ids, self._indexes(), strict=True)
                     if icd10cm.excludes1_note(code, other, index)
                     or icd10cm.excludes1_note(other, code, index))


@cache
def _installed() -> tuple[releases.Release, ...]:
    return releases.installed()


@lru_cache(maxsize=4096)
def for_day(day: date) -> InForce:
    """The release(s) a claim whose earliest B12 date is ``day`` is judged with."""
    need, around = releases.in_force(day, _installed())
    return InForce(need, tuple(r.key for r in around), tuple(r.id for r in around))


def forget() -> None:
    """Read the installed releases again (after ``codes add``)."""
    _installed.cache_clear()
    for_day.cache_clear()
    tabular.index.cache_clear()
    releases.shipped.cache_clear()
