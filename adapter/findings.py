"""Findings, their severities and the claim verdict (SPEC section 4)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from adapter.values import value


class Severity(StrEnum):
    HIGH = "high"
    MODERATE = "moderate"
    LOW = "low"

    @property
    def rank(self) -> int:
        return {"high": 3, "moderate": 2, "low": 1}[self.value]


class Verdict(StrEnum):
    SUPPORTED = "supported"
    REVIEW = "review"
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True, slots=True)
class FindingKind:
    """What a finding code means; ``act_code`` is the v3 ActCode category for DetectedIssue."""

    code: str
    severity: Severity
    title: str
    act_code: str | None = None


_KINDS = (
    FindingKind(
        "dx-invalid", Severity.HIGH,
        "Claim diagnosis is not a valid billable ICD-10-CM code", "VALIDAT",
    ),
    FindingKind(
        "dx-no-indication", Severity.HIGH,
        "No claim diagnosis is an indication for B12 injections", "VALIDAT",
    ),
    FindingKind(
        "dx-not-documented", Severity.HIGH,
        "Claimed B12 diagnosis is not documented in the chart", "VALIDAT",
    ),
    FindingKind(
        "dx-more-specific-than-chart", Severity.HIGH,
        "Claimed diagnosis is more specific than the chart", "VALIDAT",
    ),
    FindingKind(
        "dx-not-current", Severity.HIGH,
        "Documenting Condition is not current at the service date", "VALIDAT",
    ),
    FindingKind(
        "dx-unconfirmed", Severity.MODERATE,
        "Documenting Condition is not confirmed", "VALIDAT",
    ),
    FindingKind(
        "lab-missing", Severity.MODERATE,
        "No B12-status lab in the lookback window", "VALIDAT",
    ),
    FindingKind(
        "lab-not-low", Severity.MODERATE,
        "B12-status labs do not show deficiency", "VALIDAT",
    ),
    FindingKind(
        "anemia-not-supported", Severity.MODERATE,
        "Anemia coded but no low hemoglobin", "VALIDAT",
    ),
    FindingKind(
        "specificity-loss", Severity.MODERATE,
        "Chart documents a more specific B12 diagnosis", "VALIDAT",
    ),
    FindingKind(
        "manifestation-sequencing", Severity.MODERATE,
        "Manifestation code sequenced without its underlying B12 diagnosis", "VALIDAT",
    ),
    FindingKind(
        "cause-not-coded", Severity.LOW,
        "Documented cause of B12 malabsorption not on the claim", "VALIDAT",
    ),
    FindingKind(
        "item-dx-link", Severity.MODERATE,
        "B12 item does not point at an indication", "VALIDAT",
    ),
    FindingKind(
        "admin-missing", Severity.HIGH,
        "No completed B12 administration on the service date", "VALIDAT",
    ),
    FindingKind(
        "dose-units-mismatch", Severity.MODERATE,
        "J3420 units do not match the dose given", "DOSE",
    ),
    FindingKind(
        "evidence-not-linked", Severity.LOW,
        "Claim does not reference its evidence", "VALIDAT",
    ),
    FindingKind(
        "dx-derived", Severity.LOW,
        "Claim diagnosis carries no ICD-10-CM code; taken from its Condition", "VALIDAT",
    ),
    FindingKind(
        "admin-not-recorded", Severity.MODERATE,
        "Injection documented by a procedure and an order, but no administration record",
        "VALIDAT",
    ),
    FindingKind(
        "premedication-timing", Severity.MODERATE,
        "B12 premedication date fits neither the pemetrexed nor the pralatrexate schedule",
        "VALIDAT",
    ),
    FindingKind(
        "dx-not-b12", Severity.MODERATE,
        "E53.8 documented for a deficiency other than B12", "VALIDAT",
    ),
    FindingKind(
        "dx-drift", Severity.MODERATE,
        "The day's assessment documents another B12 diagnosis than the claim", "VALIDAT",
    ),
    FindingKind(
        "dx-excludes1", Severity.MODERATE,
        "Two claim diagnoses form an ICD-10-CM Excludes1 pair", "VALIDAT",
    ),
    FindingKind(
        "code-set-missing", Severity.LOW,
        "The ICD-10-CM release in force on the date of service is not installed", "VALIDAT",
    ),
    FindingKind(
        "dx-not-covered", Severity.HIGH,
        "No claim diagnosis is covered by the payer's policy", "VALIDAT",
    ),
    FindingKind(
        "frequency-exceeds-policy", Severity.MODERATE,
        "Injection sooner than the payer's policy allows", "DOSEIVL",
    ),
    # The clinician's note of the day (SPEC 4.2)
    FindingKind(
        "note-missing", Severity.MODERATE,
        "No clinical note for the B12 date", "VALIDAT",
    ),
    FindingKind(
        "note-symptom-only", Severity.MODERATE,
        "The day's note gives only symptoms or a wellness reason", "VALIDAT",
    ),
    FindingKind(
        "note-no-indication", Severity.MODERATE,
        "The day's note states no reason for the B12 injection", "VALIDAT",
    ),
    FindingKind(
        "note-unreadable", Severity.LOW,
        "A note of the day cannot be read", "VALIDAT",
    ),
    FindingKind(
        "note-history-only", Severity.MODERATE,
        "The day's note mentions B12 deficiency only as history", "VALIDAT",
    ),
    FindingKind(
        "note-contradicts", Severity.HIGH,
        "The day's note negates the claimed B12 diagnosis", "VALIDAT",
    ),
    FindingKind(
        "note-uncertain", Severity.MODERATE,
        "The day's note calls the claimed diagnosis uncertain", "VALIDAT",
    ),
    FindingKind(
        "note-specificity-loss", Severity.MODERATE,
        "The day's note states a more specific B12 diagnosis than the claim", "VALIDAT",
    ),
    FindingKind(
        "dx-more-specific-than-note", Severity.MODERATE,
        "Claimed B12 diagnosis is more specific than the day's note", "VALIDAT",
    ),
    FindingKind(
        "dx-text-only", Severity.LOW,
        "The documenting problem-list entry is free text only", "VALIDAT",
    ),
)
FINDING_KINDS: dict[str, FindingKind] = {kind.code: kind for kind in _KINDS}


@value
class Finding:
    code: str
    message: str
    diagnosis: str | None = None
    suggested_code: str | None = None
    evidence: tuple[str, ...] = ()
    linked: frozenset[str] = frozenset()  # the evidence found through explicit links (SPEC 3)
    day: date | None = None  # the date of service it concerns, for findings judged per date
    # The note's sentence a note finding read, the mention marked [[...]] (SPEC 4.2): in the
    # report and the DetectedIssue, never in a log line; None with ``notes.quote = false``.
    quote: str | None = None

    def __post_init__(self) -> None:
        if self.code not in FINDING_KINDS:
            raise ValueError(f"unknown finding code {self.code!r}")

    @property
    def severity(self) -> Severity:
        return FINDING_KINDS[self.code].severity

    @property
    def kind(self) -> FindingKind:
        return FINDING_KINDS[self.code]

    def path_of(self, ref: str) -> str:
        """How a piece of this finding's evidence was found: "linked" or "record"."""
        return "linked" if ref in self.linked else "record"


def verdict(findings: Iterable[Finding]) -> Verdict:
    """``unsupported`` on any high finding, else ``review`` on any moderate, else ``supported``."""
    severities = {f.severity for f in findings}
    if Severity.HIGH in severities:
        return Verdict.UNSUPPORTED
    if Severity.MODERATE in severities:
        return Verdict.REVIEW
    return Verdict.SUPPORTED
