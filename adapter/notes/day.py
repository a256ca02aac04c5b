"""The notes of each B12 date of a claim, and what they say (SPEC 4.2): the notes of the B12
item's encounter, else the patient's notes whose clinical time falls on the service date (the
clinic's day, as for administrations: a note stamped that day, else one stamped in UTC that may
be that day). A note dated only by a year or a month is no day's note. Only these notes are
read, and each text once per process (a note is met again by every claim of its day)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

from adapter.evidence.facts import (
    ClaimFacts,
    DayNotes,
    Mention,
    NoteEvidence,
    NoteFact,
    NoteReading,
)


@lru_cache(maxsize=2048)
def mentions_of(text: str) -> tuple[Mention, ...]:
    from adapter.notes.reader import read_mentions

    return read_mentions(text)


def reading(note: NoteFact) -> NoteReading:
    if note.text is None:
        return NoteReading(note.ref, note.kind, note.day, False, note.problem or "it is not read",
                           note.content_type)
    return NoteReading(note.ref, note.kind, note.day, True, None, note.content_type,
                       mentions_of(note.text))


def note_evidence(claim: ClaimFacts, notes: Sequence[NoteFact],
                  canonical: Callable[[str], str], held: bool = False) -> NoteEvidence:
    """``held``: the source says the patient holds notes, whether or not any was read."""
    if not notes and not held:
        return NoteEvidence()
    days = []
    # the patient's notes all name no day (``2026-06``): why, for note-missing
    undated = tuple(f"{n.ref} {n.undated}" for n in notes if n.undated) \
        if notes and all(n.undated for n in notes) else ()
    for day in claim.b12_dates:
        encounters = {canonical(e) for item in claim.b12_items if claim.item_date(item) == day
                      for e in item.encounters}
        of_day = [n for n in notes if encounters.intersection(canonical(e) for e in n.encounters)]
        guessed = False
        if not of_day:
            # a note stamped that day; else one stamped in UTC that may be that day at the
            # clinic (SPEC 4.1 "Times": no facility_timezone to tell), a guess the run says
            of_day = [n for n in notes if n.day == day]
            if not of_day:
                of_day = [n for n in notes if day in n.other_days]
                guessed = bool(of_day)
        days.append(DayNotes(day, tuple(reading(n) for n in of_day), guessed=guessed,
                             undated=() if of_day else undated))
    return NoteEvidence(held=True, days=tuple(days))
