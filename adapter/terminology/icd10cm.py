"""ICD-10-CM facts read from a release's CDC tabular (SPEC 4.3: the release in force).

Validity, billability (leaf codes), titles, "code first" and Excludes1 notes are read from
that data (through the on-disk index of ``adapter.terminology.tabular``), never from a
hand-made list. Every lookup takes the release's index; without one, the newest shipped
release answers (titles on a page, a warm-up): a claim is never judged that way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from adapter.terminology import tabular
from adapter.terminology.systems import ICD10CM
from adapter.terminology.tabular import Index

SYSTEM = ICD10CM
SYSTEMS = frozenset({SYSTEM, "urn:oid:2.16.840.1.113883.6.90"})

_RANGE = re.compile(r"\(([^()]*)\)")
_CODE = re.compile(rf"^{tabular.CODE_HEAD}(\.[0-9A-Z]{{1,4}})?$")


_UNDOTTED = re.compile(rf"^{tabular.CODE_HEAD}[0-9A-Z]{{1,4}}$")


@lru_cache(maxsize=4096)
def normalize(raw: str) -> str:
    """Upper-case, trim and dot an ICD-10-CM code written without its dot, as 837 claims send
    it (``e538`` -> ``E53.8``); the result may still be invalid. Only for codes that came
    under an ICD-10-CM system: a HCPCS ``J1100`` elsewhere is never dotted. Cached: an export
    writes a few hundred codes, each thousands of times."""
    code = raw.strip().upper().replace(" ", "")
    if _UNDOTTED.match(code):
        code = f"{code[:3]}.{code[3:]}"
    return code


def _index(index: Index | None) -> Index:
    return index if index is not None else tabular.index_of(tabular.default_release())


@lru_cache(maxsize=8192)
def is_billable(code: str, index: Index | None = None) -> bool:
    """A code is billable when it is a valid leaf of the tabular (not a category or block)."""
    if not _CODE.match(code):
        return False
    found = _index(index).item(code)
    return found is not None and found[1]


@lru_cache(maxsize=8192)
def title(code: str, index: Index | None = None) -> str:
    """The tabular title, or '' for a code the tabular does not know."""
    found = _index(index).item(code) if _CODE.match(code) else None
    return found[0] if found else ""


_CODE_IN_NOTE = rf"{tabular.CODE_HEAD}(?:\.[0-9A-Z]{{1,4}})?"
_NOTE_ITEM = re.compile(
    rf"^({_CODE_IN_NOTE})(?:(\.?-)|\s*-\s*({_CODE_IN_NOTE})(?:\.?-)?)?(?:\s+with\s+.*)?$")


@dataclass(frozen=True, slots=True)
class NoteLine:
    """One line of a "code first" note: its words, and the codes and ranges it names."""

    words: str  # the line, lower case
    ranges: tuple[tuple[str, str], ...]  # (low, high), undotted, compared at their own length


def parse_note(note: str) -> tuple[NoteLine, ...]:
    """The lines of a note with the codes they name. Only a parenthesised group whose every
    comma-separated part is a code, a wildcard (``D51.-``, ``E53-``) or a range (``E40-E64``,
    ``E52-E53.-``, optionally ``with ...``) is read: prose in parentheses such as
    ``Henoch (-Schonlein) purpura`` names nothing."""
    lines = []
    for text in note.splitlines():
        ranges: list[tuple[str, str]] = []
        for group in _RANGE.findall(text):
            parts = [_NOTE_ITEM.match(part.strip()) for part in group.split(",")]
            if all(parts):
                for match in parts:
                    assert match is not None
                    low, high = match.group(1), match.group(3) or match.group(1)
                    ranges.append((low.replace(".", ""), high.replace(".", "")))
        lines.append(NoteLine(text.lower(), tuple(ranges)))
    return tuple(lines)


def in_range(code: str, low: str, high: str) -> bool:
    """Whether ``code`` falls in ``low``-``high`` (undotted), each bound compared at its own
    precision: ``E53.8`` is in ``E40``-``E64`` and in ``E53``-``E53``."""
    code, low, high = (c.replace(".", "") for c in (code, low, high))
    return low <= code[: len(low)] and code[: len(high)] <= high


@lru_cache(maxsize=4096)
def _title_says_elsewhere(code: str, index: Index) -> bool:
    """The code's title, or an ancestor's, says "classified elsewhere" (a manifestation)."""
    for item in (code, *index.ancestors(code)):
        found = index.item(item)
        words = found[0].lower() if found else ""
        if "classified elsewhere" in words and "not elsewhere classified" not in words:
            return True
    return False


def is_manifestation_of(code: str, underlying: frozenset[str],
                        note_words: tuple[str, ...] = ("deficien",),
                        index: Index | None = None) -> bool:
    """True when ``code`` is a manifestation the ``underlying`` codes can cause (SPEC 4.1):
    its title says "classified elsewhere", its "code first" note is not an "if applicable"
    one, and a line of the note names an underlying code (or a range holding one) beside one
    of ``note_words`` ("nutritional deficiency (E40-E64)": yes; "hemoglobinopathy (D50-D64)",
    M90.5-: no). G63 and G32.0 are found this way, from the tabular, not from a list."""
    book = _index(index)
    found = book.item(code) if _CODE.match(code) else None
    if found is None or not _title_says_elsewhere(code, book):
        return False
    note = found[3]
    if not note or "if applicable" in note.lower():
        return False
    return any(
        any(word in line.words for word in note_words)
        and any(in_range(u, low, high) for u in underlying for low, high in line.ranges)
        for line in _parsed(note)
    )


@lru_cache(maxsize=1024)
def _parsed(note: str) -> tuple[NoteLine, ...]:
    return parse_note(note)


def excludes1_note(code: str, other: str,
                   index: Index | None = None) -> tuple[str, str] | None:
    """The Excludes1 line that bars ``other`` beside ``code`` (SPEC 4.3), as (the item it sits
    on, the line), None when none does:
    a line on ``code`` or any ancestor that names ``other``, its category (``D51.-``) or a
    range holding it (``E40-E64``). Excludes2 lines never count. Both must be tabular codes."""
    book = _index(index)
    if not _CODE.match(code) or not _CODE.match(other) or book.item(code) is None:
        return None
    for item in (code, *book.ancestors(code)):
        for kind, line in book.notes(item):
            if kind != "excludes1":
                continue
            for parsed in _parsed(line):
                if any(in_range(other, low, high) for low, high in parsed.ranges):
                    return item, line
    return None
