"""How a claim finds its evidence (SPEC section 3), its scope, its service date, what counts
as current and confirmed, and bad input (reported, the run goes on)."""

from __future__ import annotations

import json
from datetime import date

import pytest

from adapter.evidence.chart import Chart
from adapter.evidence.facts import Path
from adapter.evidence.gather import gather
from adapter.evidence.read import read_condition
from adapter.evidence.read_claims import read_claim
from adapter.mappings import load_mappings
from adapter.rules import status
from adapter.rules.scope import in_scope
from fixtures import builders as b
from tests.scenario import SERVICE, clean_chart, codes, finding, replace, run, without

DAY = date.fromisoformat(SERVICE)


def _evidence(resources):
    mappings = load_mappings()
    chart = Chart(mappings)
    claim = None
    for resource in resources:
        if resource["resourceType"] == "Claim":
            claim = in_scope(read_claim(resource), mappings.drugs)
        else:
            chart.add(resource)
    assert claim is not None
    return gather(claim, chart)


def _paths(evidence, kind):
    return {item.fact.ref: item.path for item in getattr(evidence, kind)}


def _service_date(claim) -> str:
    return str(in_scope(read_claim(claim), load_mappings().drugs).service_date)


# Linking paths: explicit links first, then the patient's record

def test_supporting_info_links_conditions_and_labs():
    ev = _evidence(clean_chart())
    assert _paths(ev, "conditions") == {"Condition/c1": Path.LINKED}
    assert _paths(ev, "labs") == {"Observation/o1": Path.LINKED}


def test_record_only_evidence_is_marked_as_found_in_the_record():
    ev = _evidence(clean_chart(supporting=()))
    assert _paths(ev, "conditions") == {"Condition/c1": Path.RECORD}
    assert _paths(ev, "labs") == {"Observation/o1": Path.RECORD}
    assert _paths(ev, "administrations") == {"MedicationAdministration/a1": Path.RECORD}


def test_diagnosis_reference_links_the_condition_and_gives_the_claim_its_code():
    ev = _evidence(clean_chart(diagnoses=("Condition/c1",), supporting=()))
    assert [d.code for d in ev.claim.diagnoses] == ["E53.8"]
    assert _paths(ev, "conditions") == {"Condition/c1": Path.LINKED}


def test_diagnosis_reference_to_a_snomed_condition_takes_its_mapped_code():
    # Synthea's shape: the claim names the Condition, the Condition speaks SNOMED
    resources = replace(clean_chart(diagnoses=("Condition/c1",)),
                        b.condition("c1", "p1", snomed="190634004"))
    f = finding(resources, "dx-derived")
    assert (f.severity, f.diagnosis, f.evidence) == ("low", "E53.8", ("Condition/c1",))
    assert "taken from Condition/c1" in f.message
    assert codes(*resources) == {"dx-derived"}


def test_diagnosis_reference_to_an_unmapped_condition_is_no_indication_not_invalid():
    resources = replace(clean_chart(diagnoses=("Condition/c1",)),
                        b.condition("c1", "p1", snomed="38341003"))  # hypertension: no map
    assert {"dx-no-indication", "item-dx-link"} <= codes(*resources)
    assert not {"dx-invalid", "dx-derived"} & codes(*resources)


def test_condition_evidence_detail_links_its_observation():
    resources = replace(clean_chart(supporting=("Condition/c1",)),
                        b.condition("c1", "p1", icd="E53.8", evidence=("o1",)))
    assert _paths(_evidence(resources), "labs") == {"Observation/o1": Path.LINKED}


def test_without_evidence_detail_the_lab_of_a_linked_condition_is_record_only():
    ev = _evidence(clean_chart(supporting=("Condition/c1",)))
    assert _paths(ev, "labs") == {"Observation/o1": Path.RECORD}


def test_administration_reason_reference_links_the_condition():
    resources = replace(clean_chart(supporting=()),
                        b.administration("a1", "p1", SERVICE, reason="c1"))
    assert _paths(_evidence(resources), "conditions") == {"Condition/c1": Path.LINKED}


