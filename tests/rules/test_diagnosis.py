"""dx-invalid, dx-no-indication, dx-not-documented, dx-more-specific-than-chart,
dx-not-current, dx-unconfirmed, specificity-loss, evidence-not-linked (SPEC section 4)."""

from __future__ import annotations

import pytest

from fixtures import builders as b
from tests import facts as f
from tests.scenario import SERVICE, clean_chart, codes, finding, replace, result, run

DAY_AFTER = "2026-03-03"


def _charted(claimed: str = "E53.8", **condition):
    """The clean chart for a claim of ``claimed``, with Condition/c1 as stated."""
    return replace(clean_chart(dx=claimed), b.condition("c1", "p1", **condition))


def _claim_with_extra_diagnosis(coding: dict[str, str]):
    claim = b.claim("k1", "p1", SERVICE, supporting=("Condition/c1", "Observation/o1"))
    claim["diagnosis"].append({"sequence": 2, "diagnosisCodeableConcept": {"coding": [coding]}})
    return replace(clean_chart(), claim)


def test_clean_chart_has_no_finding_and_is_supported():
    assert codes(*clean_chart()) == set()
    assert codes(*clean_chart(dx="D51.0")) == set()
    assert result(*clean_chart()).verdict == "supported"


# dx-invalid

def test_dx_invalid_fires_for_a_category_code():
    f = finding(clean_chart(diagnoses=("E53.8", "D51")), "dx-invalid")
    assert (f.severity, f.diagnosis, f.suggested_code, f.evidence) == ("high", "D51", None, ())
    assert "category" in f.message
    assert result(*clean_chart(diagnoses=("E53.8", "D51"))).verdict == "unsupported"


@pytest.mark.parametrize("code", ["E53", "D51.10", "D51.89", "G63.0"])
def test_dx_invalid_fires_for_non_billable_codes(code):
    f = finding(clean_chart(diagnoses=("E53.8", code)), "dx-invalid")
    assert (f.severity, f.diagnosis) == ("high", code)


def test_dx_invalid_fires_for_garbage():
    f = finding(clean_chart(diagnoses=("E53.8", "XYZ")), "dx-invalid")
    assert f.diagnosis == "XYZ" and "not an ICD-10-CM code" in f.message


def test_dx_invalid_fires_for_a_diagnosis_coded_only_in_snomed():
    f = finding(_claim_with_extra_diagnosis({"system": b.SNOMED, "code": "190634004"}),
                "dx-invalid")
    assert f.severity == "high" and "no ICD-10-CM code" in f.message


def test_dx_invalid_fires_for_a_diagnosis_coded_in_who_icd10_not_icd10cm():
    resources = _claim_with_extra_diagnosis({"system": "http://hl7.org/fhir/sid/icd-10",
                                             "code": "E53.8"})
    assert "no ICD-10-CM code" in finding(resources, "dx-invalid").message


def test_dx_invalid_fires_for_a_claim_without_any_diagnosis():
    f = finding(clean_chart(diagnoses=(), pointers=None), "dx-invalid")
    assert (f.severity, f.diagnosis) == ("high", None)


def test_dx_invalid_does_not_fire_for_a_leaf_written_undotted_or_lower_case():
    assert "dx-invalid" not in codes(*clean_chart(diagnoses=("E538",)))
    assert "dx-invalid" not in codes(*clean_chart(diagnoses=("e53.8",)))


def test_dx_invalid_does_not_fire_for_g63_a_category_without_children():
    assert "dx-invalid" not in codes(*clean_chart(diagnoses=("E53.8", "G63")))


def test_dx_invalid_does_not_fire_for_the_icd10cm_oid_system():
    claim = b.claim("k1", "p1", SERVICE, supporting=("Condition/c1", "Observation/o1"))
    claim["diagnosis"][0]["diagnosisCodeableConcept"]["coding"][0]["system"] = \
        "urn:oid:2.16.840.1.113883.6.90"
    assert codes(*replace(clean_chart(), claim)) == set()


