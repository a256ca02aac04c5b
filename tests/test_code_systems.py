"""A coding's system in the other spellings real records use (its HL7 OID, https, a trailing
slash) is the same system; a claimed code under another system is dx-invalid, and the message
says which system it was coded under. Through the command line, typed export and Bundle."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from fixtures import builders as b
from tests.layouts import check_both, errors, finding_codes, only_claim
from tests.scenario import clean_chart

Resource = dict[str, Any]


def _recoded(resources: list[Resource], rtype: str, system: str) -> list[Resource]:
    """The chart with the first coding of the first ``rtype``'s code under ``system``."""
    changed = copy.deepcopy(resources)
    first = next(r for r in changed if r["resourceType"] == rtype)
    if rtype == "Claim":
        first["diagnosis"][0]["diagnosisCodeableConcept"]["coding"][0]["system"] = system
    elif rtype == "MedicationAdministration":
        first["medicationCodeableConcept"]["coding"][0]["system"] = system
    else:
        first["code"]["coding"][0]["system"] = system
    return changed


@pytest.mark.parametrize(("rtype", "system"), [
    ("Observation", "urn:oid:2.16.840.1.113883.6.1"),
    ("Observation", "https://loinc.org"),
    ("Observation", "http://loinc.org/"),
    ("Claim", "http://hl7.org/fhir/sid/icd-10-cm/"),
    ("Claim", "https://hl7.org/fhir/sid/icd-10-cm"),
    ("Condition", "https://hl7.org/fhir/sid/icd-10-cm/"),
    ("Condition", "urn:oid:2.16.840.1.113883.6.90"),
    ("MedicationAdministration", "urn:oid:2.16.840.1.113883.6.88"),
    ("MedicationAdministration", "https://www.nlm.nih.gov/research/umls/rxnorm"),
])
def test_another_spelling_of_a_system_is_the_same_system(tmp_path, capsys, rtype, system):
    status, report = check_both(tmp_path, capsys, _recoded(clean_chart(), rtype, system))
    assert (status, only_claim(report)["verdict"], report["errors"]) == (0, "supported", [])


def test_a_snomed_condition_under_its_oid_is_mapped(tmp_path, capsys):
    chart = clean_chart()
    chart[1] = b.condition("c1", "p1", snomed="190634004")  # vitamin B12 deficiency: E53.8
    chart[1]["code"]["coding"][0]["system"] = "urn:oid:2.16.840.1.113883.6.96"
    status, report = check_both(tmp_path, capsys, chart)
    assert (status, only_claim(report)["verdict"], report["errors"]) == (0, "supported", [])


@pytest.mark.parametrize(("system", "said"), [
    ("http://example.org/diagnoses", "it is coded under http://example.org/diagnoses, not "
     "ICD-10-CM (http://hl7.org/fhir/sid/icd-10-cm)"),
    (None, "it is coded with no system (ICD-10-CM's is http://hl7.org/fhir/sid/icd-10-cm)"),
])
def test_a_claimed_code_under_another_system_is_invalid_and_the_system_named(
        tmp_path, capsys, system, said):
    chart = _recoded(clean_chart(), "Claim", system or "")
    if system is None:
        claim = next(r for r in chart if r["resourceType"] == "Claim")
        del claim["diagnosis"][0]["diagnosisCodeableConcept"]["coding"][0]["system"]
    status, report = check_both(tmp_path, capsys, chart)
    [invalid] = [f for f in only_claim(report)["findings"] if f["code"] == "dx-invalid"]
    assert invalid["message"] == (f"Diagnosis 1 (E53.8) has no ICD-10-CM code: {said} "
                                  "(date of service 2026-03-02)")
    assert "dx-no-indication" in finding_codes(report) and not errors(report)
    assert status == 0


def test_a_diagnosis_written_as_text_only_says_no_system(tmp_path, capsys):
    chart = copy.deepcopy(clean_chart())
    claim = next(r for r in chart if r["resourceType"] == "Claim")
    claim["diagnosis"][0]["diagnosisCodeableConcept"] = {"text": "B12 deficiency"}
    _, report = check_both(tmp_path, capsys, chart)
    [invalid] = [f for f in only_claim(report)["findings"] if f["code"] == "dx-invalid"]
    assert invalid["message"] == ("Diagnosis 1 (b12 deficiency) has no ICD-10-CM code "
                                  "(date of service 2026-03-02)")
