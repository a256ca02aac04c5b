"""The patients' records a run checks claims against, indexed by patient and by reference.

Holds facts, not resources: a 100k-claim export keeps only the few B12-relevant facts of each
patient in memory, and a server source fills one chart per page of claims. A medication use
whose drug is a Medication resource elsewhere in the source waits for ``finish``, when every
resource has been read, whatever the order they came in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from adapter.evidence.drugs import judge_use
from adapter.evidence.facts import (
    AdministrationFact,
    ConditionFact,
    LabFact,
    MedicationFact,
    NoteFact,
    PatientFact,
    ProcedureFact,
)
from adapter.evidence.fields import BadResource, has_id, normalize_reference, ref_of
from adapter.evidence.kinds import (
    BODY,
    BY_TYPE,
    CHART_TYPES,
    CONDITION,
    COVERAGE,
    DRUG,
    LAB,
    NOTE,
    PATIENT,
    PAYER,
    PROCEDURE,
    REFERENCED_TYPES,
    USE,
)
from adapter.evidence.names import NAME_PARTS, NAMED_TYPES, name_of, name_parts, parts_key
from adapter.evidence.payer import (
    CoverageFact,
    Party,
    read_coverage,
    read_organization,
)
from adapter.evidence.read import (
    Drug,
    MedicationUse,
    onset_from_age,
    read_condition,
    read_medication,
    read_medication_use,
    read_observation,
    read_patient,
    read_procedure,
)
from adapter.mappings import Mappings
from adapter.notes.documents import read_binary, read_note, settle_notes

# CHART_TYPES: the record kinds' types; REFERENCED_TYPES: those a claim's reference must find
__all__ = ["CHART_TYPES", "REFERENCED_TYPES", "Chart"]
Fact = ConditionFact | LabFact | AdministrationFact | MedicationFact | ProcedureFact
Entry = tuple[str, Any]  # ("condition", ConditionFact), ("known", "Observation/x"), ...


class Chart:
    """Facts by patient and by reference, plus the problems met while reading them."""

    def __init__(self, mappings: Mappings, aliases: Mapping[str, str] | None = None,
                 zone: ZoneInfo | None = None, names: frozenset[str] = frozenset()) -> None:
        self.mappings = mappings
        self.aliases = aliases if aliases is not None else {}  # shared: a source may add more
        self.zone = zone
        self.conditions: dict[str, list[ConditionFact]] = defaultdict(list)
        self.labs: dict[str, list[LabFact]] = defaultdict(list)
        self.administrations: dict[str, list[AdministrationFact]] = defaultdict(list)
        self.medications: dict[str, list[MedicationFact]] = defaultdict(list)
        self.procedures: dict[str, list[ProcedureFact]] = defaultdict(list)
        self.patients: dict[str, PatientFact] = {}
        # Payers (SPEC 4.4): Coverages and Organizations by reference, and the dates the
        # claims of the source bill B12 on, by patient (claim, date), for frequency limits.
        self.coverages: dict[str, CoverageFact] = {}
        self.organizations: dict[str, Party] = {}
        self.billed: dict[str, list[tuple[str, date]]] = defaultdict(list)
        self.notes: dict[str, list[NoteFact]] = defaultdict(list)  # clinical notes (SPEC 4.2)
        # the patients whose notes are kept (a file source: those of the B12 claims), None: all
        self.note_patients: frozenset[str] | None = None
        # patients the source says hold notes beyond those read (a server: other days)
        self.note_holders: frozenset[str] = frozenset()
        self._binaries: dict[str, tuple[str, str, str | None]] = {}  # until ``finish``
        self.by_ref: dict[str, Fact] = {}
        self.known: set[str] = set()  # chart resources seen, relevant or not ...
        self.wanted: frozenset[str] | None = None  # ... of these only, when a claim pre-scan
        # said which ones the claims in scope point at (a big export: not millions of ids)
        self.problems: list[BadResource] = []
        self._drugs: dict[str, Drug] = {}  # Medication resources, by reference
        self._waiting: list[MedicationUse] = []  # uses whose Medication was not read yet
        self._aged: list[ConditionFact] = []  # onset as an age: dated from the birth date
        # Display names by reference, kept only for the types a sink asked for (the audit
        # page: providers, and patients with --show-names); none by default.
        self.name_types = names & NAMED_TYPES
        # The words of each patient's name, for a sink that masks them (NAME_PARTS), under
        # ``parts_key(ref)`` among the names.
        self.keeps_name_parts: bool = NAME_PARTS in names
        self.names: dict[str, str] = {}

    def canonical(self, ref: str) -> str:
        """``Type/id`` for a reference, resolving ``urn:uuid:`` fullUrls of Bundle entries."""
        if not self.aliases:  # no Bundle fullUrls (an NDJSON export): nothing to resolve
            return ref
        return self.aliases.get(ref) or self.aliases.get(normalize_reference(ref)) or ref

    def add(self, resource: Mapping[str, Any]) -> None:
        """Read one resource into the chart; a malformed one becomes a problem, not a crash."""
        self.put(self.read(resource))

    def read(self, resource: Mapping[str, Any]) -> list[Entry]:
        """What one resource adds to the chart, not yet indexed: pure, so a worker process
        can read while the parent ``put``s the entries in source order (the same chart)."""
        rtype = resource.get("resourceType")
        entries: list[Entry] = []
        if rtype in self.name_types and (name := name_of(resource)):
            entries.append(("name", (ref_of(resource), name)))
        if self.keeps_name_parts and rtype == "Patient" and (parts := name_parts(resource)):
            entries.append(("name", (parts_key(ref_of(resource)), parts)))
        kind = BY_TYPE.get(rtype) if isinstance(rtype, str) else None
        if kind is None:
            return entries
        ref = ref_of(resource)
        entries.append(("known", ref))
        mappings, zone = self.mappings, self.zone
        problems: list[BadResource] = []
        entry: Entry | None = None
        fact = kind.fact
        try:
            if fact == CONDITION:
                entry = (CONDITION, read_condition(resource, mappings, zone, ref))
            elif fact == LAB:
                lab = read_observation(resource, mappings, zone, ref)
                entry = (LAB, lab) if lab is not None else None
            elif fact == USE:
                entry = (USE, read_medication_use(resource, zone, problems, ref))
            elif fact == PROCEDURE:
                procedure = read_procedure(resource, mappings.drugs, zone)
                entry = (PROCEDURE, procedure) if procedure is not None else None
            elif fact == DRUG:
                entry = (DRUG, (ref, read_medication(resource)))
            elif fact == COVERAGE:
                entry = (COVERAGE, read_coverage(resource))
            elif fact == PAYER:
                entry = (PAYER, read_organization(resource))
            elif fact == NOTE:
                note, defects = read_note(resource, zone)
                problems += defects
                entry = (NOTE, note) if note is not None else None
            elif fact == BODY:
                entry = (BODY, read_binary(resource))
            elif fact == PATIENT and has_id(ref):
                entry = (PATIENT, read_patient(resource, problems))
        except BadResource as exc:
            problems.append(exc)
        if problems:
            entries += [("problem", p) for p in problems]
        if entry is not None:
            entries.append(entry)
        return entries

    def put(self, entries: list[Entry]) -> None:
        """Index what ``read`` made of one resource."""
        for what, value in entries:
            if what == "known":
                self.known.add(value)
            elif what == CONDITION:
                self._index(value, self.conditions)
                if value.onset_age is not None:
                    self._aged.append(value)
            elif what == LAB:
                self._index(value, self.labs)
            elif what == USE:
                self._use(value)
            elif what == PROCEDURE:
                self._index(value, self.procedures)
            elif what == "problem":
                self.problems.append(value)
            elif what == DRUG:
                self._drugs[value[0]] = value[1]
            elif what == "name":
                self.names[value[0]] = value[1]
            elif what == COVERAGE:
                self.coverages[value.ref] = value
            elif what == PAYER:
                if value.ref is not None:
                    self.organizations[value.ref] = value
            elif what == NOTE:
                self._note(value)
            elif what == BODY:
                self._binaries[value[0]] = value
            else:
                self.patients[value.ref] = value

    def _use(self, use: MedicationUse) -> None:
        if use.drug is None:
            self._waiting.append(use)
            return
        fact = judge_use(use, use.drug, self.mappings.drugs, self.problems)
        if isinstance(fact, AdministrationFact):
            self._index(fact, self.administrations)
        elif fact is not None:
            self._index(fact, self.medications)

    def _note(self, note: NoteFact) -> None:
        if note.patient is None or not has_id(note.ref):
            self.problems.append(BadResource(note.ref, "note has no subject or no id: it "
                                             "cannot be told whose visit it documents"))
            return
        patient = self.canonical(note.patient)
        if self.note_patients is None or patient in self.note_patients:
            self.notes[patient].append(note)

    def finish(self) -> Chart:
        """Judge the medication uses that waited for their Medication resource; give notes
        their Binary's text, and keep of the notes those that count (SPEC 4.2)."""
        binaries, self._binaries = self._binaries, {}
        self.problems += settle_notes(self.notes, binaries, self.canonical)
        waiting, self._waiting = self._waiting, []
        for use in waiting:
            drug = self._drugs.get(self.canonical(use.medication_ref or ""))
            if drug is None:
                self.problems.append(BadResource(
                    use.ref, f"medicationReference {use.medication_ref} is not in the source: "
                    "the drug cannot be told"))
                continue
            self._use(replace(use, drug=drug))
        self._drugs.clear()
        aged, self._aged = self._aged, []
        for fact in aged:
            self._date_onset(fact)
        return self

    def _date_onset(self, fact: ConditionFact) -> None:
        """A Condition's onset written as an age (``onsetAge``, ``onsetRange.low``) as the day
        the patient reached it, when the chart holds the patient's birth date (SPEC 4.1)."""
        patient = self.canonical(fact.patient) if fact.patient is not None else ""
        person = self.patients.get(patient)
        age = fact.onset_age
        if self.by_ref.get(fact.ref) is not fact or person is None or age is None \
                or person.birth_date is None:
            return
        onset = onset_from_age(person.birth_date, age)
        if onset is None:
            return
        dated = replace(fact, onset=onset)
        self.by_ref[fact.ref] = dated
        facts = self.conditions[patient]
        facts[:] = [dated if kept is fact else kept for kept in facts]

    def _index(self, fact: Any, by_patient: dict[str, list[Any]]) -> None:
        if not has_id(fact.ref):
            self.problems.append(BadResource(fact.ref, "has no id (or not a FHIR id): evidence "
                                             "that cannot be referenced is not used"))
            return
        prior = self.by_ref.get(fact.ref)
        if prior is not None:  # the same id twice: a resource repeated verbatim is one record
            if prior != fact:
                kind = fact.ref.partition("/")[0]
                self.problems.append(BadResource(
                    fact.ref, f"a second {kind} with this id: ids must be unique; the first "
                    "is used, this one is not read"))
            return
        if fact.patient is not None:
            by_patient[self.canonical(fact.patient)].append(fact)
        self.by_ref[fact.ref] = fact

    def bill(self, claim: str, patient: str, dates: Iterable[date]) -> None:
        """Note the dates a claim in scope bills B12 on (a patient's injection history)."""
        self.billed[self.canonical(patient)].extend((claim, day) for day in dates)

    def coverage(self, ref: str) -> CoverageFact | None:
        return self.coverages.get(self.canonical(ref))

    def organization(self, ref: str) -> Party | None:
        return self.organizations.get(self.canonical(ref))

    def name(self, ref: str) -> str | None:
        """The kept display name of a Patient, Practitioner, Organization or Location."""
        return self.names.get(self.canonical(ref)) if self.names else None

    def name_parts(self, patient: str) -> str | None:
        """The kept words of a patient's name (``NAME_PARTS``), space-separated."""
        return self.names.get(parts_key(self.canonical(patient))) if self.names else None

    def lookup(self, ref: str) -> Fact | None:
        return self.by_ref.get(self.canonical(ref))

    def seen(self, refs: tuple[str, ...]) -> None:
        """Resources passed over unread exist (``Seen``): kept if a claim may ask."""
        self.known.update(refs if self.wanted is None else self.wanted.intersection(refs))

    def has(self, ref: str) -> bool:
        return self.canonical(ref) in self.known
