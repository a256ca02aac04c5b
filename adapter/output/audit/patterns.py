"""Coding patterns in a coder's words: a finding code, the code billed and the code suggested
-> one label ("deficiency with anemia documented, deficiency billed").

The table is data: the first rule whose finding code matches and whose code patterns
(``fnmatch``: ``D51.*``; None matches anything, even no code) match wins. A finding no rule
names gets its kind's title, so a new finding code shows up without a change here.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from adapter.findings import FINDING_KINDS, Finding


@dataclass(frozen=True, slots=True)
class PatternRule:
    code: str
    billed: str | None  # the finding's diagnosis
    suggested: str | None  # the finding's suggested code
    label: str


RULES: tuple[PatternRule, ...] = (
    PatternRule("specificity-loss", "E53.8", "D51.*",
                "Deficiency with anemia documented, deficiency billed"),
    PatternRule("specificity-loss", "D51.9", "D51.*",
                "Specific B12 anemia documented, unspecified anemia billed"),
    PatternRule("dx-more-specific-than-chart", "D51.*", "E53.8",
                "Deficiency without anemia documented, anemia billed"),
    PatternRule("dx-more-specific-than-chart", "D51.*", "D51.9",
                "Unspecified anemia documented, a specific anemia billed"),
    PatternRule("dx-drift", None, None,
                "Billed from the problem list, not from the day's assessment"),
    PatternRule("dx-not-current", None, None, "Resolved deficiency billed"),
    PatternRule("dx-not-documented", "K*", None, "Malabsorption cause billed, not charted"),
    PatternRule("dx-not-documented", "Z*", None, "Malabsorption cause billed, not charted"),
    PatternRule("dx-not-documented", None, None, "B12 diagnosis billed, not charted"),
    PatternRule("dx-unconfirmed", None, None, "Provisional diagnosis billed as confirmed"),
    PatternRule("dx-not-b12", None, None, "Folate (other B vitamin) deficiency billed as B12"),
    PatternRule("dx-no-indication", None, None, "Symptom billed, no B12 indication"),
    PatternRule("dx-invalid", None, None, "Invalid or non-billable ICD-10-CM code"),
    PatternRule("dx-derived", None, None, "Problem-list entry referenced, no code on the claim"),
    PatternRule("anemia-not-supported", None, None, "Anemia billed, no low hemoglobin"),
    PatternRule("lab-missing", None, None, "No B12 lab on file"),
    PatternRule("lab-not-low", None, None, "B12 labs on file are not low"),
    PatternRule("admin-missing", None, None, "Injection billed, none given that day"),
    PatternRule("admin-not-recorded", None, None, "Injection documented, MAR entry missing"),
    PatternRule("dose-units-mismatch", None, None, "Units billed differ from the dose given"),
    PatternRule("item-dx-link", None, None, "B12 line points at no indication"),
    PatternRule("manifestation-sequencing", None, None, "Manifestation listed before its cause"),
    PatternRule("cause-not-coded", None, None, "Malabsorption cause documented, not billed"),
    PatternRule("evidence-not-linked", None, None, "Claim does not reference its evidence"),
    PatternRule("premedication-timing", None, None,
                "Chemotherapy premedication dose off schedule"),
    PatternRule("dx-excludes1", None, None, "Two codes billed that ICD-10-CM bars together"),
    PatternRule("code-set-missing", None, None,
                "Judged without the ICD-10-CM release of the service date"),
    PatternRule("dx-not-covered", None, None, "Diagnosis not covered by the payer's policy"),
    PatternRule("frequency-exceeds-policy", None, None,
                "Injections more often than the payer pays"),
    # the clinician's note of the day (SPEC 4.2)
    PatternRule("note-missing", None, None, "Injection billed, no note for the visit"),
    PatternRule("note-unreadable", None, None, "The visit's note is a scan or unreadable"),
    PatternRule("note-symptom-only", None, None, "Note gives only a symptom (\"low energy\")"),
    PatternRule("note-history-only", None, None,
                "Note says history of deficiency, billed as current"),
    PatternRule("note-contradicts", None, None, "Note rules out the diagnosis billed"),
    PatternRule("note-uncertain", None, None, "Note says possible deficiency, billed as certain"),
    PatternRule("note-no-indication", None, None, "Note never gives the reason for the shot"),
    PatternRule("note-specificity-loss", "E53.8", "D51.*",
                "Note documents deficiency with anemia, deficiency billed"),
    PatternRule("note-specificity-loss", None, None, "Note documents a more specific code"),
    PatternRule("dx-more-specific-than-note", None, None,
                "Billed more specific than the note (from the problem list)"),
    PatternRule("dx-text-only", None, None, "Problem-list entry in free text, not coded"),
)


def _fits(pattern: str | None, code: str | None) -> bool:
    return pattern is None or (code is not None and fnmatchcase(code, pattern))


def pattern_label(finding: Finding) -> str:
    """The pattern a finding shows (see the module docstring)."""
    for rule in RULES:
        if (rule.code == finding.code and _fits(rule.billed, finding.diagnosis)
                and _fits(rule.suggested, finding.suggested_code)):
            return rule.label
    return FINDING_KINDS[finding.code].title


def code_pair(finding: Finding) -> str | None:
    """"E53.8 -> D51.0" (billed -> suggested), or the billed code alone, or None."""
    if finding.diagnosis and finding.suggested_code:
        return f"{finding.diagnosis} \u2192 {finding.suggested_code}"
    return finding.diagnosis
