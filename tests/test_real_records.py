"""The records real systems send (SPEC 4.1, issue 8): a B12 claim added to a real Synthea
patient in Synthea's own shapes, Epic-style Medication resources, payer EOBs, the code forms
of 837 claims and Blue Button, lab values written as text, and the clinic's time zone.

The patient is 8ee183e2 of fixtures/realdata/synthea-bulk-9-patients (a man with anemia since
2010-11-28, hemoglobin 11.8 g/dL that day); scenarios change only what they are about.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from adapter.driver import Driver
from adapter.mappings import load_mappings
from adapter.outcomes import ClaimResult
from adapter.output.detected_issue import build_detected_issue
from adapter.output.report import Report
from adapter.rules import Policy
from adapter.sources.memory import MemorySource
from fixtures import builders as b
from tests.scenario import SERVICE, clean_chart, codes, finding, replace, run

SYNTHEA = Path(__file__).resolve().parent.parent / "fixtures/realdata/synthea-bulk-9-patients"
PID = "8ee183e2-b3c0-4151-be94-b945d6aa8c6d"
CLAIM = "cb849da6-b97c-4426-ab63-11deabe7ed87"
EOB = "2fb79cd0-d929-4cbf-ad72-15fcd46f02c9"
ENCOUNTER = "a2c3ee1d-ec35-4b26-9bab-12de3f47d604"
DAY = "2010-11-28"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
Resource = dict[str, Any]


@cache
def _records() -> tuple[str, ...]:
    """The patient's resources as their NDJSON lines."""
    return tuple(line for path in sorted(SYNTHEA.glob("*.ndjson"))
                 for line in path.read_text().splitlines() if PID in line)


def patient_records() -> list[Resource]:
    return [json.loads(line) for line in _records()]


def _real(resources: list[Resource], rtype: str, rid: str) -> Resource:
    return next(r for r in resources if (r["resourceType"], r["id"]) == (rtype, rid))


def pernicious_anemia() -> Resource:
    """A Condition in Synthea's shape: SNOMED only, no category, +00:00 times."""
    return {"resourceType": "Condition", "id": "b12pa-0001",
            "clinicalStatus": {"coding": [{"system": b.CLINICAL, "code": "active"}]},
            "verificationStatus": {"coding": [{"system": b.VERIFICATION, "code": "confirmed"}]},
            "code": {"coding": [{"system": b.SNOMED, "code": "84027009",
                                 "display": "Pernicious anemia (disorder)"}],
                     "text": "Pernicious anemia (disorder)"},
            "subject": {"reference": f"Patient/{PID}"},
            "encounter": {"reference": f"Encounter/{ENCOUNTER}"},
            "onsetDateTime": f"{DAY}T09:24:41+00:00", "recordedDate": f"{DAY}T09:24:41+00:00"}


def injection(when: str = f"{DAY}T09:40:00+00:00", **medication: Any) -> Resource:
    """The injection given, in Synthea's style (Type/uuid references, +00:00 times)."""
    administration: Resource = {
        "resourceType": "MedicationAdministration", "id": "b12adm-0001", "status": "completed",
        "medicationCodeableConcept": {"coding": [{"system": b.RXNORM, "code": "309594",
                                                  "display": "cyanocobalamin 1 MG/ML "
                                                  "Injectable Solution"}]},
        "subject": {"reference": f"Patient/{PID}"},
        "context": {"reference": f"Encounter/{ENCOUNTER}"},
        "effectiveDateTime": when,
        "dosage": {"route": {"coding": [{"system": b.SNOMED, "code": "78421000"}]},
                   "dose": {"value": 1000, "unit": "ug", "system": b.UCUM, "code": "ug"}}}
    administration.update(medication)
    return administration


def _b12_line(record: Resource, system: str = HCPCS, **more: Any) -> Resource:
    """Adds diagnosis 3 -> the pernicious anemia Condition and a J3420 line pointing at it,
    shaped like the record's own lines (no servicedDate on a Synthea Claim)."""
    record["diagnosis"].append({"sequence": 3, "diagnosisReference": {
        "reference": "Condition/b12pa-0001"}})
    line = {"sequence": 7, "diagnosisSequence": [3],
            "productOrService": {"coding": [{"system": system, "code": "J3420"}]},
            "quantity": {"value": 1}, **more}
    record["item"].append(line)
    return record


def synthea_with_b12(system: str = HCPCS, *, eob: bool = False,
                     claim: bool = True) -> list[Resource]:
    """The patient's records with the J3420 line on the claim cb849da6, on its EOB, or both."""
    resources = patient_records()
    if claim:
        _b12_line(_real(resources, "Claim", CLAIM), system)
    if eob:
        record = _real(resources, "ExplanationOfBenefit", EOB)
        _b12_line(record, system, servicedPeriod=record["item"][0]["servicedPeriod"])
    return [*resources, pernicious_anemia(), injection()]


