"""lab-missing, lab-not-low, anemia-not-supported: do the labs back the diagnosis?"""

from __future__ import annotations

import pytest

from fixtures import builders as b
from tests import facts as f
from tests.scenario import clean_chart, codes, finding, replace, result, run, without

DRAWN = "2026-02-10"  # 20 days before the service date 2026-03-02


def _b12(value, unit="pg/mL", when=DRAWN, kind="b12", **kwargs):
    """The clean chart with its B12 lab Observation/o1 replaced."""
    return replace(clean_chart(), b.lab("o1", "p1", kind, value, unit, when, **kwargs))


def _no_lab():
    return without(clean_chart(supporting=("Condition/c1",)), "Observation", "o1")


# lab-missing

def test_lab_missing_fires_without_any_b12_status_lab():
    f = finding(_no_lab(), "lab-missing")
    assert (f.severity, f.diagnosis, f.suggested_code, f.evidence) == (
        "moderate", "E53.8", None, ())
    assert result(*_no_lab()).verdict == "review"


def test_lab_missing_fires_for_a_lab_366_days_before_the_service_date():
    assert "lab-missing" in codes(*_b12(150, when="2025-03-01"))


def test_lab_missing_does_not_fire_for_a_lab_364_days_before_the_service_date():
    assert "lab-missing" not in codes(*_b12(150, when="2025-03-03"))


def test_lab_missing_does_not_fire_for_a_lab_exactly_365_days_before():
    assert "lab-missing" not in codes(*_b12(150, when="2025-03-02"))


def test_lab_missing_fires_for_a_lab_after_the_service_date():
    assert "lab-missing" in codes(*_b12(150, when="2026-03-05"))


def test_lab_missing_does_not_fire_for_a_lab_on_the_service_date():
    assert "lab-missing" not in codes(*_b12(150, when="2026-03-02"))


@pytest.mark.parametrize("status", ["preliminary", "registered", "cancelled",
                                    "entered-in-error"])
def test_lab_missing_fires_when_the_only_lab_is_not_final(status):
    assert "lab-missing" in codes(*_b12(150, status=status))


@pytest.mark.parametrize("status", ["final", "amended", "corrected"])
def test_lab_missing_does_not_fire_for_final_amended_or_corrected_labs(status):
    assert "lab-missing" not in codes(*_b12(150, status=status))


def test_lab_missing_fires_for_a_lab_without_value_or_interpretation():
    assert "lab-missing" in codes(*_b12(None, unit=None))


def test_a_high_mma_alone_is_b12_evidence():
    resources = [*_no_lab(), b.lab("m1", "p1", "mma", 0.6, "umol/L", DRAWN)]
    assert codes(*resources) == set()


def test_a_high_homocysteine_alone_is_a_lab_but_does_not_show_b12_deficiency():
    resources = [*_no_lab(), b.lab("m1", "p1", "homocysteine", 20, "umol/L", DRAWN)]
    f = finding(resources, "lab-not-low")
    assert "homocysteine does not show B12 deficiency" in f.message and "400" in f.message
    assert "lab-missing" not in codes(*resources)


@pytest.mark.parametrize("b12, fires", [(350, False), (399, False), (400, True), (450, True)])
def test_a_high_homocysteine_counts_beside_a_b12_below_the_400_borderline(b12, fires):
    resources = [*_no_lab(), b.lab("m1", "p1", "homocysteine", 20, "umol/L", DRAWN),
                 b.lab("o2", "p1", "b12", b12, "pg/mL", DRAWN)]
    assert ("lab-not-low" in codes(*resources)) is fires


def test_lab_missing_fires_when_the_only_lab_is_glucose():
    resources = [*_no_lab(), b.lab("g1", "p1", "glucose", 90, "mg/dL", DRAWN)]
    assert "lab-missing" in codes(*resources)


@pytest.mark.parametrize("cause", ["Z98.84", "Z90.3", "K91.2", "K50.00", "K50.812", "D51.1",
                                   "K90.821", "K90.829"])  # K90.82-: SPEC 4.4
def test_lab_missing_does_not_fire_with_a_current_lifelong_cause(cause):
    assert "lab-missing" not in codes(*_no_lab(), b.condition("c9", "p1", icd=cause))


