"""The one list of record kinds: every resource type of a patient's record that a check reads.

Each row says how the type is keyed to a patient, how a server source fetches a page's worth
of it, which fact the chart makes of it, whether a claim may point at it directly and under
which CDS Hooks prefetch key it arrives. The chart, the server searches, the file scan, the
Subscription receiver, CDS Hooks discovery and the Spark job all read this table: a new kind
of record (a note, a Coverage) is one row here, plus its reader.
"""

from __future__ import annotations

from dataclasses import dataclass

# What the chart makes of a resource (``Chart.read``'s entry tags, shared with the Spark job).
CONDITION = "condition"
LAB = "lab"
USE = "use"  # a medication use, judged into an administration or another medication fact
PROCEDURE = "procedure"
DRUG = "drug"  # a Medication resource, for the uses that name it
PATIENT = "patient"
COVERAGE = "coverage"  # who pays a claim (SPEC 4.4): a Coverage and its payors
PAYER = "payer"  # an Organization, as the payer a Coverage or a claim's insurer names
NOTE = "note"  # a clinical note (SPEC 4.2): DocumentReference, Composition, DiagnosticReport
BODY = "binary"  # a Binary: the text a note's attachment url points at

# How a server source fetches a kind for a page of patients (``needs.record_searches``).
EVERY = "every"  # all of the patients' resources of the type
LABS = "labs"  # the mapped lab codes only
WITH_MEDICATION = "with-medication"  # with the Medication resources they name (_include)
INJECTIONS = "injections"  # the injection procedure codes only
BY_ID = "by-id"  # the patients themselves, by _id
WITH_PAYOR = "with-payor"  # with the Organizations that pay them (_include)
NOTES = "notes"  # the notes of the page's B12 dates (``date``, a day either side)
NOTE_REPORTS = "note-reports"  # the note-type DiagnosticReports of the page's B12 dates

# What a WITH_ search _includes: ``<type>:<name>`` (the CDS Hooks prefetch key of its own too)
INCLUDES = {WITH_MEDICATION: "medication", WITH_PAYOR: "payor"}


@dataclass(frozen=True)
class RecordKind:
    resource_type: str
    fact: str  # the chart's entry tag for it
    # The elements whose reference keys it to a patient; () when it is the Patient itself
    # (keyed by its own id) or belongs to no patient (a Medication, reached through a use).
    patient: tuple[str, ...]
    search: str | None  # how a server fetches it for a page's patients; None: not searched
    linked: bool = False  # a claim points at it: what a patient search missed is read by id
    prefetch: str | None = None  # its CDS Hooks prefetch key


RECORD_KINDS: tuple[RecordKind, ...] = (
    RecordKind("Condition", CONDITION, ("subject", "patient"), EVERY, linked=True,
               prefetch="conditions"),
    RecordKind("Observation", LAB, ("subject", "patient"), LABS, linked=True,
               prefetch="observations"),
    RecordKind("MedicationAdministration", USE, ("subject", "patient"), WITH_MEDICATION,
               prefetch="administrations"),
    RecordKind("MedicationRequest", USE, ("subject", "patient"), WITH_MEDICATION),
    RecordKind("MedicationStatement", USE, ("subject", "patient"), WITH_MEDICATION),
    RecordKind("Procedure", PROCEDURE, ("subject", "patient"), INJECTIONS),
    RecordKind("Patient", PATIENT, (), BY_ID, prefetch="patient"),
    RecordKind("Medication", DRUG, (), None),
    # Payer policies (SPEC 4.4): the claim's insurer, else its focal Coverage's payor; what
    # the page's Coverage search (and its _include) missed is read by id
    RecordKind("Coverage", COVERAGE, ("beneficiary",), WITH_PAYOR, linked=True,
               prefetch="coverage"),
    RecordKind("Organization", PAYER, (), None, linked=True),
    # Clinical notes (SPEC 4.2): read for the B12 dates only; the Binaries their attachments
    # point at are read by the server source in one more batch (adapter.sources.server)
    RecordKind("DocumentReference", NOTE, ("subject", "patient"), NOTES),
    RecordKind("Composition", NOTE, ("subject",), NOTES),
    RecordKind("DiagnosticReport", NOTE, ("subject",), NOTE_REPORTS),
    RecordKind("Binary", BODY, (), None),
)

BY_TYPE = {kind.resource_type: kind for kind in RECORD_KINDS}
CHART_TYPES = frozenset(BY_TYPE)
LINKED_TYPES = frozenset(k.resource_type for k in RECORD_KINDS if k.linked)
MEDICATION_USES = frozenset(k.resource_type for k in RECORD_KINDS if k.fact == USE)
# What a claim's reference must find in the source: not a note (a server reads only the
# notes of the page's dates) nor a Binary
REFERENCED_TYPES = frozenset(k.resource_type for k in RECORD_KINDS if k.fact not in (NOTE, BODY))
# A patient's own record, read only for that patient's claims: a file scan that knows the
# B12 claims' patients parses only theirs (and what a claim points at). Not Conditions: an
# administration's reasonReference may name another patient's, which is then an error to name.
CHART_OF_ONE = frozenset(k.resource_type for k in RECORD_KINDS
                         if k.fact in (LAB, USE, PROCEDURE))
# A change to one of these may change the verdict of its patient's claims.
PATIENT_TYPES = frozenset(k.resource_type for k in RECORD_KINDS
                          if k.patient or k.fact == PATIENT)
