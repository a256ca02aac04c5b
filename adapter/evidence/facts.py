"""The typed facts a rule may read. Immutable values (``adapter.values``): no FHIR models, no
I/O."""

from __future__ import annotations

from dataclasses import field
from datetime import date
from enum import StrEnum
from typing import Generic, TypeVar

from adapter.evidence.fields import BadResource
from adapter.evidence.payer import NO_PAYER, ClaimPayer, Party
from adapter.terminology.in_force import InForce
from adapter.values import value

T = TypeVar("T")
Coding = tuple[str, str]  # (system, code), both trimmed; system "" when none is given


class Path(StrEnum):
    """How a piece of evidence was found (SPEC section 3)."""

    LINKED = "linked"  # referenced from the claim, a linked Condition, or a linked administration
    RECORD = "record"  # found only in the patient's record


@value
class ClaimDiagnosis:
    sequence: int
    code: str | None  # normalised ICD-10-CM code, None when the diagnosis carries none
    written: str  # as the claim wrote it, for messages
    condition: str | None = None  # diagnosisReference
    derived_from: str | None = None  # the Condition the code was taken from (no code written)
    # the system ``written`` was coded under when it is no ICD-10-CM code ("": none); None
    # when it is, or when ``written`` is text, not a code
    system: str | None = None


@value
class ClaimItem:
    """One line of a claim as written; which lines are B12 injections is a rule's call."""

    sequence: int
    product: tuple[Coding, ...]  # productOrService
    units: float | None
    service_date: date | None  # servicedDate / servicedPeriod.start
    diagnosis_sequences: tuple[int, ...]
    encounters: tuple[str, ...]
    no_day: str | None = None  # service_date is a year or a month: why it is no day


@value
class ClaimHead:
    """What scope is decided on, read before the rest: most claims of an export bill no B12
    and need nothing more (``adapter.rules.scope.out_of_scope``)."""

    ref: str
    status: str | None
    use: str | None
    products: tuple[tuple[Coding, ...], ...]  # each line's productOrService


@value
class ClaimRecord:
    """A Claim or ExplanationOfBenefit as the reader found it: every line, no judgement."""

    ref: str
    version: str | None
    last_updated: str | None  # meta.lastUpdated as sent (a sync watermark is made of these)
    status: str | None
    patient: str | None
    billable_start: date | None
    created: date | None
    diagnoses: tuple[ClaimDiagnosis, ...]
    items: tuple[ClaimItem, ...]
    supporting: tuple[str, ...]  # supportingInfo valueReference targets
    use: str | None = None  # claim | preauthorization | predetermination
    providers: tuple[str, ...] = ()  # provider, careTeam providers, facility (for reports)
    payer: ClaimPayer = NO_PAYER  # insurer and focal coverage (SPEC 4.4)
    # the claim's own date (billable_start, else created) is a year or a month: why it is no day
    no_day: str | None = None


@value
class B12Item:
    sequence: int
    is_j3420: bool
    units: float | None
    service_date: date | None  # the line's own date; None: the claim's date
    diagnosis_sequences: tuple[int, ...]
    encounters: tuple[str, ...]


@value
class ClaimFacts:
    """A claim in scope (a B12 injection billed): what the rules read."""

    ref: str
    version: str | None
    patient: str
    service_date: date  # the earliest B12 line date: diagnosis, lab and anemia checks use it
    diagnoses: tuple[ClaimDiagnosis, ...]
    b12_items: tuple[B12Item, ...]
    supporting: tuple[str, ...]  # supportingInfo valueReference targets
    providers: tuple[str, ...] = ()
    payer: ClaimPayer = NO_PAYER  # insurer and focal coverage (SPEC 4.4)

    @property
    def referenced(self) -> frozenset[str]:
        """Everything the claim points at: diagnosisReference and supportingInfo."""
        return frozenset(self.supporting) | {d.condition for d in self.diagnoses if d.condition}

    def item_date(self, item: B12Item) -> date:
        return item.service_date or self.service_date

    @property
    def b12_dates(self) -> tuple[date, ...]:
        """Every date a B12 line bills, earliest first (loading doses: several)."""
        return tuple(sorted({self.item_date(item) for item in self.b12_items}))

    @property
    def encounters(self) -> frozenset[str]:
        return frozenset(e for item in self.b12_items for e in item.encounters)


