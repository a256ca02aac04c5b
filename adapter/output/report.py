"""The run's results and the JSON report of SPEC section 5 (a contract: engines parse it)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from adapter.findings import Finding, Severity, Verdict, verdict


@dataclass(frozen=True, slots=True)
class ClaimResult:
    claim: str
    patient: str
    service_date: date
    findings: tuple[Finding, ...]
    version: str | None = None

    @property
    def verdict(self) -> Verdict:
        return verdict(self.findings)

    @property
    def versioned_claim(self) -> str:
        return f"{self.claim}/_history/{self.version}" if self.version else self.claim


@dataclass(frozen=True, slots=True)
class Skipped:
    claim: str
    reason: str


@dataclass(frozen=True, slots=True)
class Problem:
    """A resource (or a claim) that could not be fully processed, and why."""

    resource: str
    message: str


@dataclass
class Report:
    claims: list[ClaimResult] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        verdicts = Counter(result.verdict for result in self.claims)
        return {
            "checked": len(self.claims),
            "supported": verdicts[Verdict.SUPPORTED],
            "review": verdicts[Verdict.REVIEW],
            "unsupported": verdicts[Verdict.UNSUPPORTED],
            "skipped": len(self.skipped),
            "errors": len(self.errors),
        }

    def worst_severity(self) -> Severity | None:
        severities = [f.severity for r in self.claims for f in r.findings]
        return max(severities, key=lambda s: s.rank) if severities else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "claims": [_claim_dict(result) for result in self.claims],
            "skipped": [{"claim": s.claim, "reason": s.reason} for s in self.skipped],
            "errors": [{"resource": p.resource, "message": p.message} for p in self.errors],
            "summary": self.summary(),
        }

    def to_json(self, indent: int | None = 2) -> str:
        """Indented for people; ``indent=None`` is compact and several times faster to write."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)


def _claim_dict(result: ClaimResult) -> dict[str, Any]:
    return {
        "claim": result.claim,
        "patient": result.patient,
        "service_date": result.service_date.isoformat(),
        "verdict": result.verdict.value,
        "findings": [
            {
                "code": f.code,
                "severity": f.severity.value,
                "diagnosis": f.diagnosis,
                "message": f.message,
                "suggested_code": f.suggested_code,
                "evidence": list(f.evidence),
            }
            for f in result.findings
        ],
    }
