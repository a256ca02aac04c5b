"""The notes table (``mappings/notes.json``): which resources are notes, the headings read,
the terms a note is searched for, and ConText rules beside medspaCy's own. Loaded and checked
once; the prefilter tells on raw text, with no NLP, whether a note can hold a term at all."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

import ahocorasick_rs

from adapter.mappings import MappingsError, data_root

CONTEXTS = ("NEGATED_EXISTENCE", "HISTORICAL", "POSSIBLE_EXISTENCE", "FAMILY", "HYPOTHETICAL")
DIRECTIONS = ("FORWARD", "BACKWARD", "BIDIRECTIONAL", "TERMINATE", "PSEUDO")
SPECIAL_CODES = ("symptom", "loading")


@dataclass(frozen=True)
class ContextRule:
    literal: str
    category: str
    direction: str
    targets: frozenset[str] = frozenset()  # the codes it modifies; empty: every term
    replaces: bool = False  # medspaCy's own rule of this literal is dropped
    # a spaCy token pattern read instead of the literal's words (medspaCy's rule format):
    # "?" that opens its statement looks forward, "?" after a word back
    pattern: tuple[dict[str, Any], ...] = field(default=(), hash=False)


@dataclass(frozen=True)
class NoteTable:
    note_loinc: frozenset[str]
    note_categories: frozenset[str]
    read_headings: dict[str, tuple[str, ...]]  # section category -> headings
    other_headings: tuple[str, ...]
    family_headings: tuple[str, ...]  # sections never read: a relative's diagnoses
    terms: dict[str, str]  # lower-cased term -> ICD-10-CM code | "symptom" | "loading"
    context: tuple[ContextRule, ...]
    history_is_current: frozenset[str] = frozenset()  # surgical status: history is now
    list_labels: frozenset[str] = frozenset()  # "denies:" above a list: its items are one

    @cached_property
    def headings(self) -> frozenset[str]:
        """Every heading of the table, read or not."""
        return frozenset([*(h for hs in self.read_headings.values() for h in hs),
                          *self.other_headings, *self.family_headings])

    @cached_property
    def _automaton(self) -> ahocorasick_rs.AhoCorasick:
        return ahocorasick_rs.AhoCorasick(sorted(self.terms))

    def may_mention(self, text: str) -> bool:
        """Whether any term occurs in ``text`` (case-insensitive, any run of blank space, a
        line end or a no-break space, read as one space): a note that holds none costs no
        NLP."""
        return bool(self._automaton.find_matches_as_indexes(" ".join(text.split()).lower()))

    def spans(self, before: str, after: str) -> bool:
        """Whether a term runs from the end of ``before`` into ``after`` joined by a space
        ("Vitamin B12" and "deficiency" on two lines)."""
        joined = f"{before} {after}".lower()
        if len(joined) != len(before) + 1 + len(after):
            return False  # a letter whose lower case is longer: offsets would not line up
        return any(start < len(before) < end for _, start, end in
                   self._automaton.find_matches_as_indexes(joined, overlapping=True))


def _strings(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise MappingsError(f"notes.json: {where}: expected a list of strings")
    return tuple(v.strip().lower() for v in value)


def parse_table(data: dict[str, Any]) -> NoteTable:
    types = data.get("note_types")
    sections = data.get("sections")
    if not isinstance(types, dict) or not isinstance(sections, dict):
        raise MappingsError("notes.json: note_types and sections must be tables")
    read = sections.get("read")
    if not isinstance(read, dict) or not read:
        raise MappingsError("notes.json: sections.read: expected headings by section kind")
    terms: dict[str, str] = {}
    for n, entry in enumerate(data.get("terms") or []):
        term, code = (entry.get("term"), entry.get("code")) if isinstance(entry, dict) else (
            None, None)
        if not isinstance(term, str) or not term.strip() or not isinstance(code, str):
            raise MappingsError(f"notes.json: terms[{n}]: expected a term and a code")
        if code not in SPECIAL_CODES:
            from adapter.terminology import icd10cm

            if not icd10cm.title(code):
                raise MappingsError(f"notes.json: terms[{n}]: {code!r} is not an ICD-10-CM "
                                    "code, 'symptom' or 'loading'")
        terms[term.strip().lower()] = code
    if not terms:
        raise MappingsError("notes.json: terms: expected at least one term")
    rules = []
    for n, entry in enumerate(data.get("context") or []):
        if (not isinstance(entry, dict) or not isinstance(entry.get("literal"), str)
                or entry.get("category") not in CONTEXTS
                or entry.get("direction", "BIDIRECTIONAL") not in DIRECTIONS):
            raise MappingsError(f"notes.json: context[{n}]: expected a literal, a category of "
                                f"{', '.join(CONTEXTS)} and a direction")
        targets = entry.get("targets", [])
        if (not isinstance(targets, list) or not all(isinstance(t, str) for t in targets)
                or not isinstance(entry.get("replaces", False), bool)):
            raise MappingsError(f"notes.json: context[{n}]: targets must be a list of codes "
                                "and replaces true or false")
        pattern = entry.get("pattern", [])
        if not isinstance(pattern, list) or not all(isinstance(t, dict) for t in pattern):
            raise MappingsError(f"notes.json: context[{n}]: pattern must be a list of token "
                                "patterns")
        rules.append(ContextRule(entry["literal"], entry["category"],
                                 entry.get("direction", "BIDIRECTIONAL"), frozenset(targets),
                                 entry.get("replaces", False), tuple(pattern)))
    return NoteTable(
        note_loinc=frozenset(_strings(types.get("loinc"), "note_types.loinc")),
        note_categories=frozenset(_strings(types.get("categories"), "note_types.categories")),
        read_headings={str(k): _strings(v, f"sections.read.{k}") for k, v in read.items()},
        other_headings=_strings(sections.get("other", []), "sections.other"),
        family_headings=_strings(sections.get("family", []), "sections.family"),
        terms=terms,
        context=tuple(rules),
        history_is_current=frozenset(_codes(data.get("history_is_current"))),
        list_labels=frozenset(_strings(data.get("list_labels", []), "list_labels")),
    )


def _codes(table: object) -> tuple[str, ...]:
    if table is None:
        return ()
    codes = table.get("codes") if isinstance(table, dict) else None
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
        raise MappingsError("notes.json: history_is_current.codes: expected a list of codes")
    return tuple(codes)


@lru_cache(maxsize=1)
def note_table() -> NoteTable:
    path = data_root() / "notes.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MappingsError(f"{path}: cannot read the notes table ({exc})") from exc
    if not isinstance(data, dict):
        raise MappingsError(f"{path}: expected a JSON object")
    return parse_table(data)