def test_item_encounter_equal_to_administration_context_links_the_administration():
    resources = replace(clean_chart(encounter="e1"),
                        b.administration("a1", "p1", SERVICE, context="e1"))
    assert _paths(_evidence(resources), "administrations") == {
        "MedicationAdministration/a1": Path.LINKED}


def test_an_administration_in_another_encounter_is_record_only():
    resources = replace(clean_chart(encounter="e1"),
                        b.administration("a1", "p1", SERVICE, context="e2"))
    assert _paths(_evidence(resources), "administrations") == {
        "MedicationAdministration/a1": Path.RECORD}


def test_findings_say_which_path_found_their_evidence():
    linked = replace(clean_chart(supporting=("Condition/c1",)), b.condition("c1", "p1",
                                                                           icd="D51.0"))
    assert finding(linked, "specificity-loss").path_of("Condition/c1") == "linked"
    record = replace(clean_chart(supporting=()), b.condition("c1", "p1", icd="D51.0"))
    assert finding(record, "specificity-loss").path_of("Condition/c1") == "record"


def test_evidence_of_another_patient_is_refused_with_an_error():
    resources = [*clean_chart(supporting=("Observation/x9",)),
                 b.lab("x9", "p2", "b12", 100, "pg/mL", "2026-02-01")]
    report = run(*resources)
    assert any(e.resource == "Claim/k1" and "Patient/p2" in e.message for e in report.errors)
    assert "Observation/x9" not in {
        ref for f in report.claims[0].findings for ref in f.evidence}


def _condition_citing_another_patients_lab(*more):
    """p1's claim links Condition/c1, whose evidence is p2's low B12 (p1 has no lab)."""
    resources = [*without(clean_chart(supporting=("Condition/c1",)), "Observation", "o1"),
                 b.patient("p2"), b.lab("o2", "p2", "b12", 150, "pg/mL", "2026-02-10"), *more]
    return replace(resources, b.condition("c1", "p1", icd="E53.8", evidence=("o2",)))


OTHER_LAB = ("evidence points at Observation/o2, which belongs to Patient/p2, not Patient/p1 "
             "(the patient of Claim/k1): not counted")


def test_a_condition_citing_another_patients_lab_is_an_error_naming_both_and_the_lab_counts_not():
    """The error named the claim, which links no lab ("Claim/k1 references Observation/o2")."""
    report = run(*_condition_citing_another_patients_lab())
    assert [(e.resource, e.message) for e in report.errors] == [("Condition/c1", OTHER_LAB)]
    [claim] = report.claims
    lab_missing = [f for f in claim.findings if f.code == "lab-missing"]
    assert lab_missing and not any("Observation/o2" in f.evidence for f in claim.findings)


