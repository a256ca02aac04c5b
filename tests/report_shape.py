"""The JSON report contract of SPEC section 5, as a checker the tests share."""

from __future__ import annotations

from typing import Any

FINDING_KEYS = {"code", "severity", "diagnosis", "message", "suggested_code", "evidence"}
OPTIONAL_FINDING_KEYS = {"quote"}  # a note finding's sentence (SPEC 4.2)
CLAIM_KEYS = {"claim", "patient", "service_date", "code_set", "verdict", "policy", "findings"}
SUMMARY_KEYS = {"checked", "supported", "review", "unsupported", "skipped", "errors"}


def assert_report_shape(report: dict[str, Any]) -> None:
    """Exactly the keys and types SPEC section 5 shows; summary consistent with the lists."""
    assert set(report) - {"notes"} == {"claims", "skipped", "errors", "summary"}
    assert all(isinstance(note, str) for note in report.get("notes", ["-"]))
    for claim in report["claims"]:
        assert set(claim) == CLAIM_KEYS
        assert claim["verdict"] in {"supported", "review", "unsupported"}
        assert claim["claim"].startswith(("Claim/", "ExplanationOfBenefit/"))
        assert claim["patient"].startswith("Patient/")
        assert len(claim["service_date"]) == 10
        assert claim["code_set"].startswith("FY")
        for finding in claim["findings"]:
            assert FINDING_KEYS <= set(finding) <= FINDING_KEYS | OPTIONAL_FINDING_KEYS
            assert finding["severity"] in {"high", "moderate", "low"}
            assert isinstance(finding["message"], str) and finding["message"]
            assert isinstance(finding["evidence"], list)
    for skipped in report["skipped"]:
        assert set(skipped) == {"claim", "reason"}
    for error in report["errors"]:
        assert set(error) == {"resource", "message"}
    summary = report["summary"]
    assert set(summary) == SUMMARY_KEYS
    verdicts = [c["verdict"] for c in report["claims"]]
    assert summary["checked"] == len(report["claims"])
    for verdict in ("supported", "review", "unsupported"):
        assert summary[verdict] == verdicts.count(verdict)
    assert summary["skipped"] == len(report["skipped"])
    assert summary["errors"] == len(report["errors"])
