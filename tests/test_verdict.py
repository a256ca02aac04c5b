"""Verdict per claim from its findings' severities (SPEC section 4)."""

from __future__ import annotations

import pytest

from adapter.findings import FINDING_KINDS, Finding, Severity, Verdict, verdict
from fixtures import builders as b
from tests.scenario import clean_chart, result, without

# The severity column of the table in SPEC section 4, and the codes of section 4.1.
SPEC_SEVERITIES = {
    "dx-invalid": "high",
    "dx-no-indication": "high",
    "dx-not-documented": "high",
    "dx-more-specific-than-chart": "high",
    "dx-not-current": "high",
    "dx-unconfirmed": "moderate",
    "lab-missing": "moderate",
    "lab-not-low": "moderate",
    "anemia-not-supported": "moderate",
    "specificity-loss": "moderate",
    "manifestation-sequencing": "moderate",
    "cause-not-coded": "low",
    "item-dx-link": "moderate",
    "admin-missing": "high",
    "dose-units-mismatch": "moderate",
    "evidence-not-linked": "low",
    "dx-derived": "low",
    "admin-not-recorded": "moderate",
    "premedication-timing": "moderate",
    "dx-not-b12": "moderate",
    "dx-drift": "moderate",
    "dx-excludes1": "moderate",  # section 4.3
    "code-set-missing": "low",
    "dx-not-covered": "high",  # SPEC 4.4
    "frequency-exceeds-policy": "moderate",
    # section 4.2, the clinician's note (and 4.1's free-text Conditions)
    "note-missing": "moderate",
    "note-symptom-only": "moderate",
    "note-no-indication": "moderate",
    "note-unreadable": "low",
    "note-history-only": "moderate",
    "note-contradicts": "high",
    "note-uncertain": "moderate",
    "note-specificity-loss": "moderate",
    "dx-more-specific-than-note": "moderate",
    "dx-text-only": "low",
}

HIGH = Finding("admin-missing", "no injection")
MODERATE = Finding("lab-not-low", "B12 normal")
LOW = Finding("evidence-not-linked", "not linked")


def test_every_finding_code_has_the_severity_of_the_spec():
    assert {code: kind.severity.value for code, kind in FINDING_KINDS.items()} == \
        SPEC_SEVERITIES


@pytest.mark.parametrize("code, severity", sorted(SPEC_SEVERITIES.items()))
def test_a_finding_takes_its_severity_from_its_code(code, severity):
    assert Finding(code, "message").severity == Severity(severity)


def test_an_unknown_finding_code_is_refused():
    with pytest.raises(ValueError, match="unknown finding code"):
        Finding("dx-wrong", "message")


def test_no_finding_is_supported():
    assert verdict([]) == Verdict.SUPPORTED


def test_only_low_findings_are_supported():
    assert verdict([LOW, Finding("cause-not-coded", "K90.0")]) == Verdict.SUPPORTED


def test_a_moderate_finding_is_review():
    assert verdict([MODERATE]) == Verdict.REVIEW
    assert verdict([LOW, MODERATE]) == Verdict.REVIEW


def test_a_high_finding_is_unsupported_whatever_else():
    assert verdict([HIGH]) == Verdict.UNSUPPORTED
    assert verdict([LOW, MODERATE, HIGH]) == Verdict.UNSUPPORTED
    assert verdict([MODERATE, HIGH, LOW]) == Verdict.UNSUPPORTED


def test_verdicts_of_charts_follow_their_worst_finding():
    assert result(*clean_chart()).verdict == "supported"
    assert result(*clean_chart(supporting=())).verdict == "supported"  # evidence-not-linked
    assert result(*clean_chart(units=2)).verdict == "review"  # dose-units-mismatch
    assert result(*without(clean_chart(), "MedicationAdministration", "a1")).verdict == \
        "unsupported"


def test_the_report_summary_counts_verdicts():
    from tests.scenario import run

    resources = [*clean_chart(),
                 b.claim("k2", "p1", "2026-03-02", units=2,
                         supporting=("Condition/c1", "Observation/o1")),
                 b.claim("k3", "p1", "2026-02-01", supporting=("Condition/c1",))]
    summary = run(*resources).summary()
    assert (summary["checked"], summary["supported"], summary["review"],
            summary["unsupported"]) == (3, 1, 1, 1)
