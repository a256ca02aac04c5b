"""admin-missing, dose-units-mismatch: was the injection given, and billed as given?"""

from __future__ import annotations

import pytest

from fixtures import builders as b
from tests import facts as f
from tests.scenario import SERVICE, clean_chart, codes, finding, replace, result, run, without


def _given(when: str = SERVICE, units: float | None = 1, **kwargs):
    """The clean chart billing ``units`` of J3420, with MedicationAdministration/a1 as stated."""
    return replace(clean_chart(units=units), b.administration("a1", "p1", when, **kwargs))


def _not_given():
    return without(clean_chart(), "MedicationAdministration", "a1")


# admin-missing

def test_admin_missing_fires_without_any_administration():
    f = finding(_not_given(), "admin-missing")
    assert (f.severity, f.diagnosis, f.suggested_code, f.evidence) == ("high", None, None, ())
    assert SERVICE in f.message
    assert result(*_not_given()).verdict == "unsupported"


@pytest.mark.parametrize("status", ["not-done", "in-progress", "stopped", "on-hold",
                                    "entered-in-error"])
def test_admin_missing_fires_for_an_administration_that_was_not_completed(status):
    f = finding(_given(status=status), "admin-missing")
    assert f.evidence == ("MedicationAdministration/a1",)


def test_admin_missing_fires_for_an_injection_the_day_before():
    assert "admin-missing" in codes(*_given(when="2026-03-01"))


def test_admin_missing_does_not_fire_for_an_injection_timed_on_the_service_date():
    assert codes(*_given(when=f"{SERVICE}T10:30:00-05:00")) == set()


def test_admin_missing_fires_for_another_drug():
    assert "admin-missing" in codes(*_given(rxnorm="197361", text="amlodipine 5 MG"))


def test_admin_missing_fires_for_an_injection_given_to_another_patient():
    resources = [*_not_given(), b.patient("p2"), b.administration("a2", "p2", SERVICE)]
    assert "admin-missing" in codes(*resources)


def test_admin_missing_does_not_fire_for_cyanocobalamin_by_rxnorm():
    assert "admin-missing" not in codes(*_given(rxnorm="309594"))


def test_admin_missing_does_not_fire_for_hydroxocobalamin():
    assert "admin-missing" not in codes(*_given(rxnorm="317106"))


def test_admin_missing_does_not_fire_for_a_b12_ndc():
    administration = b.administration("a1", "p1", SERVICE, rxnorm=None)
    administration["medicationCodeableConcept"] = {
        "coding": [{"system": b.NDC, "code": "0517-0031-25"}]}
    assert codes(*replace(clean_chart(), administration)) == set()


@pytest.mark.parametrize("text", ["Cyanocobalamin 1000 mcg/mL", "Hydroxocobalamin injection",
                                  "Vitamin B12 injection"])
def test_admin_missing_does_not_fire_for_a_b12_drug_named_only_in_text(text):
    assert "admin-missing" not in codes(*_given(rxnorm=None, text=text))


def test_admin_missing_does_not_fire_for_an_administration_over_a_period():
    administration = b.administration("a1", "p1", SERVICE)
    del administration["effectiveDateTime"]
    administration["effectivePeriod"] = {"start": f"{SERVICE}T09:00:00Z",
                                         "end": f"{SERVICE}T09:05:00Z"}
    assert codes(*replace(clean_chart(), administration)) == set()


def test_an_administration_period_with_only_an_end_is_given_on_that_day():
    administration = b.administration("a1", "p1", SERVICE)
    del administration["effectiveDateTime"]
    administration["effectivePeriod"] = {"end": f"{SERVICE}T09:05:00Z"}
    report = run(*replace(clean_chart(), administration))
    assert report.errors == [] and report.claims[0].findings == ()


def test_an_administration_period_with_neither_start_nor_end_is_named_so():
    administration = b.administration("a1", "p1", SERVICE)
    del administration["effectiveDateTime"]
    administration["effectivePeriod"] = {}
    report = run(*replace(clean_chart(), administration))
    [error] = report.errors
    assert error.resource == "MedicationAdministration/a1"
    assert "effectivePeriod has neither start nor end" in error.message
    assert "admin-missing" in {f.code for f in report.claims[0].findings}


def test_admin_missing_does_not_fire_when_only_the_dose_value_is_malformed():
    administration = b.administration("a1", "p1", SERVICE)
    administration["dosage"]["dose"]["value"] = "1000"
    report = run(*replace(clean_chart(), administration))
    assert [e.resource for e in report.errors] == ["MedicationAdministration/a1"]
    assert "admin-missing" not in {f.code for f in report.claims[0].findings}


# dose-units-mismatch

