"""What the clinician's note of the B12 date says, beside the billed code (SPEC 4.2).

Codes: note-missing, note-unreadable, note-symptom-only, note-history-only, note-contradicts,
note-uncertain, note-no-indication, note-specificity-loss, dx-more-specific-than-note; and
dx-text-only (SPEC 4.1, a free-text problem-list entry).

A *statement* is a current, affirmed mention. Each note finding names the note and quotes the
sentence it read (``Finding.quote``, left out with ``notes.quote = false``); the message itself
never carries the note's words, so a log line that shows a message shows no note text.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from adapter.evidence.facts import ClaimEvidence, DayNotes, Mention, NoteReading
from adapter.findings import Finding
from adapter.rules import status
from adapter.rules.policy import Policy
from adapter.rules.premedication import premedicated
from adapter.terminology import icd10cm

Said = tuple[Mention, NoteReading]  # a mention and the note it is in


def _named(notes: tuple[NoteReading, ...] | list[NoteReading]) -> str:
    return ", ".join(f"{n.note} ({n.kind})" for n in notes)


def _refs(said: list[Said] | tuple[NoteReading, ...]) -> tuple[str, ...]:
    notes = [s[1] if isinstance(s, tuple) else s for s in said]
    return tuple(sorted({n.note for n in notes}))


def _quote(said: list[Said], policy: Policy) -> str | None:
    if not policy.notes_quote or not said:
        return None
    mention, note = said[0]
    return f"{note.note}: {mention.sentence}"


def _terms(said: list[Said]) -> str:
    return ", ".join(dict.fromkeys(m.term.lower() for m, _ in said))


def _diagnostic(policy: Policy, code: str) -> bool:
    """A B12 diagnosis, a cause, or a manifestation said to be due to B12 deficiency."""
    return policy.is_indication(code) or icd10cm.is_manifestation_of(
        code, policy.codes.b12_diagnoses)


def note_findings(ev: ClaimEvidence, policy: Policy) -> Iterator[Finding]:
    notes = ev.notes
    for day in ev.claim.b12_dates:
        of_day = notes.on(day)
        if not of_day or not of_day.notes:
            if notes.held or policy.notes_required:
                held = ("the source holds notes for the patient, none for that date"
                        if notes.held else "the source holds no note for the patient at all")
                if of_day and of_day.undated:
                    held += f" ({'; '.join(of_day.undated)})"
                yield Finding("note-missing", f"No clinical note for the B12 date "
                              f"{day.isoformat()}: {held}", day=day)
            continue
        yield from _day(ev, policy, of_day)


def _day(ev: ClaimEvidence, policy: Policy, of_day: DayNotes) -> Iterator[Finding]:
    day = of_day.day
    when = day.isoformat()
    for note in of_day.notes:
        if not note.readable:
            yield Finding("note-unreadable",
                          f"The note {note.note} ({note.kind}, {note.content_type or 'no type'}) "
                          f"of {when} cannot be read: {note.problem}",
                          evidence=(note.note,), day=day)
    readable = of_day.readable
    if not readable:
        return
    said: list[Said] = [(m, n) for n in readable for m in n.mentions]
    ladder = policy.codes.ladder
    dx = [(m, n) for m, n in said if _diagnostic(policy, m.code) and m.context != "family"]
    stated = [(m, n) for m, n in dx if m.stated]
    stated_ladder = [(m, n) for m, n in stated if m.code in ladder]
    shown = f"The note of {when} ({_named(readable)})"
    fired: set[str] = set()

    symptoms = [(m, n) for m, n in said if m.code == "symptom" and m.stated]
    indicated = bool(stated) or premedicated(ev, policy)
    if symptoms and not indicated:
        fired.add("note-symptom-only")
        yield Finding("note-symptom-only",
                      f"{shown} gives only symptoms or a wellness reason ({_terms(symptoms)}) and "
                      "states no current B12 diagnosis or cause", evidence=_refs(symptoms),
                      day=day, quote=_quote(symptoms, policy))
    historical = [(m, n) for m, n in dx if m.context == "historical"]
    if historical and len(historical) == len(dx):
        fired.add("note-history-only")
        yield Finding("note-history-only",
                      f"{shown} mentions {_terms(historical)} only as history, not as a current "
                      "diagnosis", evidence=_refs(historical), day=day,
                      quote=_quote(historical, policy))

    for claimed in policy.claimed_b12(ev):
        code = claimed.code
        assert code is not None
        rank = ladder[code]
        negated = [(m, n) for m, n in dx if m.context == "negated" and m.code in ladder
                   and (m.code == code or ladder[m.code] < rank)]
        if negated and not stated_ladder:
            fired.add("note-contradicts")
            yield Finding("note-contradicts",
                          f"{shown} negates {_terms(negated)}; the claim codes {code}",
                          diagnosis=code, evidence=_refs(negated), day=day,
                          quote=_quote(negated, policy))
        of_code = [(m, n) for m, n in dx if m.code == code]
        if of_code and all(m.context == "uncertain" for m, _ in of_code):
            fired.add("note-uncertain")
            yield Finding("note-uncertain",
                          f"{shown} calls {code} uncertain ({_terms(of_code)}): an uncertain "
                          "diagnosis is not coded in outpatient care (ICD-10-CM guidelines "
                          "IV.H)", diagnosis=code, evidence=_refs(of_code), day=day,
                          quote=_quote(of_code, policy))
        yield from _ladder(ev, policy, code, stated_ladder, shown, day)

    if not indicated and not fired:
        yield Finding("note-no-indication",
                      f"{shown} states no B12 diagnosis or cause: it never gives the reason for "
                      "the injection", evidence=_refs(readable), day=day,
                      quote=_quote(dx or said, policy))


def _ladder(ev: ClaimEvidence, policy: Policy, code: str, stated: list[Said], shown: str,
            day: date) -> Iterator[Finding]:
    """The note's B12 diagnoses against the claimed one on the specificity ladder."""
    if not stated:
        return
    ladder = policy.codes.ladder
    rank = ladder[code]
    best = max((m.code for m, _ in stated), key=lambda c: (ladder[c], c))
    claimed = {d.code for d in policy.claimed_b12(ev) if d.code}
    if ladder[best] > rank:
        if any(c != code and ladder[c] >= ladder[best] for c in claimed):
            return
        about = [(m, n) for m, n in stated if m.code == best]
        yield Finding("note-specificity-loss",
                      f"{shown} states {best} ({icd10cm.title(best)}); the claim codes only "
                      f"{code}", diagnosis=code, suggested_code=best, evidence=_refs(about),
                      day=day, quote=_quote(about, policy))
    elif ladder[best] < rank and code not in {m.code for m, _ in stated}:
        about = [(m, n) for m, n in stated if m.code == best]
        yield Finding("dx-more-specific-than-note",
                      f"The claim codes {code} but {shown[0].lower()}{shown[1:]} states only "
                      f"{best} ({icd10cm.title(best)}): the code came from elsewhere, such as "
                      "the problem list", diagnosis=code, suggested_code=best,
                      evidence=_refs(about), day=day, quote=_quote(about, policy))


def dx_text_only(ev: ClaimEvidence, policy: Policy) -> Iterator[Finding]:
    """A claimed code documented only by a problem-list entry in free text (SPEC 4.1)."""
    day = ev.claim.service_date
    for dx in ev.claim.diagnoses:
        if not policy.is_indication(dx.code):
            continue
        documenting = [c.fact for c in ev.conditions if dx.code in c.fact.codes
                       and status.counts(c.fact) and status.current_at(c.fact, day)]
        text_only = [c for c in documenting if c.text_only]
        if text_only and len(text_only) == len(documenting):
            refs = tuple(sorted(c.ref for c in text_only))
            yield Finding("dx-text-only",
                          f"{dx.code} is documented only by free text ({', '.join(refs)}): the "
                          "problem-list entry is free text; code it", diagnosis=dx.code,
                          evidence=refs)