def check(resources: list[Resource], zone: str | None = None) -> Report:
    mappings = load_mappings()
    policy = Policy.from_mappings(mappings, mappings.thresholds,
                                  ZoneInfo(zone) if zone else None)
    report = Report()
    Driver(MemorySource(copy.deepcopy(resources)), policy, mappings, [report]).run()
    return report


def result(report: Report, ref: str) -> ClaimResult:
    return next(r for r in report.claims if r.claim == ref)


def _codes(result_: ClaimResult) -> set[str]:
    return {f.code for f in result_.findings}


# A Synthea claim: diagnoses only by reference to SNOMED Conditions

def test_a_synthea_claim_is_judged_on_the_code_of_the_condition_it_references():
    report = check(synthea_with_b12())
    checked = result(report, f"Claim/{CLAIM}")
    assert report.errors == []
    assert checked.service_date.isoformat() == DAY  # billablePeriod.start: no line date
    assert checked.verdict == "supported", checked.findings
    [derived] = [f for f in checked.findings if f.code == "dx-derived"]
    assert (derived.diagnosis, derived.evidence) == ("D51.0", ("Condition/b12pa-0001",))
    # diabetes and anemia (SNOMED, no ICD-10-CM map) are neither invalid nor derived; in
    # 2010 no ICD-10-CM release was in force: judged with the oldest shipped (SPEC 4.3)
    assert _codes(checked) == {"dx-derived", "code-set-missing"}
    [missing] = [f for f in checked.findings if f.code == "code-set-missing"]
    assert missing.message.startswith("no ICD-10-CM release was in force then")
    assert "judged with FY2021" in missing.message


def test_the_same_synthea_claim_without_the_mapped_condition_has_no_indication():
    resources = [r for r in synthea_with_b12() if r.get("id") != "b12pa-0001"]
    checked = result(check(resources), f"Claim/{CLAIM}")
    assert {"dx-no-indication", "item-dx-link"} <= _codes(checked)
    assert "dx-invalid" not in _codes(checked)


def test_the_patients_other_claims_and_eobs_are_skipped_with_a_reason():
    report = check(synthea_with_b12())
    records = [r for r in patient_records() if r["resourceType"] in
               ("Claim", "ExplanationOfBenefit")]
    assert len(report.claims) + len(report.skipped) == len(records)
    assert {s.reason for s in report.skipped} == {"no B12 injection item"}


# Payer data: ExplanationOfBenefit checked like a Claim

def test_a_synthea_eob_is_checked_like_its_claim_and_judged_on_the_line_date():
    report = check(synthea_with_b12(eob=True, claim=False))
    checked = result(report, f"ExplanationOfBenefit/{EOB}")
    assert checked.service_date.isoformat() == DAY  # its billablePeriod runs a whole year
    assert checked.verdict == "supported"
    assert _codes(checked) == {"dx-derived", "code-set-missing"}  # 2010: before ICD-10-CM


def test_an_eob_finding_implicates_the_eob():
    resources = [r for r in synthea_with_b12(eob=True, claim=False)
                 if r["resourceType"] != "MedicationAdministration"]
    checked = result(check(resources), f"ExplanationOfBenefit/{EOB}")
    missing = next(f for f in checked.findings if f.code == "admin-missing")
    issue = build_detected_issue(checked, missing, datetime(2026, 1, 1, tzinfo=UTC))
    assert issue["implicated"][0]["reference"].startswith(f"ExplanationOfBenefit/{EOB}")


# J3420 under every HCPCS system real data uses, and with none

@pytest.mark.parametrize("system", [
    "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
    "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
    "https://bluebutton.cms.gov/resources/codesystem/hcpcs",
    "urn:oid:2.16.840.1.113883.6.285", "urn:oid:2.16.840.1.113883.6.14", None,
])
def test_j3420_is_read_under_every_hcpcs_system_and_with_none(system):
    resources = synthea_with_b12()
    line = _real(resources, "Claim", CLAIM)["item"][-1]["productOrService"]["coding"][0]
    if system is None:
        del line["system"]
    else:
        line["system"] = system
    assert f"Claim/{CLAIM}" in {r.claim for r in check(resources).claims}


# The injection: a Medication resource (Epic), NDC forms, the clinic's day

def test_an_administration_naming_a_medication_resource_is_the_injection():
    given = injection(medicationReference={"reference": "Medication/b12med-1"})
    del given["medicationCodeableConcept"]
    resources = [given, *[r for r in synthea_with_b12()
                          if r["resourceType"] != "MedicationAdministration"],
                 b.medication("b12med-1")]  # read after the administration that names it
    checked = result(check(resources), f"Claim/{CLAIM}")
    assert "admin-missing" not in _codes(checked)


def test_a_medication_resource_not_in_the_source_is_an_error_naming_it():
    given = injection(medicationReference={"reference": "Medication/nowhere"})
    del given["medicationCodeableConcept"]
    resources = [given, *[r for r in synthea_with_b12()
                          if r["resourceType"] != "MedicationAdministration"]]
    report = check(resources)
    assert [(e.resource, "Medication/nowhere" in e.message) for e in report.errors] == [
        ("MedicationAdministration/b12adm-0001", True)]
    assert "admin-missing" in _codes(result(report, f"Claim/{CLAIM}"))