# dx-no-indication

def test_dx_no_indication_fires_for_fatigue_only():
    f = finding(clean_chart(diagnoses=("R53.83",)), "dx-no-indication")
    assert (f.severity, f.diagnosis, f.evidence) == ("high", "R53.83", ())
    assert "symptoms" in f.message and "R53.83" in f.message


def test_dx_no_indication_fires_for_unrelated_codes_only():
    f = finding(clean_chart(diagnoses=("I10",)), "dx-no-indication")
    assert f.diagnosis == "I10" and "only I10" in f.message


def test_dx_no_indication_fires_for_a_history_code_only():
    assert "dx-no-indication" in codes(*clean_chart(diagnoses=("Z86.2",)))


def test_dx_no_indication_does_not_fire_when_fatigue_comes_with_a_b12_diagnosis():
    assert "dx-no-indication" not in codes(*clean_chart(diagnoses=("R53.83", "E53.8"),
                                                        pointers=(2,)))


@pytest.mark.parametrize("cause", ["K90.0", "K91.2", "K50.00", "Z90.3", "Z98.84", "K90.83",
                                   "B70.0"])
def test_dx_no_indication_does_not_fire_when_only_a_cause_is_claimed(cause):
    resources = [*clean_chart(diagnoses=(cause,)), b.condition("c2", "p1", icd=cause)]
    assert "dx-no-indication" not in codes(*resources)


# dx-not-documented

def test_dx_not_documented_fires_when_the_chart_has_no_b12_diagnosis():
    f = finding(_charted(icd="I10"), "dx-not-documented")
    assert (f.severity, f.diagnosis, f.suggested_code, f.evidence) == ("high", "E53.8", None, ())
    assert result(*_charted(icd="I10")).verdict == "unsupported"


def test_dx_not_documented_fires_for_a_snomed_concept_outside_the_map():
    assert "dx-not-documented" in codes(*_charted(snomed="38341003"))  # hypertension


def test_dx_not_documented_does_not_fire_for_a_snomed_coded_problem_list():
    assert codes(*_charted(snomed="190634004")) == set()


def test_dx_not_documented_does_not_fire_when_the_chart_documents_a_lower_code():
    assert "dx-not-documented" not in codes(*_charted("D51.0", icd="E53.8"))


@pytest.mark.parametrize("status", ["refuted", "entered-in-error"])
def test_dx_not_documented_fires_when_the_only_condition_is_refuted_or_in_error(status):
    f = finding(_charted(icd="E53.8", verification=status), "dx-not-documented")
    assert f.evidence == ()


def test_dx_not_documented_fires_for_a_sibling_anemia_of_the_same_rank():
    # SPEC is silent on siblings: D51.3 billed, the chart says D51.0 (neither above nor below)
    f = finding(_charted("D51.3", icd="D51.0"), "dx-not-documented")
    assert (f.diagnosis, f.evidence) == ("D51.3", ("Condition/c1",)) and "D51.0" in f.message


# dx-more-specific-than-chart

def test_dx_more_specific_than_chart_d51_0_billed_chart_d51_9_suggests_d51_9():
    resources = _charted("D51.0", icd="D51.9")
    f = finding(resources, "dx-more-specific-than-chart")
    assert (f.severity, f.diagnosis, f.suggested_code) == ("high", "D51.0", "D51.9")
    assert f.evidence == ("Condition/c1",)
    assert "specificity-loss" not in codes(*resources)


@pytest.mark.parametrize("claimed, charted", [("D51.9", "E53.8"), ("D51.0", "E53.8")])
def test_dx_more_specific_than_chart_suggests_the_charted_lower_code(claimed, charted):
    f = finding(_charted(claimed, icd=charted), "dx-more-specific-than-chart")
    assert (f.diagnosis, f.suggested_code, f.evidence) == (claimed, charted, ("Condition/c1",))