def test_lab_missing_does_not_fire_for_pernicious_anemia_from_snomed():
    assert "lab-missing" not in codes(*_no_lab(), b.condition("c9", "p1", snomed="84027009"))


def test_lab_missing_does_not_fire_for_a_claim_of_pernicious_anemia_documented_current():
    resources = without(clean_chart(dx="D51.0", supporting=("Condition/c1",)), "Observation",
                        "o1")
    assert codes(*resources) == set()


def test_lab_missing_fires_when_the_lifelong_cause_is_not_current():
    assert "lab-missing" in codes(*_no_lab(), b.condition("c9", "p1", icd="Z98.84",
                                                          clinical="inactive"))
    assert "lab-missing" in codes(*_no_lab(), b.condition("c9", "p1", icd="Z98.84",
                                                          onset="2026-04-01"))


@pytest.mark.parametrize("cause", ["K50.90", "K50.10", "K90.0", "K90.83", "B70.0"])
def test_lab_missing_fires_when_the_cause_is_not_lifelong(cause):
    assert "lab-missing" in codes(*_no_lab(), b.condition("c9", "p1", icd=cause))


def test_lab_missing_does_not_fire_without_a_claimed_b12_diagnosis():
    resources = [*_no_lab(), b.condition("c2", "p1", icd="K90.0")]
    claim = b.claim("k1", "p1", "2026-03-02", diagnoses=("K90.0",))
    assert "lab-missing" not in codes(*replace(resources, claim))


# lab-not-low

def test_lab_not_low_fires_for_b12_201_pg_ml():
    resources = _b12(201)
    f = finding(resources, "lab-not-low")
    assert (f.severity, f.diagnosis, f.suggested_code, f.evidence) == (
        "moderate", "E53.8", None, ("Observation/o1",))
    assert result(*resources).verdict == "review"


def test_lab_not_low_does_not_fire_for_b12_199_pg_ml():
    assert codes(*_b12(199)) == set()


def test_lab_not_low_fires_for_b12_exactly_200_pg_ml():
    assert "lab-not-low" in codes(*_b12(200))  # low means below 200


def test_lab_not_low_fires_for_b12_149_pmol_per_l_and_not_for_147():
    assert "lab-not-low" in codes(*_b12(149, "pmol/L", kind="b12-molar"))  # 202 pg/mL
    assert "lab-not-low" not in codes(*_b12(147, "pmol/L", kind="b12-molar"))  # 199 pg/mL


def test_lab_not_low_does_not_fire_for_interpretation_l_without_a_value():
    assert codes(*_b12(None, unit=None, interpretation="L")) == set()


@pytest.mark.parametrize("flag", ["LL", "A"])
def test_lab_not_low_does_not_fire_for_other_low_or_abnormal_flags(flag):
    assert "lab-not-low" not in codes(*_b12(None, unit=None, interpretation=flag))


def test_lab_not_low_fires_for_interpretation_n_without_a_value():
    assert "lab-not-low" in codes(*_b12(None, unit=None, interpretation="N"))


def test_lab_not_low_does_not_fire_for_a_high_mma_with_a_normal_b12():
    resources = [*_b12(350), b.lab("m1", "p1", "mma", 0.55, "umol/L", DRAWN)]
    assert codes(*resources) == set()


def test_lab_not_low_fires_for_a_normal_mma_with_a_normal_b12():
    resources = [*_b12(350), b.lab("m1", "p1", "mma", 0.3, "umol/L", DRAWN)]
    f = finding(resources, "lab-not-low")
    assert f.evidence == ("Observation/m1", "Observation/o1")


def test_lab_not_low_fires_for_mma_exactly_0_4():
    assert "lab-not-low" in codes(*_b12(350), b.lab("m1", "p1", "mma", 0.4, "umol/L", DRAWN))


def test_lab_not_low_does_not_fire_for_an_mma_flagged_h_without_a_value():
    resources = [*_b12(350), b.lab("m1", "p1", "mma", None, None, DRAWN, interpretation="H")]
    assert "lab-not-low" not in codes(*resources)


