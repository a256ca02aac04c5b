"""admin-missing, dose-units-mismatch: was the injection given, and billed as given?"""

from __future__ import annotations

from fixtures import builders as b
from tests.scenario import SERVICE, clean_chart, codes, finding, replace, result, without


def _given(**kwargs):
    return replace(clean_chart(), b.administration("a1", "p1", kwargs.pop("when", SERVICE),
                                                   **kwargs))


# admin-missing

def test_admin_missing_fires_without_any_administration():
    f = finding(without(clean_chart(), "MedicationAdministration", "a1"), "admin-missing")
    assert f.severity == "high" and SERVICE in f.message
    assert result(*without(clean_chart(), "MedicationAdministration", "a1")).verdict == \
        "unsupported"


def test_admin_missing_fires_for_a_not_done_administration_or_another_day():
    f = finding(_given(status="not-done"), "admin-missing")
    assert f.evidence == ("MedicationAdministration/a1",)
    assert "admin-missing" in codes(*_given(when="2026-03-01"))


def test_admin_missing_fires_for_another_drug():
    assert "admin-missing" in codes(*_given(rxnorm="197361", text="amlodipine 5 MG"))


def test_admin_missing_does_not_fire_for_a_drug_named_only_in_text():
    assert "admin-missing" not in codes(*_given(rxnorm=None, text="Cyanocobalamin 1000 mcg/mL"))


def test_admin_missing_does_not_fire_for_hydroxocobalamin():
    assert "admin-missing" not in codes(*_given(rxnorm="317106"))


# dose-units-mismatch

def test_dose_units_mismatch_fires_for_1000_mcg_billed_as_2_units():
    f = finding(clean_chart(units=2), "dose-units-mismatch")
    assert f.severity == "moderate" and f.evidence == ("MedicationAdministration/a1",)
    assert "2 unit(s)" in f.message and "1000 mcg" in f.message


def test_2000_mcg_billed_as_2_units_matches():
    resources = replace(clean_chart(units=2), b.administration("a1", "p1", SERVICE, dose=2000))
    assert "dose-units-mismatch" not in codes(*resources)


def test_doses_in_mg_and_mcg_text_are_converted():
    assert "dose-units-mismatch" not in codes(*_given(dose=1, unit="mg"))
    assert "dose-units-mismatch" in codes(*_given(dose=1.5, unit="mg"))  # 1500 mcg = 2 units
    assert "dose-units-mismatch" not in codes(*_given(dose=1000, unit="mcg"))


def test_a_dose_in_ml_uses_the_drug_strength():
    assert "dose-units-mismatch" not in codes(*_given(dose=1, unit="mL"))
    assert "dose-units-mismatch" in codes(*_given(dose=2, unit="mL"))


def test_two_injections_the_same_day_add_up():
    resources = [*clean_chart(units=2), b.administration("a2", "p1", SERVICE, dose=500)]
    assert "dose-units-mismatch" not in codes(*resources)


def test_unknown_dose_unit_is_an_error_but_the_injection_still_counts():
    from tests.scenario import run

    report = run(*_given(dose=1, unit="vial"))
    assert [e.resource for e in report.errors] == ["MedicationAdministration/a1"]
    assert "vial" in report.errors[0].message
    assert {f.code for f in report.claims[0].findings} == set()