def test_dx_more_specific_than_chart_suggests_the_highest_charted_code():
    resources = [*_charted("D51.0", icd="E53.8"), b.condition("c2", "p1", icd="D51.9")]
    f = finding(resources, "dx-more-specific-than-chart")
    assert (f.suggested_code, f.evidence) == ("D51.9", ("Condition/c2",))


def test_dx_more_specific_than_chart_reads_a_snomed_problem_list():
    f = finding(_charted("D51.0", snomed="52675002"), "dx-more-specific-than-chart")
    assert f.suggested_code == "D51.9"


def test_dx_more_specific_than_chart_does_not_fire_when_the_chart_matches():
    assert "dx-more-specific-than-chart" not in codes(*clean_chart(dx="D51.0"))


def test_dx_more_specific_than_chart_does_not_fire_when_one_condition_matches():
    resources = [*clean_chart(dx="D51.0"), b.condition("c2", "p1", icd="D51.9")]
    assert "dx-more-specific-than-chart" not in codes(*resources)


# dx-not-current

def test_dx_not_current_fires_for_a_resolved_condition():
    resources = _charted(icd="E53.8", clinical="resolved", abatement="2025-12-01")
    f = finding(resources, "dx-not-current")
    assert (f.severity, f.diagnosis, f.evidence) == ("high", "E53.8", ("Condition/c1",))
    assert "abated 2025-12-01" in f.message
    assert result(*resources).verdict == "unsupported"


@pytest.mark.parametrize("status", ["inactive", "remission", "resolved"])
def test_dx_not_current_fires_for_an_inactive_status(status):
    f = finding(_charted(icd="E53.8", clinical=status), "dx-not-current")
    assert f.evidence == ("Condition/c1",) and status in f.message


def test_dx_not_current_does_not_fire_for_an_active_condition():
    assert "dx-not-current" not in codes(*_charted(icd="E53.8", clinical="active"))


@pytest.mark.parametrize("status", ["recurrence", "relapse", None])
def test_dx_not_current_does_not_fire_for_recurrence_relapse_or_no_status(status):
    assert "dx-not-current" not in codes(*_charted(icd="E53.8", clinical=status))


def test_dx_not_current_fires_for_abatement_on_the_service_date():
    f = finding(_charted(icd="E53.8", clinical=None, abatement=SERVICE), "dx-not-current")
    assert f"abated {SERVICE}" in f.message


def test_dx_not_current_does_not_fire_for_abatement_the_day_after():
    assert "dx-not-current" not in codes(*_charted(icd="E53.8", clinical=None,
                                                   abatement=DAY_AFTER))


def test_dx_not_current_fires_for_onset_after_the_service_date():
    f = finding(_charted(icd="E53.8", onset=DAY_AFTER), "dx-not-current")
    assert f.evidence == ("Condition/c1",) and "after the service date" in f.message


def test_dx_not_current_does_not_fire_for_onset_on_the_service_date():
    assert "dx-not-current" not in codes(*_charted(icd="E53.8", onset=SERVICE))


def _aged(onset: dict, birth: str | None = "1958-04-12"):
    """Condition/c1 with its onset as an age; the patient, born 1958-04-12, is 67 on the
    service date 2026-03-02 (68 on 2026-04-12)."""
    condition = b.condition("c1", "p1", icd="E53.8", onset=None)
    condition.update(onset)
    return replace(replace(clean_chart(), condition), b.patient("p1", birth=birth))


UCUM = "http://unitsofmeasure.org"