def test_dose_units_mismatch_fires_for_1000_mcg_billed_as_2_units():
    resources = _given(units=2)
    f = finding(resources, "dose-units-mismatch")
    assert (f.severity, f.diagnosis, f.suggested_code, f.evidence) == (
        "moderate", None, None, ("MedicationAdministration/a1",))
    assert "2 unit(s)" in f.message and "1000 mcg" in f.message
    assert result(*resources).verdict == "review"


def test_dose_units_mismatch_does_not_fire_for_2000_mcg_billed_as_2_units():
    assert codes(*_given(units=2, dose=2000)) == set()


def test_dose_units_mismatch_fires_for_2000_mcg_billed_as_1_unit():
    f = finding(_given(units=1, dose=2000), "dose-units-mismatch")
    assert "2000 mcg" in f.message and "is 2 unit(s)" in f.message


def test_dose_units_are_rounded_up_to_the_next_1000_mcg():
    assert "dose-units-mismatch" not in codes(*_given(units=2, dose=1500))
    assert "dose-units-mismatch" in codes(*_given(units=1, dose=1500))
    assert "dose-units-mismatch" not in codes(*_given(units=1, dose=500))


@pytest.mark.parametrize("dose, unit, units", [
    (1, "mg", 1), (1.5, "mg", 2), (1000, "mcg", 1), (2000, "mcg", 2), (1, "mL", 1), (2, "mL", 2),
])
def test_dose_units_mismatch_does_not_fire_for_converted_doses_billed_right(dose, unit, units):
    assert "dose-units-mismatch" not in codes(*_given(units=units, dose=dose, unit=unit))


@pytest.mark.parametrize("dose, unit", [(1.5, "mg"), (2, "mL"), (2000, "mcg")])
def test_dose_units_mismatch_fires_for_converted_doses_billed_as_1_unit(dose, unit):
    assert "dose-units-mismatch" in codes(*_given(units=1, dose=dose, unit=unit))


def test_dose_units_mismatch_adds_two_injections_the_same_day():
    second = b.administration("a2", "p1", SERVICE, dose=500)
    assert "dose-units-mismatch" not in codes(*clean_chart(units=2), second)
    f = finding([*clean_chart(units=1), second], "dose-units-mismatch")
    assert f.evidence == ("MedicationAdministration/a1", "MedicationAdministration/a2")


def test_dose_units_mismatch_ignores_an_administration_not_done():
    not_done = b.administration("a2", "p1", SERVICE, status="not-done")
    assert "dose-units-mismatch" not in codes(*clean_chart(units=1), not_done)


def test_dose_units_mismatch_reads_a_missing_quantity_as_1_unit():
    assert "dose-units-mismatch" not in codes(*_given(units=None))
    assert "dose-units-mismatch" in codes(*_given(units=None, dose=2000))


def test_dose_units_mismatch_does_not_judge_an_rxnorm_coded_item():
    resources = clean_chart(units=3, product=(b.RXNORM, "309594"))
    assert "dose-units-mismatch" not in codes(*resources)


def test_unknown_dose_unit_is_an_error_but_the_injection_still_counts():
    report = run(*_given(dose=1, unit="vial"))
    assert [e.resource for e in report.errors] == ["MedicationAdministration/a1"]
    assert "vial" in report.errors[0].message
    assert report.claims[0].findings == ()


# The same family on plain facts, no FHIR JSON (tests/facts.py)


@pytest.mark.parametrize("dose_ug, units, fires", [
    (1000, 1, False), (1000, 2, True), (2000, 2, False), (1500, 2, False), (1500, 1, True),
])
def test_on_facts_units_are_the_micrograms_given_over_1000_rounded_up(dose_ug, units, fires):
    ev = f.backed(f.claim(units=units), f.condition(), administrations=[f.given(dose_ug=dose_ug)])
    assert ("dose-units-mismatch" in f.codes_of(ev)) is fires


def test_on_facts_an_administration_not_completed_is_not_the_injection():
    stopped = f.backed(f.claim(), f.condition(), administrations=[f.given(status="stopped")])
    assert "admin-missing" in f.codes_of(stopped)
    assert "admin-missing" not in f.codes_of(f.backed(f.claim(), f.condition()))


# Several dates of service on one claim (loading doses, SPEC 4.1)

SECOND = "2026-03-09"


def _loading(*given: str, units: float = 1):
    """A claim billing J3420 on SERVICE and SECOND, with the injections ``given``."""
    claim = b.claim("k1", "p1", SERVICE, units=units, more_dates=(SECOND,),
                    supporting=("Condition/c1", "Observation/o1"))
    chart = without(replace(clean_chart(), claim), "MedicationAdministration", "a1")
    return [*chart, *(b.administration(f"a{n}", "p1", day) for n, day in enumerate(given))]


