"""dx-invalid, dx-no-indication, dx-not-documented, dx-more-specific-than-chart,
dx-not-current, dx-unconfirmed, specificity-loss, evidence-not-linked."""

from __future__ import annotations

from fixtures import builders as b
from tests.scenario import SERVICE, clean_chart, codes, finding, replace, result


def test_clean_chart_has_nofinding():
    assert codes(*clean_chart()) == set()
    assert result(*clean_chart()).verdict == "supported"


# dx-invalid

def test_dx_invalid_fires_for_a_category_code():
    f = finding(clean_chart(diagnoses=("E53.8", "D51")), "dx-invalid")
    assert (f.severity, f.diagnosis) == ("high", "D51")
    assert "category" in f.message


def test_dx_invalid_fires_for_a_code_below_a_leaf_and_for_garbage():
    assert "dx-invalid" in codes(*clean_chart(diagnoses=("E53.8", "D51.10")))
    f = finding(clean_chart(diagnoses=("E53.8", "XYZ")), "dx-invalid")
    assert f.diagnosis == "XYZ" and "not an ICD-10-CM code" in f.message


def test_dx_invalid_fires_for_a_diagnosis_without_icd10cm_coding():
    claim = b.claim("k1", "p1", SERVICE, supporting=("Condition/c1", "Observation/o1"))
    claim["diagnosis"].append({"sequence": 2, "diagnosisCodeableConcept": {
        "coding": [{"system": b.SNOMED, "code": "190634004"}]}})
    f = finding(replace(clean_chart(), claim), "dx-invalid")
    assert "no ICD-10-CM code" in f.message


def test_dx_invalid_does_not_fire_for_valid_leaf_codes_written_undotted():
    assert "dx-invalid" not in codes(*clean_chart(diagnoses=("E538",)))


# dx-no-indication

def test_dx_no_indication_fires_for_fatigue_only():
    f = finding(clean_chart(diagnoses=("R53.83",)), "dx-no-indication")
    assert f.severity == "high" and "R53.83" in f.message and "symptoms" in f.message


def test_dx_no_indication_does_not_fire_when_a_cause_is_claimed():
    resources = [*clean_chart(diagnoses=("K90.0",)), b.condition("c2", "p1", icd="K90.0")]
    assert "dx-no-indication" not in codes(*resources)


# dx-not-documented

def test_dx_not_documented_fires_when_the_chart_has_no_b12_diagnosis():
    resources = replace(clean_chart(), b.condition("c1", "p1", icd="I10"))
    f = finding(resources, "dx-not-documented")
    assert (f.severity, f.diagnosis) == ("high", "E53.8")


def test_dx_not_documented_does_not_fire_for_snomed_coded_problem_list():
    resources = replace(clean_chart(), b.condition("c1", "p1", snomed="190634004"))
    assert codes(*resources) == set()


def test_dx_not_documented_fires_for_a_different_anemia_of_the_same_specificity():
    resources = [*replace(clean_chart(dx="D51.0"), b.condition("c1", "p1", icd="D51.3"))]
    f = finding(resources, "dx-not-documented")
    assert "D51.3" in f.message and f.evidence == ("Condition/c1",)


# dx-more-specific-than-chart

def test_dx_more_specific_than_chart_suggests_the_charted_code():
    resources = replace(clean_chart(dx="D51.0"), b.condition("c1", "p1", icd="D51.9"))
    f = finding(resources, "dx-more-specific-than-chart")
    assert (f.severity, f.diagnosis, f.suggested_code) == ("high", "D51.0", "D51.9")
    assert f.evidence == ("Condition/c1",)


def test_dx_more_specific_than_chart_d51_9_billed_chart_e53_8():
    resources = replace(clean_chart(dx="D51.9"), b.condition("c1", "p1", icd="E53.8"))
    assert finding(resources, "dx-more-specific-than-chart").suggested_code == "E53.8"


def test_dx_more_specific_than_chart_does_not_fire_when_chart_matches():
    assert "dx-more-specific-than-chart" not in codes(*clean_chart(dx="D51.0"))


# dx-not-current

def test_dx_not_current_fires_for_a_resolved_condition():
    resources = replace(clean_chart(), b.condition("c1", "p1", icd="E53.8", clinical="resolved",
                                                   abatement="2025-12-01"))
    f = finding(resources, "dx-not-current")
    assert (f.severity, f.diagnosis, f.evidence) == ("high", "E53.8", ("Condition/c1",))
    assert "abated 2025-12-01" in f.message