@pytest.mark.parametrize("onset", [
    {"onsetAge": {"value": 68, "unit": "years", "system": UCUM, "code": "a"}},
    {"onsetAge": {"value": 815, "unit": "months", "system": UCUM, "code": "mo"}},
    {"onsetRange": {"low": {"value": 68, "unit": "a"}, "high": {"value": 70, "unit": "a"}}},
])
def test_dx_not_current_fires_for_an_onset_age_the_patient_reaches_after_the_service_date(
        onset):
    f = finding(_aged(onset), "dx-not-current")
    assert f.evidence == ("Condition/c1",) and "after the service date" in f.message


@pytest.mark.parametrize("onset", [
    {"onsetAge": {"value": 67, "system": UCUM, "code": "a"}},
    {"onsetAge": {"value": 814, "system": UCUM, "code": "mo"}},
    {"onsetRange": {"low": {"value": 60, "unit": "a"}, "high": {"value": 70, "unit": "a"}}},
])
def test_dx_not_current_does_not_fire_for_an_onset_age_reached_by_the_service_date(onset):
    report = run(*_aged(onset))
    assert report.errors == [] and report.claims[0].findings == ()


def test_an_onset_age_without_a_birth_date_is_no_onset_date():
    report = run(*_aged({"onsetAge": {"value": 90, "code": "a"}}, birth=None))
    assert report.errors == [] and "dx-not-current" not in {
        f.code for f in report.claims[0].findings}


@pytest.mark.parametrize("age, problem", [
    ({"value": 68, "unit": "kg", "code": "kg"}, "onsetAge has no unit of time"),
    ({"value": -3, "code": "a"}, "onsetAge -3 a is not an age"),
    ({"value": "68", "code": "a"}, "onsetAge.value"),
])
def test_an_onset_age_that_cannot_be_read_is_an_error_naming_the_condition(age, problem):
    report = run(*_aged({"onsetAge": age}))
    assert [e.resource for e in report.errors] == ["Condition/c1"]
    assert problem in report.errors[0].message


def test_dx_not_current_fires_for_the_history_code_z86_2_only():
    resources = _charted("D51.9", icd="Z86.2")
    f = finding(resources, "dx-not-current")
    assert (f.diagnosis, f.evidence) == ("D51.9", ("Condition/c1",)) and "history" in f.message
    assert "dx-not-documented" not in codes(*resources)


def test_dx_not_current_fires_for_the_history_code_z86_39_and_e53_8():
    f = finding(_charted(icd="Z86.39"), "dx-not-current")
    assert f.diagnosis == "E53.8" and "Z86.39" in f.message


def test_dx_not_current_does_not_fire_for_a_history_code_of_another_disease():
    # Z86.2 is a history of blood diseases (D50-D89), not of E53.8
    found = codes(*_charted("E53.8", icd="Z86.2"))
    assert "dx-not-current" not in found and "dx-not-documented" in found


def test_dx_not_current_does_not_fire_when_a_second_condition_is_active():
    resources = [*_charted(icd="E53.8", clinical="resolved"), b.condition("c2", "p1", icd="E53.8")]
    assert "dx-not-current" not in codes(*resources)


# dx-unconfirmed

@pytest.mark.parametrize("status", ["unconfirmed", "provisional", "differential"])
def test_dx_unconfirmed_fires_for_an_unconfirmed_documenting_condition(status):
    resources = _charted(icd="E53.8", verification=status)
    f = finding(resources, "dx-unconfirmed")
    assert (f.severity, f.diagnosis, f.evidence) == ("moderate", "E53.8", ("Condition/c1",))
    assert status in f.message
    assert result(*resources).verdict == "review"


@pytest.mark.parametrize("status", ["confirmed", None])
def test_dx_unconfirmed_does_not_fire_for_confirmed_or_absent_verification(status):
    assert "dx-unconfirmed" not in codes(*_charted(icd="E53.8", verification=status))


def test_dx_unconfirmed_does_not_fire_when_one_documenting_condition_is_confirmed():
    resources = [*_charted(icd="E53.8", verification="provisional"),
                 b.condition("c2", "p1", icd="E53.8")]
    assert "dx-unconfirmed" not in codes(*resources)


