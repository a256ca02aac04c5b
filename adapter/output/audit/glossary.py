"""The audit page's glossary: every finding code in a coder's words, because a page sent by
email has no README beside it. The words follow docs/checks.md's "What is checked" and "The
findings in a coder's words"; a code without words here shows its title only.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapter.findings import FINDING_KINDS, Severity

WORDS: dict[str, str] = {
    "dx-invalid":
        "A diagnosis on the claim is not a valid, billable ICD-10-CM code (a category such "
        "as D51 or E53, a misspelt code) or has no ICD-10-CM code at all. Code to the "
        "highest specificity.",
    "dx-no-indication":
        "None of the claim's diagnoses is a reason for B12 injections (deficiency, pernicious "
        "anemia, malabsorption and its causes). Add the indication the chart documents, or "
        "do not bill the injection.",
    "dx-not-documented":
        "The billed B12 diagnosis (or the cause given for the shots) is nowhere in the "
        "chart. Document it in the assessment, or bill what is documented.",
    "dx-more-specific-than-chart":
        "The claim is more specific than the chart (D51.0 pernicious anemia billed, the "
        "chart says D51.9 or E53.8). Code only what the clinician documented.",
    "dx-not-current":
        "The documenting problem had resolved before the visit. A problem resolved later "
        "still backs the visit.",
    "dx-unconfirmed":
        "The documenting problem is provisional, differential or refuted. Confirm the "
        "diagnosis before billing it.",
    "lab-missing":
        "No B12, MMA or homocysteine result in the lookback window before the first "
        "injection date. Order or attach the lab.",
    "lab-not-low":
        "The B12-status labs in the window do not show deficiency (a high homocysteine alone "
        "does not; it counts beside a borderline B12).",
    "anemia-not-supported":
        "Anemia due to B12 deficiency is billed and no hemoglobin on record was ever low. "
        "A low one years ago is enough; otherwise bill the deficiency without anemia.",
    "specificity-loss":
        "The chart documents a more specific B12 diagnosis than the one billed (e.g. "
        "deficiency anemia charted, E53.8 billed). Bill the suggested code.",
    "manifestation-sequencing":
        "A manifestation code is listed first, or billed without the underlying B12 "
        "diagnosis it must follow. Sequence the underlying code first.",
    "cause-not-coded":
        "The chart documents the cause of malabsorption (gastric bypass, celiac, Crohn's) "
        "and the claim does not code it. Add it as a secondary diagnosis.",
    "item-dx-link":
        "The B12 line's diagnosis pointer is empty or points at a diagnosis that is not an "
        "indication. Point the line at the B12 diagnosis.",
    "admin-missing":
        "No completed B12 injection is recorded on a billed date: a service not rendered "
        "(an oral tablet is not the injection J3420 bills). Every date billed needs its shot.",
    "dose-units-mismatch":
        "The J3420 units (1 unit = up to 1,000 mcg) do not match the dose given. Bill the "
        "units of the dose recorded.",
    "evidence-not-linked":
        "The claim references neither the Condition that documents its diagnosis nor a B12 "
        "lab; they were found in the chart. Attach them as supporting information.",
    "dx-derived":
        "The claim names a problem-list entry instead of an ICD-10-CM code; a payer reads "
        "only the code. Put the code on the claim.",
    "admin-not-recorded":
        "The shot is documented (injection procedure CPT 96372 and the B12 order) but the "
        "medication administration record is missing. Complete the MAR.",
    "premedication-timing":
        "B12 as premedication for pemetrexed or pralatrexate is covered whatever the "
        "diagnosis (LCD L33967), but this dose fits neither schedule.",
    "dx-not-b12":
        "E53.8 also covers folate, biotin and pantothenic acid deficiency; the chart's E53.8 "
        "says another vitamin. Document the B12 deficiency.",
    "dx-drift":
        "The claim was coded from an old problem-list entry while the day's assessment says "
        "another B12 diagnosis. Code what was assessed at the visit.",
    "dx-not-covered":
        "The chart may back the diagnosis, but the payer's policy does not pay for it (or "
        "only beside a second code, as Aetna reads E53.8 beside a neuropathy or a "
        "malabsorption cause). Check the payer's policy before billing.",
    "frequency-exceeds-policy":
        "The shot came sooner after the last one than the payer's policy allows for its "
        "phase (Medicare: maintenance once a month), and the note documents no loading or "
        "acute phase. Document the phase, or bill on schedule.",
    "note-missing":
        "The patient's record holds clinical notes, but none for the injection date. The "
        "visit's note is its documentation: write it, or attach it.",
    "note-symptom-only":
        "The day's note gives a symptom or a wellness reason (\"B12 shot for low energy\") "
        "and no B12 diagnosis. Fatigue alone does not support J3420.",
    "note-no-indication":
        "The day's note never says why the shot was given: no B12 deficiency, anemia or "
        "malabsorption cause stated as current.",
    "note-unreadable":
        "A note of the day is a scan, a PDF or an unreadable file; it was not read. Attach "
        "its text.",
    "note-history-only":
        "The note mentions B12 deficiency only as history (\"history of B12 deficiency\"). "
        "A past problem does not back today's shot: state the current diagnosis.",
    "note-contradicts":
        "The note rules the billed diagnosis out (\"B12 deficiency ruled out\"). Do not "
        "bill it.",
    "note-uncertain":
        "The note calls the diagnosis possible or suspected. Outpatient uncertain diagnoses "
        "are not coded (ICD-10-CM guidelines IV.H): code the symptom, or confirm it.",
    "note-specificity-loss":
        "The note states a more specific diagnosis (anemia due to B12 deficiency) than the "
        "billed code (E53.8). Bill the note's code.",
    "dx-more-specific-than-note":
        "The claim is more specific than the day's note (D51.0 billed, the note says B12 "
        "deficiency): the code came from elsewhere, such as the problem list.",
    "dx-text-only":
        "The problem-list entry is free text with no code. Code it in the chart.",
    "dx-excludes1":
        "Two diagnoses on the claim form an Excludes1 pair in the code set in force that "
        "day: they are never coded together. Keep the one the chart supports.",
    "code-set-missing":
        "The ICD-10-CM release in force on the date of service is not installed; the claim "
        "was judged with the releases around it. Install it (b12-adapter codes add).",
}


@dataclass(frozen=True)
class Entry:
    code: str
    severity: Severity
    title: str
    words: str  # "" when this table has none for the code


def entries() -> list[Entry]:
    """Every finding code, most serious first, then by code."""
    return [Entry(k.code, k.severity, k.title, WORDS.get(k.code, ""))
            for k in sorted(FINDING_KINDS.values(), key=lambda k: (-k.severity.rank, k.code))]
