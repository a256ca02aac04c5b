"""The audit's numbers and its sample, on built charts: what a compliance reviewer reads."""

from __future__ import annotations

from datetime import date

import pytest

from adapter.findings import FINDING_KINDS, Finding, Verdict
from adapter.output.audit.collect import NO_FACILITY, NO_PROVIDER, Period, SkippedClaim
from adapter.output.audit.patterns import RULES, pattern_label
from fixtures import builders as b
from tests.audit.scenario import audit, backed, rows

STAFF = (b.practitioner("d1", "Ana", "Ortiz", "Dr.", "MD"),
         b.practitioner("d2", "Ben", "Hale", suffix="DO"),
         b.location("l1", "Main Clinic"), b.organization("o1", "Riverside Family Medicine"))


def test_verdict_mix_findings_by_code_and_the_trend_by_month():
    result = audit(*backed("k1", "p1", "2026-03-02"),
                   *backed("k2", "p2", "2026-03-09", lab=None),
                   *backed("k3", "p3", "2026-02-02", given=False),
                   *backed("k4", "p4", "2026-02-16", lab=None, given=False))

    assert result.total.claims == 4
    assert result.total.verdicts == {Verdict.SUPPORTED: 1, Verdict.REVIEW: 1,
                                     Verdict.UNSUPPORTED: 2}
    assert result.total.findings == {"lab-missing": 2, "admin-missing": 2}
    assert [(month, t.claims, t.verdicts[Verdict.UNSUPPORTED]) for month, t in result.months] \
        == [("2026-02", 2, 2), ("2026-03", 2, 0)]


def test_findings_by_code_count_claims_not_findings():
    # a loading dose billed on two days, neither given: two admin-missing findings, one claim
    resources = backed("k1", "p1", "2026-03-02", given=False)
    resources[2] = b.claim("k1", "p1", "2026-03-02", more_dates=("2026-03-09",),
                           supporting=("Condition/k1-c", "Observation/k1-o"))
    result = audit(*resources)

    assert result.total.findings["admin-missing"] == 1
    assert [c.code for c in rows(result)[0].changes].count("admin-missing") == 2
    assert "J3420 \u00d71 on 2026-03-09" in rows(result)[0].lines


def test_providers_and_facilities_are_named_from_the_source():
    result = audit(*STAFF,
                   *backed("k1", "p1", "2026-03-02", practitioner="d1", facility="l1",
                           given=False),
                   *backed("k2", "p2", "2026-03-02", practitioner="d2", facility="l1"))

    providers = {who.label: (who.ref, t.claims) for who, t in result.providers}
    assert providers == {"Dr. Ana Ortiz MD": ("Practitioner/d1", 1),
                         "Ben Hale DO": ("Practitioner/d2", 1)}
    assert [(who.label, t.claims) for who, t in result.facilities] == [("Main Clinic", 2)]
    assert result.providers[0][0].label == "Dr. Ana Ortiz MD"  # the one with an unsupported claim


def test_without_the_resources_providers_show_as_references():
    result = audit(*backed("k1", "p1", "2026-03-02", practitioner="d1", facility="l1"))

    assert [who.label for who, _ in result.providers] == ["Practitioner/d1"]
    assert [who.label for who, _ in result.facilities] == ["Location/l1"]


def test_the_billing_provider_stands_in_when_no_practitioner_is_named():
    claims = backed("k1", "p1", "2026-03-02")
    claims[2] = b.staffed(claims[2], provider="Organization/o1")
    result = audit(*STAFF, *claims, *backed("k2", "p2", "2026-03-02"))

    assert sorted(who.label for who, _ in result.providers) == [
        NO_PROVIDER, "Riverside Family Medicine"]
    assert [who.label for who, _ in result.facilities] == [NO_FACILITY]