@value
class ConditionFact:
    ref: str
    patient: str | None
    codes: frozenset[str]  # ICD-10-CM, written or mapped from SNOMED CT
    clinical_status: str | None
    verification_status: str | None
    onset: date | None
    abatement: date | None
    abated: bool  # abatement given without a comparable date (boolean true, string, age)
    evidence: tuple[str, ...] = ()  # Condition.evidence.detail
    written_icd: frozenset[str] = frozenset()  # codes written in ICD-10-CM (not mapped)
    snomed: frozenset[str] = frozenset()  # SNOMED CT codes as written
    text: str = ""  # code.text and displays, as written (the assessment line)
    categories: frozenset[str] = frozenset()  # category codes (problem-list-item, ...)
    encounter: str | None = None
    recorded: date | None = None
    text_only: bool = False  # no ICD-10-CM or SNOMED CT coding: ``codes`` read from ``text``
    # onsetAge (or onsetRange.low) as (amount, UCUM unit of time): ``onset`` is made of it and
    # the patient's birth date once the chart holds both (``Chart.finish``)
    onset_age: tuple[float, str] | None = None


@value
class LabFact:
    ref: str
    patient: str | None
    status: str | None
    kind: str  # a LabKind name from mappings/labs.json
    loinc: str
    value: float | None  # in the kind's canonical unit
    interpretation: frozenset[str]  # v3 ObservationInterpretation codes
    effective: date
    comparator: str | None = None  # "<", "<=", ">", ">=": the value is a bound, not a result
    # Stamped in UTC with no facility_timezone: the other days it may be at the clinic
    # (fields.utc_other_days), as for an administration
    other_days: tuple[date, ...] = ()


@value
class AdministrationFact:
    """A MedicationAdministration of a B12 product."""

    ref: str
    patient: str | None
    status: str | None
    day: date | None
    dose_ug: float | None
    context: str | None
    reasons: tuple[str, ...] = ()
    self_administered: bool = False  # an oral, sublingual or nasal route or dose form
    # Stamped in UTC with no facility_timezone: the other days it may be at the clinic
    # (fields.utc_other_days); a match on one of them is a guess the run says it made.
    other_days: tuple[date, ...] = ()


@value
class MedicationFact:
    """A MedicationRequest or MedicationStatement of B12, or a request or administration of a
    drug B12 premedicates (``drug``: "b12", "pemetrexed", "pralatrexate")."""

    ref: str
    patient: str | None
    kind: str  # the resource type
    drug: str
    status: str | None
    day: date | None  # authoredOn / effective / dateAsserted
    self_administered: bool = False


@value
class ProcedureFact:
    """A Procedure recording an intramuscular or subcutaneous injection (CPT 96372, ...)."""

    ref: str
    patient: str | None
    status: str | None
    day: date | None
    encounter: str | None


@value
class PatientFact:
    ref: str
    gender: str | None
    birth_date: date | None


@value
class Linked(Generic[T]):
    """A fact plus the path that found it."""

    fact: T
    path: Path


@value
class NoteFact:
    """A clinical note as the source holds it (SPEC 4.2): a DocumentReference, a Composition
    or a note-type DiagnosticReport. Its words are read (``NoteReading``) only for a B12
    date that needs them."""

    ref: str
    patient: str | None
    kind: str  # the note's type as written ("Progress note"), for messages
    day: date | None  # the clinic's day of its clinical time
    encounters: tuple[str, ...]
    status: str | None
    text: str | None = None  # None: unreadable (``problem``) or waiting for its Binary
    content_type: str = ""
    problem: str | None = None  # why it cannot be read
    binary: str | None = None  # the Binary its text is in, until the chart resolves it
    replaces: tuple[str, ...] = ()  # relatesTo code "replaces" targets
    # Stamped in UTC with no facility_timezone: the other days it may be at the clinic
    # (fields.utc_other_days), as for an administration
    other_days: tuple[date, ...] = ()
    # Its clinical time names no day (``2026-06``): why it is no day's note
    undated: str | None = None
    # Its only time is when it was written (DocumentReference.date, no context.period): a
    # note that replaces another documents the replaced one's visit
    written_only: bool = False