def test_dx_not_current_abatement_on_the_service_date_fires_the_day_after_does_not():
    on_day = b.condition("c1", "p1", icd="E53.8", clinical=None, abatement=SERVICE)
    after = b.condition("c1", "p1", icd="E53.8", clinical=None, abatement="2026-03-03")
    assert "dx-not-current" in codes(*replace(clean_chart(), on_day))
    assert "dx-not-current" not in codes(*replace(clean_chart(), after))


def test_dx_not_current_fires_for_onset_after_the_service_date():
    resources = replace(clean_chart(), b.condition("c1", "p1", icd="E53.8", onset="2026-03-10"))
    assert "after the service date" in finding(resources, "dx-not-current").message


def test_dx_not_current_fires_for_a_history_code_only():
    resources = replace(clean_chart(dx="D51.9"), b.condition("c1", "p1", icd="Z86.2"))
    f = finding(resources, "dx-not-current")
    assert "history" in f.message
    assert "dx-not-documented" not in codes(*resources)


def test_dx_not_current_does_not_fire_for_recurrence_or_inactive_status_absent():
    for status in ("recurrence", "relapse", None):
        condition = b.condition("c1", "p1", icd="E53.8", clinical=status)
        assert "dx-not-current" not in codes(*replace(clean_chart(), condition)), status


def test_refuted_and_entered_in_error_conditions_do_not_count_at_all():
    for status in ("refuted", "entered-in-error"):
        condition = b.condition("c1", "p1", icd="E53.8", verification=status)
        assert "dx-not-documented" in codes(*replace(clean_chart(), condition)), status


# dx-unconfirmed

def test_dx_unconfirmed_fires_for_provisional_and_differential():
    for status in ("provisional", "differential", "unconfirmed"):
        resources = replace(clean_chart(), b.condition("c1", "p1", icd="E53.8",
                                                       verification=status))
        f = finding(resources, "dx-unconfirmed")
        assert (f.severity, f.diagnosis) == ("moderate", "E53.8") and status in f.message


def test_dx_unconfirmed_does_not_fire_when_one_documenting_condition_is_confirmed():
    resources = [*replace(clean_chart(), b.condition("c1", "p1", icd="E53.8",
                                                     verification="provisional")),
                 b.condition("c2", "p1", icd="E53.8")]
    assert "dx-unconfirmed" not in codes(*resources)


# specificity-loss

def test_specificity_loss_e53_8_billed_chart_pernicious_anemia():
    resources = replace(clean_chart(), b.condition("c1", "p1", icd="D51.0"))
    f = finding(resources, "specificity-loss")
    assert (f.severity, f.diagnosis, f.suggested_code) == ("moderate", "E53.8", "D51.0")
    assert f.evidence == ("Condition/c1",)
    assert result(*resources).verdict == "review"


def test_specificity_loss_does_not_fire_for_an_unconfirmed_higher_code():
    resources = [*clean_chart(), b.condition("c2", "p1", icd="D51.0", verification="provisional")]
    assert "specificity-loss" not in codes(*resources)


def test_specificity_loss_does_not_fire_when_the_claim_also_codes_the_higher_code():
    resources = [*clean_chart(diagnoses=("D51.0", "E53.8")),
                 b.condition("c2", "p1", icd="D51.0"),
                 b.lab("h1", "p1", "hemoglobin", 10.0, "g/dL", "2026-02-10")]
    assert "specificity-loss" not in codes(*resources)


# evidence-not-linked

def test_evidence_not_linked_fires_when_the_claim_references_nothing():
    f = finding(clean_chart(supporting=()), "evidence-not-linked")
    assert (f.severity, f.diagnosis, f.evidence) == ("low", "E53.8", ("Condition/c1",))
    assert result(*clean_chart(supporting=())).verdict == "supported"


def test_evidence_not_linked_does_not_fire_when_a_b12_lab_alone_is_referenced():
    assert "evidence-not-linked" not in codes(*clean_chart(supporting=("Observation/o1",)))


def test_evidence_not_linked_does_not_fire_with_diagnosis_reference():
    resources = clean_chart(diagnoses=("Condition/c1",), supporting=())
    assert codes(*resources) == set()