def test_providers_in_a_bundle_are_resolved_through_their_fullurls():
    claim_resources = backed("k1", "p1", "2026-03-02")
    claim = dict(claim_resources[2])
    claim["careTeam"] = [{"sequence": 1, "provider": {"reference": "urn:uuid:doc-1"}}]
    entries = [{"fullUrl": f"urn:uuid:{r['resourceType']}-{r['id']}", "resource": r}
               for r in [*claim_resources[:2], *claim_resources[3:], claim]]
    entries.append({"fullUrl": "urn:uuid:doc-1", "resource": STAFF[0]})
    result = audit({"resourceType": "Bundle", "type": "collection", "entry": entries})

    assert [(who.ref, who.label) for who, _ in result.providers] == [
        ("Practitioner/d1", "Dr. Ana Ortiz MD")]


def test_the_sample_holds_the_last_n_claims_of_each_provider_worst_first():
    result = audit(
        *STAFF,
        *backed("k2", "p2", "2026-02-02", practitioner="d1"),
        *backed("k5", "p5", "2026-03-02", practitioner="d1"),
        *backed("k3", "p3", "2026-02-09", practitioner="d1", lab=None),
        *backed("k4", "p4", "2026-02-16", practitioner="d1", given=False),
        *backed("k6", "p6", "2026-03-02", practitioner="d2", lab=None, given=False),
        *backed("k1", "p1", "2026-01-05", practitioner="d1", given=False),  # oldest: left out
        sample_size=4,
    )

    by_provider = {s.provider.label: [r.claim for r in s.rows] for s in result.sample}
    # unsupported first, then review, then supported, and the most recent first among equals
    assert by_provider == {"Dr. Ana Ortiz MD": ["Claim/k4", "Claim/k3", "Claim/k5", "Claim/k2"],
                           "Ben Hale DO": ["Claim/k6"]}
    assert [s.claims for s in result.sample] == [5, 1]


def test_among_unsupported_claims_more_serious_findings_come_first():
    result = audit(*backed("k1", "p1", "2026-03-02", given=False),
                   *backed("k2", "p2", "2026-02-02", given=False, lab=None))

    assert [r.claim for r in rows(result)] == ["Claim/k2", "Claim/k1"]


@pytest.mark.parametrize("period, kept", [
    (Period(), ["Claim/k1", "Claim/k2", "Claim/k3"]),
    (Period(date(2026, 2, 1), date(2026, 2, 28)), ["Claim/k2"]),
    (Period(date(2026, 2, 2), None), ["Claim/k2", "Claim/k3"]),  # the first day is in
    (Period(None, date(2026, 2, 2)), ["Claim/k1", "Claim/k2"]),  # so is the last
])
def test_the_period_is_on_the_service_date_both_ends_included(period, kept):
    result = audit(*backed("k1", "p1", "2026-01-15"), *backed("k2", "p2", "2026-02-02"),
                   *backed("k3", "p3", "2026-03-02"), period=period)

    assert sorted(r.claim for r in rows(result)) == kept
    assert result.total.claims == len(kept)
    assert result.outside == 3 - len(kept)


def test_a_period_that_ends_before_it_starts_is_refused():
    with pytest.raises(ValueError, match="after"):
        Period(date(2026, 3, 1), date(2026, 2, 1))