def test_a_condition_citing_another_patients_lab_is_named_in_a_bulk_directory(tmp_path, capsys):
    """Read in file mode when p2's lab is read (p2 bills B12 too): named, not counted, exit 1."""
    from adapter.cli import main

    resources = _condition_citing_another_patients_lab(
        b.condition("c2", "p2", icd="E53.8"), b.claim("k2", "p2", SERVICE))
    b.write_bulk(tmp_path / "bulk", resources)
    assert main(["check", "--source", str(tmp_path / "bulk"), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert {"resource": "Condition/c1", "message": OTHER_LAB} in report["errors"]
    assert not [e for e in report["errors"] if e["resource"] == "Claim/k1"]
    k1 = next(c for c in report["claims"] if c["claim"] == "Claim/k1")
    assert "lab-missing" in [f["code"] for f in k1["findings"]]


def test_the_record_of_another_patient_is_not_evidence():
    resources = [*without(clean_chart(supporting=()), "Condition", "c1"),
                 b.condition("c9", "p2", icd="E53.8")]
    f = finding(resources, "dx-not-documented")
    assert f.evidence == ()


# SNOMED CT problem lists are mapped to ICD-10-CM

@pytest.mark.parametrize("concept, icd", [
    ("84027009", "D51.0"), ("190634004", "E53.8"), ("52675002", "D51.9"),
    ("396331005", "K90.0"), ("34000006", "K50.90"),
])
def test_a_snomed_condition_documents_the_mapped_icd10cm_code(concept, icd):
    fact = read_condition(b.condition("c1", "p1", snomed=concept), load_mappings())
    assert fact.codes == frozenset({icd})


def test_a_snomed_concept_outside_the_map_documents_nothing():
    fact = read_condition(b.condition("c1", "p1", snomed="38341003"), load_mappings())
    assert fact.codes == frozenset()


def test_a_snomed_problem_list_backs_the_claim_like_icd10cm():
    assert codes(*replace(clean_chart(), b.condition("c1", "p1", snomed="190634004"))) == set()
    assert codes(*replace(clean_chart(dx="D51.0"),
                          b.condition("c1", "p1", snomed="84027009"))) == set()


# Service date: item.servicedDate / servicedPeriod.start > billablePeriod.start > created

def test_service_date_prefers_the_item_then_billable_period_then_created():
    claim = b.claim("k1", "p1", "2026-03-02")
    claim["billablePeriod"] = {"start": "2026-02-01"}
    claim["created"] = "2026-01-01"
    assert _service_date(claim) == "2026-03-02"
    for item in claim["item"]:
        del item["servicedDate"]
    assert _service_date(claim) == "2026-02-01"
    del claim["billablePeriod"]
    assert _service_date(claim) == "2026-01-01"


def test_service_date_reads_the_item_serviced_period_start():
    claim = b.claim("k1", "p1", "2026-03-02")
    del claim["item"][0]["servicedDate"]
    claim["item"][0]["servicedPeriod"] = {"start": "2026-02-27", "end": "2026-03-02"}
    assert _service_date(claim) == "2026-02-27"


def test_service_date_comes_from_the_b12_item_not_the_administration_item():
    claim = b.claim("k1", "p1", "2026-03-02")
    del claim["item"][0]["servicedDate"]
    claim["billablePeriod"] = {"start": "2026-02-01"}
    assert claim["item"][1]["servicedDate"] == "2026-03-02"
    assert _service_date(claim) == "2026-02-01"


def test_the_service_date_decides_which_injection_counts():
    claim = b.claim("k1", "p1", SERVICE, supporting=("Condition/c1", "Observation/o1"))
    for item in claim["item"]:
        del item["servicedDate"]
    claim["billablePeriod"] = {"start": "2026-03-01"}
    f = finding(replace(clean_chart(), claim), "admin-missing")
    assert "2026-03-01" in f.message


# Current and confirmed (SPEC section 4)

@pytest.mark.parametrize("clinical, onset, abatement, current", [
    ("active", "2024-01-15", None, True),
    ("recurrence", "2024-01-15", None, True),
    ("relapse", "2024-01-15", None, True),
    ("inactive", "2024-01-15", None, False),
    ("remission", "2024-01-15", None, False),
    ("resolved", "2024-01-15", "2025-06-01", False),
    (None, "2024-01-15", None, True),
    (None, "2024-01-15", SERVICE, False),
    (None, "2024-01-15", "2026-03-03", True),
    ("active", SERVICE, None, True),
    ("active", "2026-03-03", None, False),
    ("active", None, None, True),
])
def test_a_condition_is_current_at_the_service_date(clinical, onset, abatement, current):
    condition = b.condition("c1", "p1", icd="E53.8", clinical=clinical, onset=onset,
                            abatement=abatement)
    assert status.current_at(read_condition(condition, load_mappings()), DAY) is current


def test_an_abatement_without_a_date_means_not_current():
    condition = b.condition("c1", "p1", icd="E53.8", clinical=None)
    condition["abatementBoolean"] = True
    assert status.current_at(read_condition(condition, load_mappings()), DAY) is False
    assert "dx-not-current" in codes(*replace(clean_chart(), condition))


@pytest.mark.parametrize("verification, confirmed", [
    ("confirmed", True), (None, True),
    ("unconfirmed", False), ("provisional", False), ("differential", False),
])
def test_a_condition_is_confirmed_unless_unconfirmed(verification, confirmed):
    condition = b.condition("c1", "p1", icd="E53.8", verification=verification)
    assert status.confirmed(read_condition(condition, load_mappings())) is confirmed


@pytest.mark.parametrize("verification", ["refuted", "entered-in-error"])
def test_refuted_and_entered_in_error_conditions_do_not_count_at_all(verification):
    condition = b.condition("c1", "p1", icd="E53.8", verification=verification)
    assert status.counts(read_condition(condition, load_mappings())) is False
    found = codes(*replace(clean_chart(), condition))
    assert "dx-not-documented" in found and "dx-unconfirmed" not in found


def test_a_refuted_lifelong_cause_does_not_spare_the_lab():
    no_lab = without(clean_chart(supporting=("Condition/c1",)), "Observation", "o1")
    refuted = b.condition("c9", "p1", icd="Z98.84", verification="refuted")
    assert "lab-missing" in codes(*no_lab, refuted)


# Scope

def test_claims_without_a_b12_item_or_in_a_closed_status_are_skipped():
    flu = b.claim("k2", "p1", SERVICE, product=(b.CPT, "90686"), extra_items=False)
    resources = [*clean_chart(), flu]
    for claim_status in ("cancelled", "draft", "entered-in-error"):
        resources.append(b.claim(f"k-{claim_status}", "p1", SERVICE, status=claim_status))
    report = run(*resources)
    assert [c.claim for c in report.claims] == ["Claim/k1"]
    assert {(s.claim, s.reason) for s in report.skipped} == {
        ("Claim/k2", "no B12 injection item"),
        ("Claim/k-cancelled", "claim status is cancelled"),
        ("Claim/k-draft", "claim status is draft"),
        ("Claim/k-entered-in-error", "claim status is entered-in-error"),
    }
    assert report.summary()["skipped"] == 4 and report.summary()["checked"] == 1


@pytest.mark.parametrize("product", [
    (b.HCPCS, "J3420"),
    ("https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "J3420"),
    (b.RXNORM, "309594"),
    (b.RXNORM, "317106"),
    (b.NDC, "63323-044-01"),
])
def test_a_b12_item_puts_the_claim_in_scope(product):
    report = run(*clean_chart(product=product))
    assert [c.claim for c in report.claims] == ["Claim/k1"] and report.skipped == []


@pytest.mark.parametrize("product", [
    (b.HCPCS, "J3425"), (b.RXNORM, "197361"), (b.NDC, "0000-0000-00"), (b.CPT, "96372"),
])
def test_other_items_leave_the_claim_out_of_scope(product):
    report = run(*clean_chart(product=product, extra_items=False))
    assert report.claims == [] and [s.reason for s in report.skipped] == ["no B12 injection item"]


def test_an_active_claim_is_checked():
    assert [c.claim for c in run(*clean_chart(status="active")).claims] == ["Claim/k1"]


# Bad input: reported with the resource and the problem, the run goes on

def _bad_condition_date():
    return b.condition("c9", "p1", icd="E53.8", onset="2026-13-45")


def _bad_value():
    lab = b.lab("o9", "p1", "b12", 1, "pg/mL", "2026-02-01")
    lab["valueQuantity"]["value"] = "low"
    return lab


def _condition_code_as_text():
    condition = b.condition("c9", "p1", icd="E53.8")
    condition["code"] = "E53.8"
    return condition


def _observation_date_as_number():
    lab = b.lab("o9", "p1", "b12", 150, "pg/mL", "2026-02-01")
    lab["effectiveDateTime"] = 20260201
    return lab


def _observation_without_date():
    lab = b.lab("o9", "p1", "b12", 150, "pg/mL", "2026-02-01")
    del lab["effectiveDateTime"]
    return lab


def _bad_birth_date():
    return b.patient("p9", birth="1958-02-30")


def _administration_bad_date():
    return b.administration("a9", "p1", "2026-13-02")


@pytest.mark.parametrize("bad, ref, words", [
    (_bad_condition_date, "Condition/c9", "onsetDateTime is not a valid date"),
    (_bad_value, "Observation/o9", "valueQuantity.value is not a number: 'low'"),
    (_condition_code_as_text, "Condition/c9", "code is not a CodeableConcept"),
    (_observation_date_as_number, "Observation/o9", "effectiveDateTime is not a date"),
    (_observation_without_date, "Observation/o9", "no effective date"),
    (_bad_birth_date, "Patient/p9", "birthDate is not a valid date (its value is not shown"),
    (_administration_bad_date, "MedicationAdministration/a9", "not a valid date"),
])
def test_a_malformed_chart_resource_is_an_error_and_the_claim_is_still_checked(bad, ref, words):
    report = run(*clean_chart(), bad())
    assert [(e.resource, words in e.message) for e in report.errors] == [(ref, True)]
    assert [c.claim for c in report.claims] == ["Claim/k1"]
    assert report.claims[0].findings == ()


def _claim_without_patient():
    claim = b.claim("k2", "p1", SERVICE)
    del claim["patient"]
    return claim


def _claim_diagnosis_not_a_list():
    claim = b.claim("k2", "p1", SERVICE)
    claim["diagnosis"] = "E53.8"
    return claim


def _claim_units_as_text():
    claim = b.claim("k2", "p1", SERVICE)
    claim["item"][0]["quantity"]["value"] = "1"
    return claim


def _claim_bad_serviced_date():
    return b.claim("k2", "p1", "03/02/2026")


def _claim_bad_sequence():
    claim = b.claim("k2", "p1", SERVICE)
    claim["diagnosis"][0]["sequence"] = "1"
    return claim


@pytest.mark.parametrize("bad, words", [
    (_claim_without_patient, "Claim has no patient"),
    (_claim_diagnosis_not_a_list, "diagnosis is not a list"),
    (_claim_units_as_text, "quantity.value is not a number"),
    (_claim_bad_serviced_date, "servicedDate is not a valid date"),
    (_claim_bad_sequence, "sequence is not a number"),
])
def test_a_malformed_claim_is_an_error_and_the_other_claims_are_still_checked(bad, words):
    report = run(*clean_chart(), bad())
    assert [(e.resource, words in e.message) for e in report.errors] == [("Claim/k2", True)]
    assert [c.claim for c in report.claims] == ["Claim/k1"]
    assert report.claims[0].findings == ()


def _partial_service_date(when: str, field: str) -> dict:
    claim = b.claim("k2", "p1", SERVICE)
    if field == "billablePeriod.start":
        for item in claim["item"]:
            del item["servicedDate"]
        claim["billablePeriod"] = {"start": when}
    elif field == "created":
        for item in claim["item"]:
            del item["servicedDate"]
        claim["created"] = when
    elif field == "servicedPeriod.start":
        del claim["item"][0]["servicedDate"]
        claim["item"][0]["servicedPeriod"] = {"start": when}
    else:
        claim["item"][0]["servicedDate"] = when
    return claim


@pytest.mark.parametrize("when", ["2026", "2026-03", "2026-03T10:00:00Z"])
@pytest.mark.parametrize("field, where", [
    ("servicedDate", "item[0].servicedDate"),
    ("servicedPeriod.start", "item[0].servicedPeriod.start"),
    ("billablePeriod.start", "billablePeriod.start"),
    ("created", "created"),
])
def test_a_partial_date_of_service_is_an_error_naming_the_claim_and_the_field(when, field, where):
    """A year or a month is no day: read as its first day it would pick the code release, the
    lab window and the injection's day at random."""
    report = run(*clean_chart(), _partial_service_date(when, field))
    assert [(e.resource, e.message) for e in report.errors] == [
        ("Claim/k2", f"{where} is a partial date {when!r}: a date of service needs the day")]
    assert [c.claim for c in report.claims] == ["Claim/k1"]


def test_a_partial_date_that_is_not_the_date_of_service_is_no_error():
    """The line's own day decides: a month-long billing period, a partial creation date or a
    partial date on a line that bills no B12 are not the date of service."""
    claim = b.claim("k1", "p1", SERVICE, supporting=("Condition/c1", "Observation/o1"))
    claim["billablePeriod"] = {"start": "2026-03"}
    claim["created"] = "2026"
    claim["item"][1]["servicedDate"] = "2026-03"  # the 96372 line
    report = run(*replace(clean_chart(), claim))
    assert report.errors == []
    assert [(c.claim, c.verdict) for c in report.claims] == [("Claim/k1", "supported")]


@pytest.mark.parametrize("units", [0, -1, -0.5])
def test_a_b12_line_billing_no_or_negative_units_is_an_error_not_a_dose_finding(units):
    report = run(*replace(clean_chart(), b.claim("k1", "p1", SERVICE, units=units)))
    assert [(e.resource, e.message) for e in report.errors] == [
        ("Claim/k1", f"item[0].quantity.value is {units:g}: a line bills a positive number "
                     "of units")]
    assert report.claims == []


def test_a_reference_to_a_missing_resource_is_an_error_and_the_claim_is_still_checked():
    missing = b.claim("k3", "p1", SERVICE, supporting=("Condition/c1", "Observation/nope"))
    report = run(*clean_chart(), missing)
    assert [(e.resource, "Observation/nope" in e.message) for e in report.errors] == [
        ("Claim/k3", True)]
    assert [c.claim for c in report.claims] == ["Claim/k1", "Claim/k3"]
    assert report.summary()["errors"] == 1


def test_a_diagnosis_reference_to_a_missing_condition_is_an_error_and_no_code():
    resources = replace(clean_chart(), b.claim("k1", "p1", SERVICE,
                                               diagnoses=("Condition/gone",)))
    report = run(*resources)
    assert [(e.resource, "Condition/gone" in e.message) for e in report.errors] == [
        ("Claim/k1", True)]
    found = {f.code for f in report.claims[0].findings}
    assert "dx-no-indication" in found and "dx-invalid" not in found


def test_a_malformed_resource_gives_no_evidence():
    lab = b.lab("o1", "p1", "b12", 150, "pg/mL", "yesterday")
    report = run(*replace(clean_chart(), lab))
    assert [e.resource for e in report.errors] == ["Observation/o1"]
    assert "lab-missing" in {f.code for f in report.claims[0].findings}


def test_an_administration_without_an_effective_date_is_an_error():
    administration = b.administration("a1", "p1", SERVICE)
    del administration["effectiveDateTime"]
    report = run(*replace(clean_chart(), administration))
    assert [e.resource for e in report.errors] == ["MedicationAdministration/a1"]


def test_unrelated_resources_are_ignored_without_errors():
    resources = [*clean_chart(), b.lab("g1", "p1", "glucose", 300, "mg/dL", "2026-02-10"),
                 b.condition("c7", "p1", icd="I10"), {"resourceType": "Encounter", "id": "e1"}]
    report = run(*resources)
    assert report.errors == [] and report.claims[0].findings == ()


def test_a_missing_patient_resource_uses_the_unknown_sex_cutoff():
    resources = without(clean_chart(dx="D51.9"), "Patient", "p1")
    resources = replace(resources, b.lab("h1", "p1", "hemoglobin", 12.5, "g/dL", "2026-02-10"))
    assert "anemia-not-supported" in codes(*resources)


@pytest.mark.parametrize("text", ["Vitamin B12 1000 mcg/mL injection",
                                  "Vitamin\u00a0B12 1000 mcg/mL injection",
                                  "Vitamin\tB12  1000 mcg/mL\ninjection"])
def test_a_drug_named_in_text_is_read_whatever_its_blank_space(text):
    chart = replace(clean_chart(), b.administration("a1", "p1", SERVICE, rxnorm=None, text=text))
    assert "admin-missing" not in codes(*chart)
