"""Unit conversion (SPEC section 4): labs to pg/mL, umol/L, g/dL; doses to micrograms.

An Observation whose unit cannot be converted is never read as a number: it is reported under
``errors`` and gives no evidence.
"""

from __future__ import annotations

import pytest

from adapter.evidence.chart import Chart
from adapter.evidence.fields import BadResource
from adapter.evidence.read import read_observation
from adapter.mappings import load_mappings
from adapter.terminology.units import UnitError, convert, unit_of
from fixtures import builders as b
from tests.scenario import SERVICE, clean_chart, codes, replace, run


def _lab_value(kind: str, value: float, unit: str | None) -> float | None:
    fact = read_observation(b.lab("o1", "p1", kind, value, unit, "2026-02-10"), load_mappings())
    assert fact is not None
    return fact.value


def _dose_ug(dose: float, unit: str | None, **kwargs) -> tuple[float | None, list[BadResource]]:
    chart = Chart(load_mappings())
    chart.add(b.administration("a1", "p1", SERVICE, dose=dose, unit=unit, **kwargs))
    [fact] = chart.finish().administrations["Patient/p1"]
    return fact.dose_ug, chart.problems


# B12: pg/mL, ng/L, pmol/L (1 pg/mL = 0.738 pmol/L)

@pytest.mark.parametrize("kind, value, unit, pg_ml", [
    ("b12", 250, "pg/mL", 250),
    ("b12", 250, "ng/L", 250),
    ("b12-molar", 148, "pmol/L", 148 / 0.738),
    ("b12-molar", 100, "pmol/L", 135.5),
])
def test_b12_is_read_in_pg_per_ml(kind, value, unit, pg_ml):
    assert _lab_value(kind, value, unit) == pytest.approx(pg_ml, rel=1e-3)


def test_b12_in_ng_per_l_is_judged_like_pg_per_ml():
    assert "lab-not-low" not in codes(*replace(clean_chart(), b.lab(
        "o1", "p1", "b12", 199, "ng/L", "2026-02-10")))
    assert "lab-not-low" in codes(*replace(clean_chart(), b.lab(
        "o1", "p1", "b12", 201, "ng/L", "2026-02-10")))


# hemoglobin: g/dL, g/L, mmol/L (mmol/L = g/dL x 0.6206)

@pytest.mark.parametrize("kind, value, unit, g_dl", [
    ("hemoglobin", 12.5, "g/dL", 12.5),
    ("hemoglobin", 125, "g/L", 12.5),
    ("hemoglobin-calc", 118, "g/L", 11.8),
    ("hemoglobin-molar", 8.07, "mmol/L", 13.0),
    ("hemoglobin-molar", 7.45, "mmol/L", 12.0),
])
def test_hemoglobin_is_read_in_g_per_dl(kind, value, unit, g_dl):
    assert _lab_value(kind, value, unit) == pytest.approx(g_dl, abs=0.01)


@pytest.mark.parametrize("value, unit, fires", [
    (115, "g/L", False), (125, "g/L", True), (7.0, "mmol/L", False), (8.0, "mmol/L", True),
])
def test_hemoglobin_units_decide_anemia_for_a_woman(value, unit, fires):
    kind = "hemoglobin-molar" if unit == "mmol/L" else "hemoglobin"
    resources = replace(clean_chart(dx="D51.9"),
                        b.lab("h1", "p1", kind, value, unit, "2026-02-10"))
    assert ("anemia-not-supported" in codes(*resources)) is fires


# methylmalonic acid: nmol/L -> umol/L

def test_mma_in_nmol_per_l_is_read_in_umol_per_l():
    assert _lab_value("mma", 450, "nmol/L") == pytest.approx(0.45)


def test_mma_in_nmol_per_l_decides_lab_not_low():
    normal_b12 = replace(clean_chart(), b.lab("o1", "p1", "b12", 350, "pg/mL", "2026-02-10"))
    high = b.lab("m1", "p1", "mma", 450, "nmol/L", "2026-02-10")
    normal = b.lab("m1", "p1", "mma", 350, "nmol/L", "2026-02-10")
    assert "lab-not-low" not in codes(*normal_b12, high)
    assert "lab-not-low" in codes(*normal_b12, normal)


def test_micromole_spellings_are_read_as_umol_per_l():
    assert _lab_value("homocysteine", 18, "µmol/L") == pytest.approx(18)


# doses: ug, mg, "mcg" text, mL through the drug's strength

@pytest.mark.parametrize("dose, unit, ug", [
    (1000, "ug", 1000), (1, "mg", 1000), (0.5, "mg", 500), (1000, "mcg", 1000),
    (1, "mL", 1000), (1.5, "mL", 1500),
])
def test_doses_are_read_in_micrograms(dose, unit, ug):
    assert _dose_ug(dose, unit) == (pytest.approx(ug), [])


def test_a_dose_in_ml_uses_the_hydroxocobalamin_strength_too():
    assert _dose_ug(2, "mL", rxnorm="317106") == (pytest.approx(2000), [])


def test_a_dose_in_ml_of_a_drug_of_unknown_strength_is_a_problem():
    dose, problems = _dose_ug(1, "mL", rxnorm=None, text="Vitamin B12 injection")
    assert dose is None
    assert [p.ref for p in problems] == ["MedicationAdministration/a1"]


def test_ucum_code_wins_over_the_unit_text():
    assert unit_of({"value": 1, "unit": "microgram", "code": "mg"}) == "mg"
    assert unit_of({"value": 1, "unit": "mcg"}) == "mcg"


def test_convert_refuses_an_unknown_unit_and_a_missing_one():
    with pytest.raises(UnitError, match="vial"):
        convert(1, "vial", {"ug": 1.0}, "ug")
    with pytest.raises(UnitError, match="no unit"):
        convert(1, None, {"ug": 1.0}, "ug")


# an unconvertible lab unit: an error naming the Observation, and no evidence

@pytest.mark.parametrize("unit", ["mg/dL", "mmol/L", None])
def test_an_unconvertible_b12_unit_is_an_error_and_no_evidence(unit):
    report = run(*replace(clean_chart(), b.lab("o1", "p1", "b12", 150, unit, "2026-02-10")))
    assert [e.resource for e in report.errors] == ["Observation/o1"]
    if unit:
        assert unit in report.errors[0].message
    findings = report.claims[0].findings
    assert "lab-missing" in {f.code for f in findings}
    assert all("Observation/o1" not in f.evidence for f in findings)


def test_an_unconvertible_hemoglobin_unit_is_an_error_and_no_evidence():
    resources = replace(clean_chart(dx="D51.9"),
                        b.lab("h1", "p1", "hemoglobin", 10.0, "mg", "2026-02-10"))
    report = run(*resources)
    assert [e.resource for e in report.errors] == ["Observation/h1"]
    f = next(f for f in report.claims[0].findings if f.code == "anemia-not-supported")
    assert f.evidence == ()


def test_a_non_ucum_unit_system_is_an_error():
    lab = b.lab("o1", "p1", "b12", 150, "pg/mL", "2026-02-10")
    lab["valueQuantity"]["system"] = "http://example.org/lab-units"
    report = run(*replace(clean_chart(), lab))
    assert [e.resource for e in report.errors] == ["Observation/o1"]
    assert "lab-missing" in {f.code for f in report.claims[0].findings}