@value
class Mention:
    """A term of the terms table met in a note, with its ConText context."""

    code: str  # an ICD-10-CM code, "symptom" or "loading"
    term: str  # the words as written
    context: str  # affirmed | negated | historical | uncertain | family | hypothetical
    sentence: str  # the sentence (<= 200 characters), the mention marked [[like this]]
    section: str = ""  # the heading it sat under ("" when the note was read whole)

    @property
    def stated(self) -> bool:
        """Current and affirmed: a statement of the code."""
        return self.context == "affirmed"


@value
class NoteReading:
    """What one note of a B12 date says."""

    note: str  # DocumentReference/x, Composition/y, DiagnosticReport/z
    kind: str
    day: date | None
    readable: bool
    problem: str | None = None
    content_type: str = ""
    mentions: tuple[Mention, ...] = ()


@value
class DayNotes:
    """The notes of one B12 date (by the item's encounter, else by the clinic's day)."""

    day: date
    notes: tuple[NoteReading, ...] = ()
    # matched only by guessing the clinic's day of a UTC timestamp (no facility_timezone)
    guessed: bool = False
    # no note that day, and the patient's notes name no day: why (``NoteFact.undated``)
    undated: tuple[str, ...] = ()

    @property
    def readable(self) -> tuple[NoteReading, ...]:
        return tuple(n for n in self.notes if n.readable)

    @property
    def loading_phase(self) -> bool:
        """The day's note states a loading or acute phase ("loading dose", "initial
        treatment", "acute phase"), affirmed and current: for payer frequency policies."""
        return any(m.code == "loading" and m.stated for n in self.notes for m in n.mentions)


@value
class NoteEvidence:
    """The claim's notes: whether the source holds any note of the patient at all, and the
    notes of each B12 date."""

    held: bool = False
    days: tuple[DayNotes, ...] = ()

    def on(self, day: date) -> DayNotes | None:
        return next((d for d in self.days if d.day == day), None)


@value
class ClaimEvidence:
    """Everything the rules know about one claim, gathered once."""

    claim: ClaimFacts
    patient: PatientFact | None
    conditions: tuple[Linked[ConditionFact], ...] = ()
    labs: tuple[Linked[LabFact], ...] = ()
    administrations: tuple[Linked[AdministrationFact], ...] = ()
    medications: tuple[MedicationFact, ...] = ()
    procedures: tuple[ProcedureFact, ...] = ()
    problems: tuple[BadResource, ...] = field(default=())
    # the ICD-10-CM release(s) in force on the claim's earliest B12 date (SPEC 4.3); the
    # evidence step sets it (``adapter.rules.policy.code_set`` refuses evidence without it)
    code_set: InForce | None = None
    # Payer policies (SPEC 4.4). The payers that may decide the claim's policy, in the order
    # they are tried: the insurer, then the focal Coverage's payors (each with the keys of
    # its Organization when the chart holds it).
    payers: tuple[Party, ...] = ()
    # (claim, date) of each date the patient's other claims bill B12 on (active claims for
    # services given), by date: with the completed injectable administrations, the injection
    # history a payer's frequency limit counts (each date once), and the claims it names.
    billed: tuple[tuple[str, date], ...] = ()
    # Days whose clinician's note states an acute or loading phase ("loading dose", "initial
    # treatment", "acute phase"): no frequency finding on them. Read with ConText ("no acute
    # distress" is none) from the notes below: ``DayNotes.loading_phase`` of each date.
    loading_stated: frozenset[date] = frozenset()
    # The clinician's notes of the B12 dates (SPEC 4.2)
    notes: NoteEvidence = NoteEvidence()
