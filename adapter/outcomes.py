"""What checking produces: per claim a result, a skip or problems; per page, the lot.

Plain values handed from the checker to every sink (report, DetectedIssue files, server
write-back); nothing downstream reads another sink's state.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from adapter.findings import Finding, Verdict
from adapter.findings import verdict as verdict_of
from adapter.values import value

if TYPE_CHECKING:
    from adapter.evidence.facts import ClaimEvidence

class _NoNames(Mapping[str, str]):
    """The empty, read-only names of an outcome no sink asked names for; one object, which
    pickles as itself (worker processes send outcomes back pickled)."""

    def __getitem__(self, key: str) -> str:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __reduce__(self) -> str:
        return "NO_NAMES"


NO_NAMES: Mapping[str, str] = _NoNames()


@value
class Problem:
    """A resource (or a claim, or a request) that could not be fully processed, and why."""

    resource: str
    message: str


@value
class ClaimResult:
    claim: str
    patient: str
    service_date: date
    findings: tuple[Finding, ...]
    version: str | None = None
    code_set: str = ""  # the ICD-10-CM release(s) judged with (SPEC 4.3)
    code_set_needed: str | None = None  # the release in force, when it is not installed
    policy: str | None = None  # the payer policy the claim was judged by (SPEC 4.4)
    # an injection, lab or note matched only by guessing the clinic's day of a UTC timestamp
    # (SPEC 4.1 "Times")
    zone_guessed: bool = False
    verdict: Verdict = field(init=False, compare=False)  # of the findings, worked out once

    def __post_init__(self) -> None:
        object.__setattr__(self, "verdict", verdict_of(self.findings))  # frozen, once made

    @property
    def versioned_claim(self) -> str:
        return f"{self.claim}/_history/{self.version}" if self.version else self.claim


@value
class ClaimOutcome:
    """One claim: checked (``result``), skipped (``skipped`` says why), or neither when it
    could not be read (``problems`` say why). A checked claim may carry problems too: evidence
    that could not be used."""

    claim: str
    last_updated: str | None = None  # the claim's meta.lastUpdated, for a sync watermark
    result: ClaimResult | None = None
    skipped: str | None = None
    problems: tuple[Problem, ...] = ()
    # For sinks that show the chart behind a verdict (audit): the evidence the rules read,
    # and the names the chart keeps for the claim's patient and providers (by reference;
    # only when a sink asked for names). Other sinks ignore both and must not keep them.
    evidence: ClaimEvidence | None = field(default=None, compare=False, repr=False)
    names: Mapping[str, str] = field(default_factory=lambda: NO_NAMES, compare=False,
                                     repr=False)


@dataclass(frozen=True)
class PageOutcome:
    """A page of claims, checked against the records read for it."""

    claims: tuple[ClaimOutcome, ...]
    problems: tuple[Problem, ...] = ()  # records (and requests) that could not be read
    found: Mapping[str, list[dict[str, Any]]] = field(default_factory=dict)  # sinks' searches
    complete: bool = True  # False: the page's records could not be read; nothing was checked
    notes: tuple[str, ...] = ()  # what the run says once about itself (the report's "notes")

    @property
    def results(self) -> list[ClaimResult]:
        return [o.result for o in self.claims if o.result is not None]
