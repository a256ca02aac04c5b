"""Values a hand-made or converted record may hold, found by a hostile-input hunt: read as
what they mean when they mean one thing, an error naming the resource and the field when
they cannot be read, never read silently as something else. Typed export and Bundle alike."""

from __future__ import annotations

from typing import Any

import pytest

from fixtures import builders as b
from tests.layouts import check_both, errors, finding_codes, only_claim
from tests.scenario import SERVICE, clean_chart

Resource = dict[str, Any]


def _swap(resources: list[Resource], new: Resource) -> list[Resource]:
    return [new if (r["resourceType"], r["id"]) == (new["resourceType"], new["id"]) else r
            for r in resources]


@pytest.mark.parametrize("unit", ["µg", "μg"])  # U+00B5 micro sign, U+03BC Greek mu
def test_a_dose_in_micrograms_written_with_mu_is_converted(tmp_path, capsys, unit):
    given = b.administration("a1", "p1", SERVICE, dose=1000, unit=unit)
    status, report = check_both(tmp_path, capsys, _swap(clean_chart(), given))
    assert (status, only_claim(report)["verdict"], report["errors"]) == (0, "supported", [])


def test_a_dose_that_is_no_dose_given_is_an_error_not_a_negative_unit(tmp_path, capsys):
    given = b.administration("a1", "p1", SERVICE, dose=-1000, unit="ug")
    status, report = check_both(tmp_path, capsys, _swap(clean_chart(), given))
    assert errors(report) == {"MedicationAdministration/a1": "dosage.dose.value -1000 is not "
                              "a dose given"}
    assert "dose-units-mismatch" not in finding_codes(report)  # the dose is unknown
    assert status == 1


@pytest.mark.parametrize("written", [".149 ng/mL", "≤150", "<= 150 pg/mL"])
def test_a_value_string_with_a_bare_decimal_or_a_sign_comparator_is_read(tmp_path, capsys,
                                                                         written):
    lab = b.lab("o1", "p1", "b12", None, None, "2026-02-10", value_string=written)
    status, report = check_both(tmp_path, capsys, _swap(clean_chart(), lab))
    assert (status, only_claim(report)["verdict"], report["errors"]) == (0, "supported", [])


@pytest.mark.parametrize("written", ["LOW 149", "see comment", "\u0661\u0664\u0669 pg/mL"])
def test_a_value_string_that_cannot_be_read_is_an_error_and_no_evidence(tmp_path, capsys,
                                                                       written):
    lab = b.lab("o1", "p1", "b12", None, None, "2026-02-10", value_string=written)
    status, report = check_both(tmp_path, capsys, _swap(clean_chart(), lab))
    assert errors(report)["Observation/o1"] == (
        f"valueString {written!r} is not a value that can be read (a number, with a "
        "comparator and a unit or not): the result is not evidence")
    assert "lab-missing" in finding_codes(report)
    assert status == 1


@pytest.mark.parametrize(("when", "valid"), [
    ("\uff12\uff10\uff12\uff16-02-10", False), ("2026-02-10T25:61:61Z", False),
    ("2026-02-10T24:00:00Z", False), ("2026-02-10T10:00:00+25:00", False),
    ("2026-02-10T23:59:60Z", True), ("2026-02-10T10:30+14:00", True),
    ("2026-02-10T10:30:00.123-12:00", True), ("2026-02", True),
])
def test_a_date_that_is_no_fhir_date_is_an_error_naming_it(tmp_path, capsys, when, valid):
    """ASCII digits, hours 00-23, minutes and seconds in range, offsets up to 14:00."""
    lab = b.lab("o1", "p1", "b12", 150, "pg/mL", when)
    status, report = check_both(tmp_path, capsys, _swap(clean_chart(), lab))
    if valid:
        assert "Observation/o1" not in errors(report)
        assert "lab-missing" not in finding_codes(report) and status == 0
    else:
        assert errors(report)["Observation/o1"] == (
            f"effectiveDateTime is not a valid date: {when!r}")
        assert status == 1


def test_evidence_contained_in_the_claim_is_named_not_silently_missing(tmp_path, capsys):
    chart = clean_chart(supporting=("Observation/o1",))
    claim = chart[-1]
    condition = next(r for r in chart if r["resourceType"] == "Condition")
    claim["contained"] = [condition]
    claim["supportingInfo"].append({"sequence": 9, "category": {"coding": [{"code": "info"}]},
                                    "valueReference": {"reference": "#c1"}})
    chart = [r for r in chart if r is not condition]
    status, report = check_both(tmp_path, capsys, chart)
    assert errors(report) == {"Claim/k1": "references #c1, a resource contained in the claim: "
                              "contained resources are not read as evidence"}
    assert "dx-not-documented" in finding_codes(report)  # and now the report says why
    assert status == 1


def test_a_urn_uuid_reference_no_entry_resolves_is_named(tmp_path, capsys):
    chart = clean_chart(supporting=("Condition/c1", "Observation/o1"))
    chart[-1]["supportingInfo"][0]["valueReference"]["reference"] = (
        "urn:uuid:8f1d3b7e-0000-4000-8000-000000000001")
    status, report = check_both(tmp_path, capsys, chart)
    assert errors(report) == {"Claim/k1": "references urn:uuid:8f1d3b7e-0000-4000-8000-"
                              "000000000001, which is not in the source"}
    assert status == 1
