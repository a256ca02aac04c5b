"""A problem-list entry in free text (SPEC 4.1 "Free-text Conditions"): the ICD-10-CM codes its
words state, read by the same term reader as notes (negated, historical or uncertain text
states nothing). Text with no term of the notes table costs no NLP."""

from __future__ import annotations

from functools import lru_cache

from adapter.notes.terms import SPECIAL_CODES, note_table


@lru_cache(maxsize=4096)
def text_codes(text: str) -> frozenset[str]:
    if not note_table().may_mention(text):
        return frozenset()
    from adapter.notes.reader import read_mentions

    return frozenset(m.code for m in read_mentions(text)
                     if m.stated and m.code not in SPECIAL_CODES)