# specificity-loss

def test_specificity_loss_e53_8_billed_chart_d51_0_suggests_d51_0():
    resources = _charted(icd="D51.0")
    f = finding(resources, "specificity-loss")
    assert (f.severity, f.diagnosis, f.suggested_code) == ("moderate", "E53.8", "D51.0")
    assert f.evidence == ("Condition/c1",)
    assert result(*resources).verdict == "review"


@pytest.mark.parametrize("claimed, charted", [("E53.8", "D51.9"), ("D51.9", "D51.0")])
def test_specificity_loss_suggests_the_charted_higher_code(claimed, charted):
    f = finding(_charted(claimed, icd=charted), "specificity-loss")
    assert (f.diagnosis, f.suggested_code, f.evidence) == (claimed, charted, ("Condition/c1",))


def test_specificity_loss_reads_pernicious_anemia_from_snomed():
    assert finding(_charted(snomed="84027009"), "specificity-loss").suggested_code == "D51.0"


def test_specificity_loss_does_not_fire_when_chart_and_claim_agree():
    assert "specificity-loss" not in codes(*_charted(icd="E53.8"))


def test_specificity_loss_does_not_fire_for_an_unconfirmed_higher_code():
    resources = [*clean_chart(), b.condition("c2", "p1", icd="D51.0", verification="provisional")]
    assert "specificity-loss" not in codes(*resources)


def test_specificity_loss_does_not_fire_for_a_resolved_higher_code():
    resources = [*clean_chart(), b.condition("c2", "p1", icd="D51.0", clinical="resolved")]
    assert "specificity-loss" not in codes(*resources)


def test_specificity_loss_does_not_fire_when_the_claim_also_codes_the_higher_code():
    resources = [*clean_chart(diagnoses=("D51.0", "E53.8")),
                 b.condition("c2", "p1", icd="D51.0"),
                 b.lab("h1", "p1", "hemoglobin", 10.0, "g/dL", "2026-02-10")]
    assert "specificity-loss" not in codes(*resources)


# evidence-not-linked

def test_evidence_not_linked_fires_when_the_claim_references_nothing():
    resources = clean_chart(supporting=())
    f = finding(resources, "evidence-not-linked")
    assert (f.severity, f.diagnosis, f.evidence) == ("low", "E53.8", ("Condition/c1",))
    assert f.path_of("Condition/c1") == "record"
    assert result(*resources).verdict == "supported"


def test_evidence_not_linked_fires_when_only_a_hemoglobin_is_referenced():
    # hemoglobin is not a B12-status lab
    resources = clean_chart(dx="D51.9", supporting=("Observation/h1",))
    assert finding(resources, "evidence-not-linked").evidence == ("Condition/c1",)


def test_evidence_not_linked_says_when_the_condition_was_reached_through_the_injection():
    # SPEC 3: the claim's encounter is the administration's context, which gives its reason;
    # the claim still points at nothing itself, and the message says how it was found
    claim = b.claim("k1", "p1", SERVICE, diagnoses=("E53.8",), encounter="e1", supporting=())
    given = b.administration("a1", "p1", SERVICE, context="Encounter/e1", reason="Condition/c1")
    resources = replace(replace(clean_chart(), claim), given)
    f = finding(resources, "evidence-not-linked")
    assert f.path_of("Condition/c1") == "linked"
    assert "reached only through the injection's record" in f.message
    assert "patient's record" not in f.message


def test_evidence_not_linked_does_not_fire_when_the_condition_is_in_supporting_info():
    assert "evidence-not-linked" not in codes(*clean_chart(supporting=("Condition/c1",)))


def test_evidence_not_linked_does_not_fire_when_a_b12_lab_alone_is_referenced():
    assert "evidence-not-linked" not in codes(*clean_chart(supporting=("Observation/o1",)))