def test_lab_not_low_homocysteine_16_is_high_15_is_not():
    high = b.lab("y1", "p1", "homocysteine", 16, "umol/L", DRAWN)
    normal = b.lab("y1", "p1", "homocysteine", 15, "umol/L", DRAWN)
    assert "lab-not-low" not in codes(*_b12(350), high)
    assert "lab-not-low" in codes(*_b12(350), normal)


def test_lab_not_low_does_not_fire_when_b12_was_low_before_the_window():
    old_low = b.lab("o0", "p1", "b12", 120, "pg/mL", "2023-05-01")
    assert "lab-not-low" not in codes(*_b12(350), old_low)


def test_lab_not_low_evidence_is_the_results_in_the_window():
    old_normal = b.lab("o0", "p1", "b12", 420, "pg/mL", "2023-05-01")
    assert finding([*_b12(350), old_normal], "lab-not-low").evidence == ("Observation/o1",)


def test_lab_not_low_does_not_fire_with_a_current_lifelong_cause():
    assert "lab-not-low" not in codes(*_b12(350), b.condition("c9", "p1", icd="Z90.3"))


def test_lab_not_low_does_not_count_a_low_result_after_the_service_date():
    later_low = b.lab("o2", "p1", "b12", 120, "pg/mL", "2026-03-10")
    assert "lab-not-low" in codes(*_b12(350), later_low)


# anemia-not-supported

def _anemia(gender: str | None, hb: float | None, unit: str | None = "g/dL",
            birth: str = "1958-04-12", when: str = DRAWN, **kwargs):
    resources = replace(clean_chart(dx="D51.9"), b.patient("p1", gender, birth))
    return replace(resources, b.lab("h1", "p1", "hemoglobin", hb, unit, when, **kwargs))


def test_anemia_not_supported_fires_for_woman_with_hb_12_5():
    resources = _anemia("female", 12.5)
    f = finding(resources, "anemia-not-supported")
    assert (f.severity, f.diagnosis, f.suggested_code, f.evidence) == (
        "moderate", "D51.9", None, ("Observation/h1",))
    assert "12 g/dL" in f.message and "woman" in f.message
    assert result(*resources).verdict == "review"


def test_anemia_not_supported_does_not_fire_for_man_with_hb_12_5():
    assert codes(*_anemia("male", 12.5)) == set()


def test_anemia_not_supported_fires_for_man_with_hb_13_0():
    assert "man" in finding(_anemia("male", 13.0), "anemia-not-supported").message


def test_anemia_not_supported_does_not_fire_for_woman_with_hb_11_9():
    assert "anemia-not-supported" not in codes(*_anemia("female", 11.9))


def test_anemia_not_supported_fires_for_woman_with_hb_exactly_12_0():
    assert "anemia-not-supported" in codes(*_anemia("female", 12.0))


@pytest.mark.parametrize("gender", ["unknown", "other", None])
def test_anemia_cutoff_for_unknown_sex_is_the_female_one(gender):
    assert "anemia-not-supported" in codes(*_anemia(gender, 12.5))
    assert "anemia-not-supported" not in codes(*_anemia(gender, 11.9))


@pytest.mark.parametrize("written", ["Male", "MALE", " male", "male "])
def test_a_gender_written_in_another_case_is_read_as_its_code(written):
    report = run(*_anemia(written, 12.5))  # a man's 12.5 g/dL is below his 13.0 cut-off
    assert report.errors == []
    assert "anemia-not-supported" not in {f.code for f in report.claims[0].findings}


@pytest.mark.parametrize("written", ["M", "man", "", 5, ["male"]])
def test_a_gender_no_fhir_code_is_an_error_and_the_sex_unknown(written):
    resources = replace(_anemia("male", 12.5), {**b.patient("p1"), "gender": written})
    report = run(*resources)
    [error] = report.errors
    assert error.resource == "Patient/p1" and error.message.startswith("gender ")
    assert "female, male, other, unknown" in error.message
    [claim] = report.claims
    assert "unknown sex" in next(f for f in claim.findings
                                 if f.code == "anemia-not-supported").message


