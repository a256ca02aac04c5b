"""lab-missing, lab-not-low, anemia-not-supported: do the labs back the diagnosis?"""

from __future__ import annotations

from fixtures import builders as b
from tests.scenario import clean_chart, codes, finding, replace, without

# lab-missing

def test_lab_missing_fires_without_any_b12_status_lab():
    resources = without(clean_chart(supporting=("Condition/c1",)), "Observation", "o1")
    f = finding(resources, "lab-missing")
    assert (f.severity, f.diagnosis) == ("moderate", "E53.8")


def test_lab_missing_366_days_before_fires_364_does_not():
    old = b.lab("o1", "p1", "b12", 150, "pg/mL", "2025-03-01")  # 366 days before 2026-03-02
    recent = b.lab("o1", "p1", "b12", 150, "pg/mL", "2025-03-03")  # 364 days before
    assert "lab-missing" in codes(*replace(clean_chart(), old))
    assert "lab-missing" not in codes(*replace(clean_chart(), recent))


def test_lab_after_the_service_date_does_not_count():
    later = b.lab("o1", "p1", "b12", 150, "pg/mL", "2026-03-05")
    assert "lab-missing" in codes(*replace(clean_chart(), later))


def test_lab_missing_does_not_fire_with_a_current_lifelong_cause():
    no_lab = without(clean_chart(supporting=("Condition/c1",)), "Observation", "o1")
    for cause in ("Z98.84", "Z90.3", "K91.2", "K50.00", "K50.812"):
        resources = [*no_lab, b.condition("c9", "p1", icd=cause)]
        assert "lab-missing" not in codes(*resources), cause
    pernicious = [*no_lab, b.condition("c9", "p1", snomed="84027009")]
    assert "lab-missing" not in codes(*pernicious)


def test_lab_missing_fires_when_the_lifelong_cause_is_resolved_or_not_lifelong():
    no_lab = without(clean_chart(supporting=("Condition/c1",)), "Observation", "o1")
    resolved = b.condition("c9", "p1", icd="Z98.84", clinical="inactive")
    assert "lab-missing" in codes(*no_lab, resolved)
    assert "lab-missing" in codes(*no_lab, b.condition("c9", "p1", icd="K50.90"))


def test_non_final_lab_does_not_count():
    prelim = b.lab("o1", "p1", "b12", 150, "pg/mL", "2026-02-10", status="preliminary")
    assert "lab-missing" in codes(*replace(clean_chart(), prelim))
    amended = b.lab("o1", "p1", "b12", 150, "pg/mL", "2026-02-10", status="amended")
    assert "lab-missing" not in codes(*replace(clean_chart(), amended))


# lab-not-low

def test_lab_not_low_fires_for_201_pg_ml_and_not_for_199():
    high = b.lab("o1", "p1", "b12", 201, "pg/mL", "2026-02-10")
    low = b.lab("o1", "p1", "b12", 199, "pg/mL", "2026-02-10")
    f = finding(replace(clean_chart(), high), "lab-not-low")
    assert (f.severity, f.diagnosis, f.evidence) == ("moderate", "E53.8", ("Observation/o1",))
    assert "lab-not-low" not in codes(*replace(clean_chart(), low))


def test_lab_not_low_reads_pmol_per_litre():
    assert "lab-not-low" in codes(*replace(clean_chart(), b.lab(
        "o1", "p1", "b12-molar", 160, "pmol/L", "2026-02-10")))  # 217 pg/mL
    assert "lab-not-low" not in codes(*replace(clean_chart(), b.lab(
        "o1", "p1", "b12-molar", 140, "pmol/L", "2026-02-10")))  # 190 pg/mL


def test_lab_not_low_does_not_fire_with_high_mma_or_homocysteine():
    normal = replace(clean_chart(), b.lab("o1", "p1", "b12", 350, "pg/mL", "2026-02-10"))
    assert "lab-not-low" not in codes(*normal, b.lab("m1", "p1", "mma", 0.55, "umol/L",
                                                     "2026-02-10"))
    assert "lab-not-low" not in codes(*normal, b.lab("y1", "p1", "homocysteine", 19, "umol/L",
                                                     "2026-02-10"))
    assert "lab-not-low" in codes(*normal, b.lab("m1", "p1", "mma", 0.3, "umol/L", "2026-02-10"))