@pytest.mark.parametrize("ndc", ["00517003125", "00517-0031-25", "0517-0031-25",
                                 "63323-044-44", "70710-1663-7", "0517003125"])
def test_an_injection_coded_by_ndc_in_any_form_is_found(ndc):
    given = injection(medicationCodeableConcept={"coding": [{"system": b.NDC, "code": ndc}]})
    resources = [given if r["resourceType"] == "MedicationAdministration" else r
                 for r in synthea_with_b12()]
    assert "admin-missing" not in _codes(result(check(resources), f"Claim/{CLAIM}"))


def test_an_injection_at_19_30_eastern_stored_as_00_30z_counts_on_the_clinics_day():
    resources = [injection(when="2010-11-29T00:30:00Z")
                 if r["resourceType"] == "MedicationAdministration" else r
                 for r in synthea_with_b12()]
    # SPEC 4.1 "Times" (amended, issue 25): without a zone the UTC instant is ambiguous and
    # counts on each day it may be at the clinic, the run saying it guessed
    utc_day = result(check(resources), f"Claim/{CLAIM}")
    assert "admin-missing" not in _codes(utc_day) and utc_day.zone_guessed
    clinic_day = result(check(resources, zone="America/New_York"), f"Claim/{CLAIM}")
    assert "admin-missing" not in _codes(clinic_day)


def test_without_a_time_zone_a_timestamp_counts_on_the_day_its_offset_says():
    resources = [injection(when="2010-11-28T19:30:00-05:00")
                 if r["resourceType"] == "MedicationAdministration" else r
                 for r in synthea_with_b12()]
    assert "admin-missing" not in _codes(result(check(resources), f"Claim/{CLAIM}"))


# Lab values as text, UCUM by OID

@pytest.mark.parametrize("text, low", [("<150", True), ("< 150 pg/mL", True), ("<200", True),
                                       (">450", False), ("<250", False), ("<150 pmol/L", False)])
def test_a_b12_result_written_as_text_with_a_comparator(text, low):
    lab = b.lab("o1", "p1", "b12", None, None, "2026-02-10", value_string=text)
    found = codes(*replace(clean_chart(), lab))
    assert ("lab-not-low" not in found) is low and "lab-missing" not in found


def test_a_b12_result_with_a_quantity_comparator_decides_when_the_bound_does():
    low = b.lab("o1", "p1", "b12", 180, "pg/mL", "2026-02-10", comparator="<")
    high = b.lab("o1", "p1", "b12", 180, "pg/mL", "2026-02-10", comparator=">")
    assert "lab-not-low" not in codes(*replace(clean_chart(), low))
    assert "lab-not-low" in codes(*replace(clean_chart(), high))


def test_ucum_written_as_its_oid_is_read():
    lab = b.lab("o1", "p1", "b12", 150, "pg/mL", "2026-02-10")
    lab["valueQuantity"]["system"] = "urn:oid:2.16.840.1.113883.6.8"
    report = run(*replace(clean_chart(), lab))
    assert report.errors == [] and {f.code for f in report.claims[0].findings} == set()


# Which claims: preauthorizations are not claims for a service given

@pytest.mark.parametrize("use", ["preauthorization", "predetermination"])
def test_a_preauthorization_is_skipped_not_judged(use):
    report = run(*replace(clean_chart(), b.claim("k1", "p1", SERVICE, use=use)))
    assert report.claims == []
    assert [(s.claim, s.reason) for s in report.skipped] == [
        ("Claim/k1", f"use is {use}: not a claim for a service given")]


# Code forms: ICD-10-CM dotted only from ICD-10-CM systems

def test_an_undotted_icd10cm_code_is_read_dotted():
    claim = b.claim("k1", "p1", SERVICE, supporting=("Condition/c1", "Observation/o1"))
    claim["diagnosis"][0]["diagnosisCodeableConcept"]["coding"][0]["code"] = "E538"
    assert codes(*replace(clean_chart(), claim)) == set()


@pytest.mark.parametrize("system", [HCPCS, "http://www.ama-assn.org/go/cpt", None])
def test_a_hcpcs_code_in_a_diagnosis_is_never_dotted_into_icd10cm(system):
    claim = b.claim("k1", "p1", SERVICE, diagnoses=("E53.8", "E53.8"), pointers=(1,),
                    supporting=("Condition/c1", "Observation/o1"))
    coding: dict[str, str] = {"code": "J1100"}
    if system:
        coding["system"] = system
    claim["diagnosis"][1]["diagnosisCodeableConcept"]["coding"] = [coding]
    f = finding(replace(clean_chart(), claim), "dx-invalid")
    assert f.diagnosis == "J1100" and "J11.00" not in f.message
