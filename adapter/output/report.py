"""The run's report: the JSON of SPEC section 5 (a contract: engines parse it) and its data.

``Report`` is a sink: it keeps every claim's outcome, in the order the claims were read.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from adapter.driver import Sink
from adapter.findings import Severity, Verdict
from adapter.outcomes import ClaimResult, PageOutcome, Problem


@dataclass(frozen=True, slots=True)
class Skipped:
    claim: str
    reason: str


@dataclass
class Report(Sink):
    claims: list[ClaimResult] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)

    def write(self, page: PageOutcome) -> None:
        for outcome in page.claims:
            if outcome.result is not None:
                self.claims.append(outcome.result)
            elif outcome.skipped is not None:
                self.skipped.append(Skipped(outcome.claim, outcome.skipped))
            self.errors.extend(outcome.problems)
        self.errors.extend(page.problems)

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
            "claims": [claim_dict(result) for result in self.claims],
            "skipped": [{"claim": s.claim, "reason": s.reason} for s in self.skipped],
            "errors": [{"resource": p.resource, "message": p.message} for p in self.errors],
            "summary": self.summary(),
        }

    def to_json(self, indent: int | None = 2) -> str:
        """Indented (two spaces) for people, or compact (no spaces) with ``indent=None``.
        orjson writes the bytes the json module would, ten times faster (json writes what
        orjson refuses: an integer past 64 bits)."""
        data = self.to_dict()
        try:
            return orjson.dumps(data, option=orjson.OPT_INDENT_2 if indent == 2 else 0).decode()
        except TypeError:  # orjson.JSONEncodeError
            pass
        separators = (",", ":") if indent is None else None
        return json.dumps(data, indent=indent, ensure_ascii=False, separators=separators)


def claim_dict(result: ClaimResult) -> dict[str, Any]:
    """One claim's entry of the JSON report."""
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