def test_evidence_not_linked_does_not_fire_with_a_diagnosis_reference():
    # the claim carries no ICD-10-CM code itself: only the low dx-derived says so
    assert codes(*clean_chart(diagnoses=("Condition/c1",), supporting=())) == {"dx-derived"}


# The same family on plain facts, no FHIR JSON (tests/facts.py)



def test_on_facts_a_fully_backed_claim_has_no_finding():
    assert f.codes_of(f.backed(f.claim("D51.0", refs=("Condition/c1",)),
                               f.condition(codes={"D51.0"}))) == set()


@pytest.mark.parametrize("claimed, charted, code", [
    ("D51.0", "D51.9", "dx-more-specific-than-chart"),
    ("D51.9", "E53.8", "dx-more-specific-than-chart"),
    ("E53.8", "D51.0", "specificity-loss"),
    ("D51.9", "D51.0", "specificity-loss"),
])
def test_on_facts_the_ladder_decides_over_and_under_specified(claimed, charted, code):
    found = f.findings(f.backed(f.claim(claimed), f.condition(codes={charted})))
    [finding] = [x for x in found if x.code == code]
    assert (finding.diagnosis, finding.suggested_code) == (claimed, charted)


def test_on_facts_a_condition_abated_before_the_service_date_is_not_current():
    stale = f.condition(clinical="resolved", abatement=f.DAY.replace(year=2025))
    assert "dx-not-current" in f.codes_of(f.backed(f.claim("E53.8"), stale))
    assert "dx-not-current" not in f.codes_of(f.backed(f.claim("E53.8"), f.condition()))


def test_on_facts_a_provisional_condition_is_unconfirmed_and_a_refuted_one_is_nothing():
    assert "dx-unconfirmed" in f.codes_of(
        f.backed(f.claim(), f.condition(verification="provisional")))
    assert "dx-not-documented" in f.codes_of(
        f.backed(f.claim(), f.condition(verification="refuted")))


# dx-derived: a diagnosis given only by reference (SPEC 4.1)

def test_dx_derived_fires_for_a_diagnosis_given_only_as_a_reference():
    f = finding(clean_chart(diagnoses=("Condition/c1",), supporting=()), "dx-derived")
    assert (f.severity, f.diagnosis, f.evidence) == ("low", "E53.8", ("Condition/c1",))
    assert result(*clean_chart(diagnoses=("Condition/c1",))).verdict == "supported"


def test_dx_derived_does_not_fire_for_a_coded_diagnosis_that_also_references_its_condition():
    claim = b.claim("k1", "p1", SERVICE, supporting=("Observation/o1",))
    claim["diagnosis"][0]["diagnosisReference"] = {"reference": "Condition/c1"}
    assert codes(*replace(clean_chart(), claim)) == set()


# Causes need documenting too (SPEC 4.1)

def test_a_claim_coded_only_with_a_cause_and_no_chart_is_not_documented():
    resources = [b.patient("p1"), b.administration("a1", "p1", SERVICE),
                 b.claim("k1", "p1", SERVICE, diagnoses=("Z98.84",))]
    f = finding(resources, "dx-not-documented")
    assert f.diagnosis == "Z98.84" and "cause of B12 malabsorption" in f.message
    assert result(*resources).verdict == "unsupported"


@pytest.mark.parametrize("claimed, charted", [("Z98.84", "Z98.84"), ("K50.10", "K50.90"),
                                              ("K90.0", "K90.0")])
def test_a_claimed_cause_documented_in_its_family_is_documented(claimed, charted):
    resources = [*clean_chart(diagnoses=("E53.8", claimed)),
                 b.condition("c2", "p1", icd=charted)]
    assert "dx-not-documented" not in codes(*resources)


# Current at the service date: clinicalStatus describes now, not then (SPEC 4.1)

def test_a_condition_resolved_after_the_service_date_was_current_on_it():
    resources = _charted(icd="E53.8", clinical="resolved", abatement="2026-06-30")
    assert "dx-not-current" not in codes(*resources)