def test_anemia_cutoff_for_a_child_follows_age():
    # WHO cut-offs in mappings/thresholds.json: 11.5 g/dL at 5-11 years, 12.0 at 12-14
    assert "anemia-not-supported" in codes(*_anemia("male", 11.7, birth="2014-06-01"))  # 11 y
    assert "anemia-not-supported" not in codes(*_anemia("male", 11.4, birth="2014-06-01"))
    assert "anemia-not-supported" not in codes(*_anemia("male", 11.7, birth="2012-06-01"))


def test_anemia_not_supported_fires_without_any_hemoglobin():
    f = finding(without(clean_chart(dx="D51.9"), "Observation", "h1"), "anemia-not-supported")
    assert f.evidence == () and "no result" in f.message


def test_anemia_shown_years_ago_still_supports_a_treated_anemia():
    # treated pernicious anemia: the low hemoglobin is years old, today's is normal
    resources = [*_anemia("female", 9.1, when="2019-05-02"),
                 b.lab("h2", "p1", "hemoglobin", 13.4, "g/dL", "2026-02-20")]
    assert "anemia-not-supported" not in codes(*resources)


def test_anemia_not_supported_fires_when_only_normal_hemoglobins_were_ever_seen():
    resources = [*_anemia("female", 12.9, when="2019-05-02"),
                 b.lab("h2", "p1", "hemoglobin", 13.4, "g/dL", "2026-02-20")]
    f = finding(resources, "anemia-not-supported")
    assert f.evidence == ("Observation/h1", "Observation/h2")
    assert "on or before 2026-03-02" in f.message


def test_anemia_not_supported_fires_for_a_low_hemoglobin_after_the_service_date():
    assert "anemia-not-supported" in codes(*_anemia("female", 10.0, when="2026-03-03"))


def test_anemia_not_supported_does_not_fire_for_interpretation_l_without_a_value():
    assert codes(*_anemia("female", None, unit=None, interpretation="L")) == set()


def test_anemia_not_supported_does_not_fire_when_one_of_two_results_is_low():
    second = b.lab("h2", "p1", "hemoglobin", 13.5, "g/dL", "2026-02-20")
    assert "anemia-not-supported" not in codes(*_anemia("female", 11.0), second)


def test_anemia_not_supported_evidence_is_every_hemoglobin_in_the_window():
    second = b.lab("h2", "p1", "hemoglobin", 13.5, "g/dL", "2026-02-20")
    f = finding([*_anemia("female", 12.8), second], "anemia-not-supported")
    assert f.evidence == ("Observation/h1", "Observation/h2")


@pytest.mark.parametrize("anemia", ["D51.0", "D51.1", "D51.2", "D51.3", "D51.8", "D51.9"])
def test_anemia_not_supported_fires_for_every_d51_code(anemia):
    resources = without(clean_chart(dx=anemia), "Observation", "h1")
    assert finding(resources, "anemia-not-supported").diagnosis == anemia


def test_anemia_not_supported_does_not_fire_for_e53_8():
    assert "anemia-not-supported" not in codes(*clean_chart())


# The same family on plain facts, no FHIR JSON (tests/facts.py)



def test_on_facts_a_preliminary_b12_result_is_no_result():
    preliminary = f.lab("Observation/o1", "b12", 120, status="preliminary")
    ev = f.backed(f.claim(), f.condition(), labs=[preliminary])
    assert "lab-missing" in f.codes_of(ev)
    final = f.backed(f.claim(), f.condition(), labs=[f.lab("Observation/o1", "b12", 120)])
    assert "lab-missing" not in f.codes_of(final)


@pytest.mark.parametrize("value, fires", [(199.9, False), (200.0, True), (250.0, True)])
def test_on_facts_b12_is_low_strictly_below_200_pg_ml(value, fires):
    ev = f.backed(f.claim(), f.condition(), labs=[f.lab("Observation/o1", "b12", value)])
    assert ("lab-not-low" in f.codes_of(ev)) is fires


def test_on_facts_a_lifelong_cause_waives_the_lab():
    ev = f.backed(f.claim("E53.8", "Z98.84"), f.condition(),
                  f.condition("Condition/c2", {"Z98.84"}), labs=[])
    assert "lab-missing" not in f.codes_of(ev)
    assert "lab-missing" in f.codes_of(f.backed(f.claim(), f.condition(), labs=[]))
