"""Which resources are clinical notes, and their text (SPEC 4.2).

``DocumentReference`` (a clinical-note category or a note type), ``Composition`` of a note type
(each section's narrative under its title; a consent or a patient summary is no note) and
``DiagnosticReport`` of a note type (``presentedForm``); a note entered-in-error (``status`` or
``docStatus``) or a cancelled report is none. A body comes inline (``attachment.data``, base64),
from a Binary the note contains (``#b1``) or from a ``Binary`` (``attachment.url``, relative,
absolute or a Bundle entry's ``urn:uuid:``), which the chart resolves once every resource is
read. A body that cannot be read leaves the note unreadable, naming why; a defect
of the input (bad base64, an unknown charset, an oversized or over-nested body, a missing
Binary) is also a problem of the run (``defect``), as a malformed resource is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from adapter.evidence.facts import NoteFact
from adapter.evidence.fields import (
    BadResource,
    codings,
    is_object,
    items,
    parse_date,
    ref_of,
    reference,
    resolvable,
    string,
    subject,
    text,
    utc_other_days,
)
from adapter.notes.terms import NoteTable, note_table
from adapter.notes.text import (
    Unreadable,
    body_text,
    decode_base64,
    html_text,
    media_type,
    readable_type,
    within_limit,
)

Resource = Mapping[str, Any]
NOTE_TYPES = frozenset({"DocumentReference", "Composition", "DiagnosticReport"})
BINARY = "Binary"
# statuses of a note that is no note: R4 DocumentReference.status and docStatus, Composition,
# DiagnosticReport (a cancelled report was never written)
NOT_NOTE_STATUSES = frozenset({"entered-in-error", "cancelled"})
_FULL_DAY = re.compile(r"\s*[0-9]{4}-[0-9]{2}-[0-9]{2}")
Time = tuple[date | None, tuple[date, ...], str | None]


def read_note(resource: Resource, zone: ZoneInfo | None = None,
              table: NoteTable | None = None) -> tuple[NoteFact | None, list[BadResource]]:
    """The note a resource is (None: it is no clinical note), and the defects met reading it."""
    table = table or note_table()
    rtype = resource.get("resourceType")
    ref = ref_of(resource)
    if rtype == "DocumentReference":
        return _document_reference(resource, ref, zone, table)
    if rtype == "Composition":
        return _composition(resource, ref, zone, table)
    return _diagnostic_report(resource, ref, zone, table)


def _is_note_type(concepts: list[object], where: str, ref: str, table: NoteTable) -> bool:
    for n, concept in enumerate(concepts):
        for system, code in codings(concept, f"{where}[{n}]", ref):
            if code.lower() in table.note_categories or (
                    code in table.note_loinc and (not system or "loinc" in system)):
                return True
    return False


def _clinical_time(ref: str, zone: ZoneInfo | None,
                   places: list[tuple[object, str, str]]) -> Time:
    """The clinic's day of a note's clinical time: the first of ``places`` (holder, field,
    the field's path for messages) present; the other days a UTC stamp may be at the clinic
    (``utc_other_days``); and why the note has no day when its time names none (a year or a
    month, ``2026-06``: it cannot be placed on a visit day)."""
    for holder, name, where in places:
        value = holder.get(name) if is_object(holder) else None
        if value is None:
            continue
        day = parse_date(value, where, ref, zone)
        if isinstance(value, str) and not _FULL_DAY.match(value):
            return None, (), f"is dated {text(value.strip())[:40]} ({where}), which names no day"
        return day, utc_other_days(value, zone), None
    return None, (), None


def _kind(concept: object) -> str:
    if isinstance(concept, Mapping):
        written = concept.get("text")
        if isinstance(written, str) and written.strip():
            return text(written.strip())[:80]
        for coding in concept.get("coding") or []:
            if isinstance(coding, Mapping) and isinstance(coding.get("display"), str):
                return text(coding["display"].strip())[:80]
    return "clinical note"


def _document_reference(resource: Resource, ref: str, zone: ZoneInfo | None,
                        table: NoteTable) -> tuple[NoteFact | None, list[BadResource]]:
    status = string(resource.get("status"))
    if status in NOT_NOTE_STATUSES or string(resource.get("docStatus")) in NOT_NOTE_STATUSES:
        return None, []
    concepts = [resource.get("type"), *items(resource, "category", ref)]
    if not _is_note_type(concepts, "type/category", ref, table):
        return None, []
    context = resource.get("context")
    context = context if isinstance(context, Mapping) else {}
    encounters = tuple(e for n, enc in enumerate(items(context, "encounter", ref))
                       if (e := reference(enc, f"context.encounter[{n}]", ref)))
    period = context.get("period")
    timed = is_object(period) and period.get("start") is not None
    day, other_days, undated = _clinical_time(ref, zone, [
        (period, "start", "context.period.start"), (resource, "date", "date")])
    attachments = [content.get("attachment") for content in items(resource, "content", ref)]
    replaces = tuple(target for n, rel in enumerate(items(resource, "relatesTo", ref))
                     if rel.get("code") == "replaces"
                     and (target := reference(rel.get("target"), f"relatesTo[{n}].target", ref)))
    return _with_body(NoteFact(ref, subject(resource, ref), _kind(resource.get("type")), day,
                               encounters, status, replaces=replaces, other_days=other_days,
                               undated=undated, written_only=not timed),
                      attachments, resource)


def _diagnostic_report(resource: Resource, ref: str, zone: ZoneInfo | None,
                       table: NoteTable) -> tuple[NoteFact | None, list[BadResource]]:
    if "presentedForm" not in resource:
        return None, []
    status = string(resource.get("status"))
    if status in NOT_NOTE_STATUSES:
        return None, []
    concepts = [resource.get("code"), *items(resource, "category", ref)]
    if not _is_note_type(concepts, "code/category", ref, table):
        return None, []
    day, other_days, undated = _clinical_time(ref, zone, [
        (resource, "effectiveDateTime", "effectiveDateTime"),
        (resource.get("effectivePeriod"), "start", "effectivePeriod.start"),
        (resource, "issued", "issued")])
    encounter = reference(resource.get("encounter"), "encounter", ref)
    return _with_body(NoteFact(ref, subject(resource, ref), _kind(resource.get("code")), day,
                               (encounter,) if encounter else (), status,
                               other_days=other_days, undated=undated),
                      list(items(resource, "presentedForm", ref)), resource)


def _composition(resource: Resource, ref: str, zone: ZoneInfo | None,
                 table: NoteTable) -> tuple[NoteFact | None, list[BadResource]]:
    status = string(resource.get("status"))
    if status in NOT_NOTE_STATUSES:
        return None, []
    # a clinical document of a note type: a consent, an IPS patient summary is no note
    concepts = [resource.get("type"), *items(resource, "category", ref)]
    if not _is_note_type(concepts, "type/category", ref, table):
        return None, []
    places: list[tuple[object, str, str]] = [
        (event.get("period"), "start", f"event[{n}].period.start")
        for n, event in enumerate(items(resource, "event", ref))]
    day, other_days, undated = _clinical_time(ref, zone, [*places, (resource, "date", "date")])
    encounter = reference(resource.get("encounter"), "encounter", ref)
    note = NoteFact(ref, subject(resource, ref), _kind(resource.get("type")), day,
                    (encounter,) if encounter else (), status,
                    content_type="application/xhtml+xml", other_days=other_days,
                    undated=undated)
    parts: list[str] = []
    try:
        _sections(resource, ref, parts, 0)
    except Unreadable as exc:
        return _unreadable(note, f"it {exc}", True)
    try:
        return replace(note, text=within_limit("\n\n".join(parts))), []
    except Unreadable as exc:
        return _unreadable(note, f"it {exc}", True)


def _sections(holder: Resource, ref: str, parts: list[str], depth: int) -> None:
    if depth > 16:
        raise Unreadable("nests sections deeper than 16: not read")
    for n, section in enumerate(items(holder, "section", ref)):
        title = section.get("title")
        heading = title.strip() if isinstance(title, str) and title.strip() else ""
        if not heading:
            found = codings(section.get("code"), f"section[{n}].code", ref)
            heading = _kind(section.get("code")) if found else ""
        narrative = section.get("text")
        div = narrative.get("div") if isinstance(narrative, Mapping) else None
        body = html_text(div) if isinstance(div, str) else ""
        parts.append((f"# {heading}\n" if heading else "") + body)
        if "section" in section:
            _sections(section, ref, parts, depth + 1)


def _unreadable(note: NoteFact, why: str, defect: bool, content_type: str = ""
                ) -> tuple[NoteFact, list[BadResource]]:
    """``why``: a clause of the note ("its content is not valid base64"), which the
    ``note-unreadable`` finding gives after the note's name and content type; the error names
    the content type too."""
    content_type = content_type or note.content_type
    unread = replace(note, problem=why, content_type=content_type)
    error = f"note ({content_type or 'no contentType'}): {why}"
    return unread, ([BadResource(note.ref, error)] if defect else [])


def _with_body(note: NoteFact, attachments: list[object], resource: Resource
               ) -> tuple[NoteFact, list[BadResource]]:
    """The first readable attachment read: inline data now, a Binary's once the chart has it
    (a contained one, ``#b1``, now). Unreadable only when none is."""
    failure: tuple[str, bool, str] | None = None
    waiting: tuple[str, str] | None = None
    for attachment in attachments:
        if not isinstance(attachment, Mapping):
            continue
        content_type = attachment.get("contentType")
        content_type = text(content_type) if isinstance(content_type, str) else ""
        data, url = attachment.get("data"), attachment.get("url")
        if not readable_type(content_type):
            failure = failure or (f"it is {media_type(content_type)[0]}, which is not read "
                                  "(only text, HTML and RTF notes are)", False, content_type)
            continue
        if isinstance(data, str):
            try:
                body = body_text(decode_base64(data), content_type)
            except Unreadable as exc:
                failure = failure or (f"its content {exc}", True, content_type)
                continue
            return replace(note, text=body, content_type=content_type), []
        if isinstance(url, str) and waiting is None:
            target = resolvable(url)
            if target is not None and target.startswith("#"):
                held = _contained_binary(resource, target[1:])
                if held is not None:
                    read, defects = resolve_binary(
                        replace(note, binary=url.strip(), content_type=content_type), held)
                    if read.text is not None:
                        return read, defects
                    failure = failure or (read.problem or "", bool(defects),
                                          read.content_type)
                    continue
            if target is not None and target.startswith((f"{BINARY}/", "urn:uuid:")):
                # a Bundle entry's fullUrl (urn:uuid:) is resolved as references are
                waiting = (target, content_type)
            else:
                failure = failure or (f"its content url {url[:80]!r} is not a Binary the "
                                      "source can hold", True, content_type)
    if waiting is not None:
        return replace(note, binary=waiting[0], content_type=waiting[1]), []
    if failure is None:
        return _unreadable(note, "it has no content to read", True)
    return _unreadable(note, failure[0], failure[1], failure[2])


def _contained_binary(resource: Resource, bid: str) -> tuple[str, str, str | None] | None:
    """The Binary ``#bid`` a note holds in ``contained``, read; None when it holds none."""
    contained = resource.get("contained")
    for held in contained if isinstance(contained, list) else []:
        if is_object(held) and held.get("resourceType") == BINARY and held.get("id") == bid:
            return read_binary(held)
    return None


def read_binary(resource: Resource) -> tuple[str, str, str | None]:
    """(``Binary/x``, contentType, base64 data or None) of a Binary."""
    content_type = resource.get("contentType")
    data = resource.get("data")
    return (ref_of(resource), text(content_type) if isinstance(content_type, str) else "",
            data if isinstance(data, str) else None)


def resolve_binary(note: NoteFact, binary: tuple[str, str, str | None] | None
                   ) -> tuple[NoteFact, list[BadResource]]:
    """A note waiting for its Binary, with the Binary's body read (or why it cannot be)."""
    waiting = replace(note, binary=None)
    if binary is None:
        return _unreadable(waiting, f"its content url {note.binary} is not in the source",
                           True)
    _, content_type, data = binary
    content_type = content_type or note.content_type
    if data is None:
        return _unreadable(waiting, f"its body {note.binary} has no data", True, content_type)
    if not readable_type(content_type):
        return _unreadable(waiting, f"it is {media_type(content_type)[0]}, which is not "
                           "read (only text, HTML and RTF notes are)", False, content_type)
    try:
        body = body_text(decode_base64(data), content_type)
    except Unreadable as exc:
        return _unreadable(waiting, f"its body {note.binary} {exc}", True, content_type)
    return replace(waiting, text=body, content_type=content_type), []


def settle_notes(notes: dict[str, list[NoteFact]], binaries: dict[str, tuple[str, str, str | None]],
                 canonical: Callable[[str], str]) -> list[BadResource]:
    """Once every resource is read: each note waiting for a Binary gets its text; a note that
    another ``replaces`` gives way to it, and so does a copy of it (Synthea writes each note
    as a DocumentReference and a DiagnosticReport: the report holding the replaced note's
    text that day is replaced too); the same text reached twice on a day is kept once, as the
    DocumentReference. A replacing note with no clinical time of its own (only the ``date`` it
    was written) documents the replaced note's visit: it takes that note's day."""
    problems: list[BadResource] = []
    for patient, held in notes.items():
        targets: dict[str, list[str]] = {}  # a note's reference -> the notes it replaces
        for note in held:
            for target in note.replaces:
                if canonical(target) == note.ref:
                    problems.append(BadResource(note.ref, "relatesTo 'replaces' names the "
                                                "note itself: ignored"))
                else:
                    targets.setdefault(note.ref, []).append(canonical(target))
        problems += _cycles_undone(targets)
        replaced: dict[str, NoteFact] = {}  # a replaced note's reference -> its replacement
        for note in held:
            for target in targets.get(note.ref, ()):
                replaced.setdefault(target, note)
        read: list[tuple[NoteFact, list[BadResource]]] = []
        for note in sorted(held, key=_preferred):
            if note.binary is not None:
                read.append(resolve_binary(note, binaries.get(canonical(note.binary))))
            else:
                read.append((note, []))
        copies = {(note.text, note.day) for note, _ in read
                  if note.ref in replaced and note.text is not None}
        by_ref = {note.ref: note for note, _ in read}
        kept: list[NoteFact] = []
        texts: set[tuple[str, date | None]] = set()
        for note, defects in read:
            if note.ref in replaced or (not note.replaces and (note.text, note.day) in copies):
                continue
            if note.written_only:
                note = _on_replaced_visit(note, [by_ref[r] for r in targets.get(note.ref, ())
                                                 if r in by_ref])
            problems += defects
            if note.text is not None:
                if (note.text, note.day) in texts:
                    continue
                texts.add((note.text, note.day))
            kept.append(note)
        notes[patient] = kept
    return problems


def _cycles_undone(targets: dict[str, list[str]]) -> list[BadResource]:
    """Notes that replace each other (n1 replaces n2, n2 replaces n1; or round a longer
    cycle) would each give way to the other and none be read: within a cycle no note is taken
    as replaced, and each cycle is named once, at its first note. ``targets`` loses the
    replacements inside a cycle; one out of it still holds."""
    problems: list[BadResource] = []
    done: set[str] = set()
    for ref in sorted(targets):
        if ref in done:
            continue
        cycle = sorted(other for other in _reached(targets, ref)
                       if ref in _reached(targets, other))
        if not cycle:
            continue
        done.update(cycle)
        for member in cycle:
            targets[member] = [t for t in targets[member] if t not in cycle]
        others = [other for other in cycle if other != ref]
        if len(others) == 1:
            problems.append(BadResource(ref, f"relatesTo 'replaces' names {others[0]}, which "
                                        "replaces this note in turn: ignored, both notes are "
                                        "read as if neither replaced the other"))
        else:
            problems.append(BadResource(ref, "relatesTo 'replaces' makes a cycle with "
                                        f"{', '.join(others)}: ignored, every note of it is "
                                        "read as if none replaced another"))
    return problems


def _reached(targets: dict[str, list[str]], start: str) -> set[str]:
    """The notes ``start`` replaces, directly or through the notes they replace."""
    reached: set[str] = set()
    waiting = list(targets.get(start, ()))
    while waiting:
        ref = waiting.pop()
        if ref not in reached:
            reached.add(ref)
            waiting += targets.get(ref, ())
    return reached


def _on_replaced_visit(note: NoteFact, replaced: list[NoteFact]) -> NoteFact:
    """A replacing note dated only when it was written: the note of the replaced one's visit
    (its day, and its encounter when the replacement names none)."""
    for old in replaced:
        if old.day is not None or old.encounters:
            return replace(note, day=old.day, other_days=old.other_days, undated=old.undated,
                           encounters=note.encounters or old.encounters)
    return note


def _preferred(note: NoteFact) -> tuple[int, str]:
    return (0 if note.ref.startswith("DocumentReference/") else 1, note.ref)


def binary_ids(resource: Resource) -> set[str]:
    """Ids of the Binaries a note's attachments point at by ``url`` (relative or absolute)."""
    rtype = resource.get("resourceType")
    if rtype == "DocumentReference":
        contents = resource.get("content")
        attachments = [c.get("attachment") for c in contents if isinstance(c, Mapping)] \
            if isinstance(contents, list) else []
    elif rtype == "DiagnosticReport":
        forms = resource.get("presentedForm")
        attachments = list(forms) if isinstance(forms, list) else []
    else:
        return set()
    found = set()
    for attachment in attachments:
        url = attachment.get("url") if isinstance(attachment, Mapping) else None
        target = resolvable(url) if isinstance(url, str) else None
        if target and target.startswith(f"{BINARY}/"):
            found.add(target.partition("/")[2])
    return found