def test_loading_doses_on_two_dates_are_judged_date_by_date():
    assert codes(*_loading(SERVICE, SECOND)) == set()  # 1 unit each date, not 2 for the claim


def test_a_second_dose_never_given_is_admin_missing_on_its_own_date():
    found = [x for x in result(*_loading(SERVICE)).findings if x.code == "admin-missing"]
    assert [(x.day.isoformat(), SECOND in x.message) for x in found] == [(SECOND, True)]


def test_units_are_compared_with_the_dose_given_on_each_date():
    resources = [*_loading(SERVICE), b.administration("a9", "p1", SECOND, dose=2000)]
    [mismatch] = [x for x in result(*resources).findings if x.code == "dose-units-mismatch"]
    assert mismatch.day.isoformat() == SECOND and "2000 mcg" in mismatch.message


def test_each_date_keeps_an_issue_of_its_own():
    from adapter.output.detected_issue import issue_key

    checked = result(*_loading())
    keys = {issue_key(checked, x) for x in checked.findings if x.code == "admin-missing"}
    assert keys == {"Claim/k1:admin-missing:-", f"Claim/k1:admin-missing:-:{SECOND}"}


# Only an injectable counts for J3420 (SPEC 4.1)

def test_an_oral_tablet_named_only_in_text_is_not_the_injection():
    oral = b.administration("a1", "p1", SERVICE, rxnorm=None, route=None,
                            text="cyanocobalamin 1000 MCG Oral Tablet")
    f_ = finding(replace(clean_chart(), oral), "admin-missing")
    assert "self-administered" in f_.message and f_.evidence == ("MedicationAdministration/a1",)


@pytest.mark.parametrize("route", [
    (b.SNOMED, "26643006", "Oral route"), (b.SNOMED, "37839007", "Sublingual route"),
    (b.SNOMED, "46713006", "Nasal route"),
    ("http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration", "PO", "Swallow, oral"),
])
def test_a_self_administered_route_is_not_the_injection(route):
    assert "admin-missing" in codes(*_given(route=route))


@pytest.mark.parametrize("route", [
    (b.SNOMED, "78421000", "Intramuscular route"), (b.SNOMED, "34206005", "Subcutaneous route"),
    None,
])
def test_an_intramuscular_subcutaneous_or_unstated_route_is_the_injection(route):
    assert "admin-missing" not in codes(*_given(route=route))


def test_a_b12_product_named_injectable_solution_in_text_is_the_injection():
    given = b.administration("a1", "p1", SERVICE, rxnorm=None, route=None,
                             text="cyanocobalamin 1000 MCG/ML Injectable Solution")
    assert "admin-missing" not in codes(*replace(clean_chart(), given))


# admin-not-recorded: the shot is documented, its administration record is not

def test_admin_not_recorded_fires_for_a_procedure_and_an_order_without_an_administration():
    resources = [*_not_given(), b.procedure("pr1", "p1", SERVICE),
                 b.medication_request("mr1", "p1", "2026-02-20")]
    f_ = finding(resources, "admin-not-recorded")
    assert (f_.severity, f_.evidence) == ("moderate", ("MedicationRequest/mr1",
                                                       "Procedure/pr1"))
    assert SERVICE in f_.message
    assert "admin-missing" not in codes(*resources)
    assert result(*resources).verdict == "review"


def test_admin_not_recorded_takes_a_medication_statement_and_a_snomed_im_injection():
    resources = [*_not_given(),
                 b.procedure("pr1", "p1", SERVICE, code=(b.SNOMED, "76601001")),
                 b.medication_request("ms1", "p1", "2026-01-10", kind="MedicationStatement")]
    assert "admin-not-recorded" in codes(*resources)


@pytest.mark.parametrize("extra", [
    [b.procedure("pr1", "p1", SERVICE)],  # a procedure without an order
    [b.medication_request("mr1", "p1", "2026-02-20")],  # an order without a procedure
    [b.procedure("pr1", "p1", "2026-03-03"), b.medication_request("mr1", "p1", "2026-02-20")],
    [b.procedure("pr1", "p1", SERVICE),
     b.medication_request("mr1", "p1", "2026-02-20", text="cyanocobalamin 1000 MCG Oral "
                          "Tablet", rxnorm=None)],  # an order for tablets
    [b.procedure("pr1", "p1", SERVICE),
     b.medication_request("mr1", "p1", "2026-02-20", status="entered-in-error")],
])
def test_admin_not_recorded_does_not_fire_without_both_on_the_date(extra):
    found = codes(*_not_given(), *extra)
    assert "admin-missing" in found and "admin-not-recorded" not in found