def test_a_sample_row_sets_the_assessment_line_beside_the_codes_billed_and_the_labs():
    pid = "p1"
    result = audit(
        b.patient(pid, "female", "1950-01-01"),
        b.condition("c-old", pid, icd="E53.8", onset="2023-01-01"),
        b.condition("c-today", pid, icd="D51.0", text="Pernicious anemia, on B12 shots",
                    category="encounter-diagnosis", recorded="2026-03-02", onset="2026-03-02"),
        b.condition("c-htn", pid, icd="I10"),
        b.lab("o1", pid, "b12-molar", 88, "pmol/L", "2026-01-10"),
        b.lab("o0", pid, "b12", 300, "pg/mL", "2025-12-01"),  # older of its kind: not shown
        b.lab("h1", pid, "hemoglobin", 10.6, "g/dL", "2026-02-20"),
        b.lab("late", pid, "b12", 400, "pg/mL", "2026-03-20"),  # after the service: not shown
        b.administration("a1", pid, "2026-03-02"),
        b.claim("k1", pid, "2026-03-02", supporting=("Condition/c-old", "Observation/o1")),
    )

    [row] = rows(result)
    assert [(c.code, c.suggested) for c in row.changes] == [
        ("dx-drift", None), ("specificity-loss", "D51.0")]
    assert [(x.code, x.title) for x in row.billed] == [
        ("E53.8", "Deficiency of other specified B group vitamins")]
    today, old = row.assessments  # the day's assessment first; hypertension is not shown
    assert (today.text, today.written, today.categories, today.day, today.day_kind) == (
        "Pernicious anemia, on B12 shots", True, ("encounter diagnosis",), date(2026, 3, 2),
        "recorded")
    assert (old.text, old.written, old.codes) == (
        "Deficiency of other specified B group vitamins", False, ("E53.8",))
    assert [(x.kind, x.value, x.unit, x.day, x.flag) for x in row.labs] == [
        ("B12", "119.2", "pg/mL", date(2026, 1, 10), "low"),  # 88 pmol/L, converted
        ("Hemoglobin", "10.6", "g/dL", date(2026, 2, 20), "low"),
    ]
    assert [(p.label, p.claims, p.pairs) for p in result.patterns] == [
        ("Billed from the problem list, not from the day's assessment", 1, (("E53.8", 1),)),
        ("Deficiency with anemia documented, deficiency billed", 1,
         (("E53.8 \u2192 D51.0", 1),))]


def test_an_unconfirmed_or_resolved_assessment_says_so():
    pid = "p1"
    result = audit(b.patient(pid), b.condition("c1", pid, icd="E53.8", verification="provisional"),
                   b.condition("c2", pid, icd="D51.9", clinical="resolved",
                               abatement="2025-01-01"),
                   b.lab("o1", pid, "b12", 150, "pg/mL", "2026-02-01"),
                   b.administration("a1", pid, "2026-03-02"),
                   b.claim("k1", pid, "2026-03-02", supporting=("Condition/c1", "Observation/o1")))

    status = {a.ref: a.status for a in rows(result)[0].assessments}
    assert status == {"Condition/c1": "provisional",
                      "Condition/c2": "not current on 2026-03-02 (resolved)"}


def test_patterns_count_claims_and_the_code_pairs_behind_them():
    def loss(kid: str, pid: str, charted: str) -> list[dict]:
        return [b.patient(pid), b.condition(f"{kid}-c", pid, icd=charted),
                b.lab(f"{kid}-o", pid, "b12", 150, "pg/mL", "2026-02-01"),
                b.lab(f"{kid}-h", pid, "hemoglobin", 9.9, "g/dL", "2026-02-01"),
                b.administration(f"{kid}-a", pid, "2026-03-02"),
                b.claim(kid, pid, "2026-03-02",
                        supporting=(f"Condition/{kid}-c", f"Observation/{kid}-o"))]

    result = audit(*loss("k1", "p1", "D51.0"), *loss("k2", "p2", "D51.0"),
                   *loss("k3", "p3", "D51.9"), *backed("k4", "p4", "2026-03-02", lab=None))

    top = result.patterns[0]
    assert (top.label, top.claims, top.codes) == (
        "Deficiency with anemia documented, deficiency billed", 3, ("specificity-loss",))
    assert top.pairs == (("E53.8 \u2192 D51.0", 2), ("E53.8 \u2192 D51.9", 1))
    assert top.examples == ("Claim/k1", "Claim/k2", "Claim/k3")
    assert [(p.label, p.claims) for p in result.patterns[1:]] == [("No B12 lab on file", 1)]