def test_lab_not_low_does_not_fire_when_b12_was_ever_low_before():
    normal = replace(clean_chart(), b.lab("o1", "p1", "b12", 350, "pg/mL", "2026-02-10"))
    old_low = b.lab("o0", "p1", "b12", 120, "pg/mL", "2023-05-01")
    assert "lab-not-low" not in codes(*normal, old_low)


def test_interpretation_low_counts_when_there_is_no_value():
    flagged = b.lab("o1", "p1", "b12", None, None, "2026-02-10", interpretation="L")
    assert codes(*replace(clean_chart(), flagged)) == set()
    normal_flag = b.lab("o1", "p1", "b12", None, None, "2026-02-10", interpretation="N")
    assert "lab-not-low" in codes(*replace(clean_chart(), normal_flag))


def test_lab_not_low_does_not_fire_with_a_lifelong_cause():
    normal = replace(clean_chart(), b.lab("o1", "p1", "b12", 350, "pg/mL", "2026-02-10"))
    assert "lab-not-low" not in codes(*normal, b.condition("c9", "p1", icd="Z90.3"))


def test_lab_threshold_is_configurable(tmp_path):
    from adapter.config import load_thresholds

    config = tmp_path / "b12.toml"
    config.write_text("b12_low_pg_ml = 140\n")
    resources = clean_chart()  # B12 150 pg/mL
    assert "lab-not-low" in codes(*resources, thresholds=load_thresholds(config))
    assert "lab-not-low" not in codes(*resources)


# anemia-not-supported

def _anemia(gender: str, hb: float, unit: str = "g/dL", birth: str = "1958-04-12"):
    resources = replace(clean_chart(dx="D51.9"), b.patient("p1", gender, birth))
    return replace(resources, b.lab("h1", "p1", "hemoglobin", hb, unit, "2026-02-10"))


def test_anemia_not_supported_fires_for_a_woman_with_hb_12_5():
    f = finding(_anemia("female", 12.5), "anemia-not-supported")
    assert (f.severity, f.diagnosis, f.evidence) == ("moderate", "D51.9", ("Observation/h1",))
    assert "12 g/dL" in f.message and "woman" in f.message


def test_anemia_not_supported_does_not_fire_for_a_man_with_hb_12_5():
    assert "anemia-not-supported" not in codes(*_anemia("male", 12.5))


def test_anemia_cutoff_for_unknown_sex_is_the_female_one():
    assert "anemia-not-supported" in codes(*_anemia("unknown", 12.5))
    assert "anemia-not-supported" not in codes(*_anemia("unknown", 11.9))


def test_anemia_cutoff_for_a_child_follows_age():
    assert "anemia-not-supported" in codes(*_anemia("male", 12.2, birth="2014-06-01"))  # 11 y
    assert "anemia-not-supported" not in codes(*_anemia("male", 11.4, birth="2014-06-01"))


def test_hemoglobin_in_g_per_l_and_mmol_per_l_is_converted():
    assert "anemia-not-supported" not in codes(*_anemia("female", 115, "g/L"))
    assert "anemia-not-supported" in codes(*_anemia("female", 125, "g/L"))
    assert "anemia-not-supported" not in codes(*_anemia("female", 7.0, "mmol/L"))  # 11.3 g/dL
    assert "anemia-not-supported" in codes(*_anemia("female", 8.0, "mmol/L"))  # 12.9 g/dL


def test_anemia_not_supported_fires_without_any_hemoglobin_or_outside_the_window():
    no_hb = without(clean_chart(dx="D51.9"), "Observation", "h1")
    assert "no result" in finding(no_hb, "anemia-not-supported").message
    old = b.lab("h1", "p1", "hemoglobin", 10.0, "g/dL", "2025-11-01")  # 121 days before
    assert "anemia-not-supported" in codes(*replace(clean_chart(dx="D51.9"), old))


def test_anemia_not_supported_does_not_fire_without_an_anemia_code():
    assert "anemia-not-supported" not in codes(*clean_chart())