def test_a_condition_resolved_without_an_abatement_date_is_not_current():
    f = finding(_charted(icd="E53.8", clinical="resolved"), "dx-not-current")
    assert "resolved with no abatement date" in f.message


# dx-not-b12: E53.8 is shared with folate, biotin and pantothenic-acid deficiency

@pytest.mark.parametrize("text", ["Folate deficiency", "Folic acid deficiency",
                                  "Biotin deficiency", "Pantothenic acid deficiency"])
def test_dx_not_b12_fires_when_the_e53_8_condition_is_about_another_vitamin(text):
    f = finding(_charted(icd="E53.8", text=text), "dx-not-b12")
    assert (f.severity, f.diagnosis, f.evidence) == ("moderate", "E53.8", ("Condition/c1",))
    assert text in f.message


@pytest.mark.parametrize("condition", [
    {"icd": "E53.8", "text": "Vitamin B12 deficiency"},
    {"icd": "E53.8", "text": "Cobalamin deficiency, folate normal"},
    {"icd": "E53.8", "snomed": "190634004", "text": "Folate and B-vitamin deficiency"},
    {"icd": "E53.8"},  # says nothing either way
])
def test_dx_not_b12_does_not_fire_when_the_chart_says_b12_or_nothing_else(condition):
    assert "dx-not-b12" not in codes(*_charted(**condition))


def test_dx_not_b12_does_not_judge_an_anemia_claim():
    resources = [*clean_chart(dx="D51.9"), b.condition("c2", "p1", icd="E53.8", text="Folate")]
    assert "dx-not-b12" not in codes(*resources)


# dx-drift: the assessment of the day outranks an old problem-list entry

def _drifted(day_code: str, **encounter_dx):
    """Claim D51.0 backed by an old problem-list D51.0, plus the day's encounter diagnosis."""
    condition = {"onset": SERVICE, "category": "encounter-diagnosis", **encounter_dx}
    return [*clean_chart(dx="D51.0"), b.condition("c9", "p1", icd=day_code, **condition)]


def test_dx_drift_fires_when_the_days_assessment_documents_another_b12_code():
    f = finding(_drifted("E53.8"), "dx-drift")
    assert (f.severity, f.diagnosis, f.evidence) == ("moderate", "D51.0", ("Condition/c9",))
    assert "D51.0" in f.message and "E53.8" in f.message and SERVICE in f.message


def test_dx_drift_reads_the_assessment_on_the_claims_encounter():
    claim = b.claim("k1", "p1", SERVICE, diagnoses=("D51.0",), encounter="e1",
                    supporting=("Condition/c1", "Observation/o1"))
    resources = [*replace(_drifted("E53.8", onset="2026-01-05", encounter="e1"), claim)]
    assert "dx-drift" in codes(*resources)


@pytest.mark.parametrize("change", [
    {"day_code": "D51.0"},  # the day agrees with the claim
    {"day_code": "E53.8", "category": "problem-list-item"},  # not an assessment of the day
    {"day_code": "E53.8", "onset": "2026-01-05"},  # another day, another encounter
])
def test_dx_drift_does_not_fire_without_a_different_assessment_that_day(change):
    day_code = change.pop("day_code")
    assert "dx-drift" not in codes(*_drifted(day_code, **change))


def test_a_more_specific_assessment_of_the_day_is_drift_and_specificity_loss():
    # SPEC 4.1: "a different B12 code than the claim"; specificity-loss suggests the code
    resources = [*clean_chart(dx="E53.8"),
                 b.condition("c9", "p1", icd="D51.0", category="encounter-diagnosis",
                             onset=SERVICE),
                 b.lab("h1", "p1", "hemoglobin", 10.9, "g/dL", "2026-02-10")]
    found = codes(*resources)
    assert "specificity-loss" in found and "dx-drift" in found