@pytest.mark.parametrize("finding, label", [
    (Finding("specificity-loss", "m", "D51.9", "D51.0"),
     "Specific B12 anemia documented, unspecified anemia billed"),
    (Finding("dx-more-specific-than-chart", "m", "D51.0", "E53.8"),
     "Deficiency without anemia documented, anemia billed"),
    (Finding("dx-not-documented", "m", "K90.0"), "Malabsorption cause billed, not charted"),
    (Finding("dx-not-documented", "m", "E53.8"), "B12 diagnosis billed, not charted"),
    # a same-rank disagreement has no rule of its own: the finding's title stands
    (Finding("dx-more-specific-than-chart", "m", "D51.0"),
     FINDING_KINDS["dx-more-specific-than-chart"].title),
])
def test_pattern_labels_come_from_code_billed_and_code_suggested(finding, label):
    assert pattern_label(finding) == label


def test_every_finding_code_has_a_pattern_in_a_coders_words():
    assert {rule.code for rule in RULES} == set(FINDING_KINDS)


def test_patient_names_are_kept_and_shown_only_when_asked_beside_the_reference():
    chart = [b.patient("p1", name=("Alma", "Abbott"), birth="1950-07-01"),
             *backed("k1", "p1", "2026-03-02")[1:]]

    hidden = rows(audit(*chart))[0]
    assert (hidden.patient, hidden.patient_name, hidden.birth_date) == ("Patient/p1", "", None)
    shown = rows(audit(*chart, show_names=True))[0]
    assert (shown.patient, shown.patient_name, shown.birth_date) == (
        "Patient/p1", "Alma Abbott", date(1950, 7, 1))


def test_skipped_claims_and_unreadable_resources_are_counted():
    result = audit(*backed("k1", "p1", "2026-03-02"),
                   b.claim("k2", "p1", "2026-03-02", status="cancelled"),
                   {**b.lab("bad", "p1", "b12", 150, "pg/mL", "2026-02-01"),
                    "valueQuantity": {"value": "low"}})

    assert (result.total.claims, result.skipped, result.error_count) == (1, 1, 1)
    assert result.errors[0].resource == "Observation/bad"
    assert result.skipped_claims == [SkippedClaim("Claim/k2", "claim status is cancelled")]


def test_an_empty_source_gives_an_empty_audit():
    result = audit(b.patient("p1"))

    assert (result.total.claims, result.sample, result.patterns, result.months) == (0, [], [], [])


# The page shows what the rules decided: the rules' own predicates, one source

@pytest.mark.parametrize("hemoglobin", [
    {"value": 12.0, "comparator": "<"},  # a bound at the cut-off (female: 12.0 g/dL)
    {"value": None, "interpretation": "L"},  # only a flag
], ids=["bound-at-cutoff", "interpretation-only"])
def test_a_hemoglobin_the_rules_count_as_low_is_flagged_low_on_the_page(hemoglobin):
    resources = backed("k1", "p1", "2026-03-02", dx="D51.9")
    resources = [r for r in resources if r.get("id") != "k1-h"]
    resources.append(b.lab("k1-h", "p1", "hemoglobin", hemoglobin["value"], "g/dL",
                           "2026-03-02", interpretation=hemoglobin.get("interpretation"),
                           comparator=hemoglobin.get("comparator")))
    row = rows(audit(*resources))[0]

    assert "anemia-not-supported" not in {c.code for c in row.changes}
    assert [lab.flag for lab in row.labs if lab.ref == "Observation/k1-h"] == ["low"]


@pytest.mark.parametrize("today_code, drift", [("E53.8", True), ("D51.9", False)])
def test_the_assessment_of_the_day_is_the_one_the_drift_rule_reads(today_code, drift):
    # onset on the service day, recorded later: the rule reads it as the day's assessment,
    # and the page shows it first (before the linked problem-list entry)
    resources = [*backed("k1", "p1", "2026-03-02", dx="D51.9"),
                 b.condition("k1-today", "p1", icd=today_code, onset="2026-03-02",
                             recorded="2026-03-05", category="encounter-diagnosis")]
    row = rows(audit(*resources))[0]

    assert ("dx-drift" in {c.code for c in row.changes}) is drift
    assert row.assessments[0].ref == "Condition/k1-today"
