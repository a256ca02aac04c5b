"""How a claim finds its evidence (SPEC section 3), its scope, and bad input."""

from __future__ import annotations

from adapter.evidence.facts import Path
from adapter.evidence.gather import gather
from adapter.evidence.read import read_claim
from fixtures import builders as b
from tests.scenario import SERVICE, clean_chart, codes, replace, run, without


def _evidence(resources):
    from adapter.evidence.chart import Chart
    from adapter.mappings import load_mappings

    mappings = load_mappings()
    chart = Chart(mappings)
    claim = None
    for resource in resources:
        if resource["resourceType"] == "Claim":
            claim = read_claim(resource, mappings)
        else:
            chart.add(resource)
    assert claim is not None
    return gather(claim, chart)


def _paths(evidence, kind):
    return {item.fact.ref: item.path for item in getattr(evidence, kind)}


# Linking paths

def test_supporting_info_links_conditions_and_labs():
    ev = _evidence(clean_chart())
    assert _paths(ev, "conditions") == {"Condition/c1": Path.LINKED}
    assert _paths(ev, "labs") == {"Observation/o1": Path.LINKED}


def test_record_only_evidence_is_marked_as_found_in_the_record():
    ev = _evidence(clean_chart(supporting=()))
    assert _paths(ev, "conditions") == {"Condition/c1": Path.RECORD}
    assert _paths(ev, "labs") == {"Observation/o1": Path.RECORD}


def test_condition_evidence_detail_links_its_observation():
    resources = replace(clean_chart(supporting=("Condition/c1",)),
                        b.condition("c1", "p1", icd="E53.8", evidence=("o1",)))
    assert _paths(_evidence(resources), "labs") == {"Observation/o1": Path.LINKED}


def test_administration_reason_links_the_condition_and_encounter_links_the_administration():
    resources = replace(clean_chart(supporting=(), encounter="e1"),
                        b.administration("a1", "p1", SERVICE, context="e1", reason="c1"))
    ev = _evidence(resources)
    assert _paths(ev, "administrations") == {"MedicationAdministration/a1": Path.LINKED}
    assert _paths(ev, "conditions") == {"Condition/c1": Path.LINKED}


def test_diagnosis_reference_gives_the_claim_the_conditions_icd10cm_code():
    ev = _evidence(clean_chart(diagnoses=("Condition/c1",), supporting=()))
    assert [d.code for d in ev.claim.diagnoses] == ["E53.8"]
    assert _paths(ev, "conditions") == {"Condition/c1": Path.LINKED}


def test_diagnosis_reference_to_a_snomed_only_condition_is_not_an_icd10cm_diagnosis():
    resources = replace(clean_chart(diagnoses=("Condition/c1",)),
                        b.condition("c1", "p1", snomed="190634004"))
    assert "dx-invalid" in codes(*resources)


def test_snomed_problem_list_documents_the_mapped_icd10cm_code():
    ev = _evidence(replace(clean_chart(), b.condition("c1", "p1", snomed="84027009")))
    assert ev.conditions[0].fact.codes == frozenset({"D51.0"})


def test_evidence_of_another_patient_is_refused_with_an_error():
    resources = [*clean_chart(supporting=("Observation/x9",)),
                 b.lab("x9", "p2", "b12", 100, "pg/mL", "2026-02-01")]
    report = run(*resources)
    assert any(e.resource == "Claim/k1" and "Patient/p2" in e.message for e in report.errors)
    assert "Observation/x9" not in {
        ref for f in report.claims[0].findings for ref in f.evidence}


# Service date

def test_service_date_prefers_the_item_then_billable_period_then_created():
    claim = b.claim("k1", "p1", "2026-03-02")
    claim["billablePeriod"] = {"start": "2026-02-01"}
    claim["created"] = "2026-01-01"
    from adapter.mappings import load_mappings
    mappings = load_mappings()
    assert str(read_claim(claim, mappings).service_date) == "2026-03-02"
    for item in claim["item"]:
        del item["servicedDate"]
    assert str(read_claim(claim, mappings).service_date) == "2026-02-01"
    del claim["billablePeriod"]
    assert str(read_claim(claim, mappings).service_date) == "2026-01-01"


# Scope

def test_claims_without_a_b12_item_or_in_a_closed_status_are_skipped():
    flu = b.claim("k2", "p1", SERVICE, product=(b.CPT, "90686"), extra_items=False)
    resources = [*clean_chart(), flu]
    for status in ("cancelled", "draft", "entered-in-error"):
        resources.append(b.claim(f"k-{status}", "p1", SERVICE, status=status))
    report = run(*resources)
    assert [c.claim for c in report.claims] == ["Claim/k1"]
    assert {(s.claim, s.reason) for s in report.skipped} == {
        ("Claim/k2", "no B12 injection item"),
        ("Claim/k-cancelled", "claim status is cancelled"),
        ("Claim/k-draft", "claim status is draft"),
        ("Claim/k-entered-in-error", "claim status is entered-in-error"),
    }


def test_an_rxnorm_or_ndc_b12_item_is_in_scope_and_https_hcpcs_is_accepted():
    for product in ((b.RXNORM, "309594"), (b.NDC, "63323-044-01"),
                    ("https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "J3420")):
        report = run(*clean_chart(product=product))
        assert len(report.claims) == 1, product


# Bad input: reported, the run goes on

def test_bad_resources_are_errors_and_the_other_claims_are_still_checked():
    bad_date = b.condition("c9", "p1", icd="E53.8", onset="2026-13-45")
    bad_value = b.lab("o9", "p1", "b12", 1, "pg/mL", "2026-02-01")
    bad_value["valueQuantity"]["value"] = "low"
    bad_unit = b.lab("o8", "p1", "b12", 150, "mg/dL", "2026-02-01")
    no_patient = b.claim("k2", "p1", SERVICE)
    del no_patient["patient"]
    missing_ref = b.claim("k3", "p1", SERVICE, supporting=("Observation/nope",))
    report = run(*clean_chart(), bad_date, bad_value, bad_unit, no_patient, missing_ref)
    errors = {e.resource: e.message for e in report.errors}
    assert "not a valid date" in errors["Condition/c9"]
    assert errors["Observation/o9"] == "valueQuantity.value is not a number: 'low'"
    assert "mg/dL" in errors["Observation/o8"]
    assert errors["Claim/k2"] == "Claim has no patient"
    assert "Observation/nope" in errors["Claim/k3"]
    assert [c.claim for c in report.claims] == ["Claim/k1", "Claim/k3"]
    assert report.claims[0].findings == ()


def test_a_lab_with_an_unconvertible_unit_gives_no_evidence():
    resources = replace(clean_chart(), b.lab("o1", "p1", "b12", 150, "mg/dL", "2026-02-10"))
    assert "lab-missing" in codes(*resources)


def test_unrelated_resources_are_ignored():
    resources = [*clean_chart(), b.lab("g1", "p1", "glucose", 300, "mg/dL", "2026-02-10"),
                 b.condition("c7", "p1", icd="I10"), {"resourceType": "Encounter", "id": "e1"}]
    report = run(*resources)
    assert report.errors == [] and report.claims[0].findings == ()


def test_missing_patient_resource_uses_the_unknown_sex_cutoff():
    resources = without(clean_chart(dx="D51.9"), "Patient", "p1")
    resources = replace(resources, b.lab("h1", "p1", "hemoglobin", 12.5, "g/dL", "2026-02-10"))
    assert "anemia-not-supported" in codes(*resources)


def test_every_finding_says_which_path_found_its_evidence():
    from datetime import UTC, datetime

    from adapter.output.detected_issue import build_detected_issue
    from adapter.output.table import render_table

    # the claim links the Condition (D51.0 documented, E53.8 billed); the B12 lab is unlinked
    resources = replace(clean_chart(supporting=("Condition/c1",)),
                        b.condition("c1", "p1", icd="D51.0"))
    resources = replace(resources, b.lab("o1", "p1", "b12", 350, "pg/mL", "2026-02-10"))
    report = run(*resources)
    result = report.claims[0]
    by_code = {f.code: f for f in result.findings}
    assert by_code["specificity-loss"].path_of("Condition/c1") == "linked"
    issue = build_detected_issue(result, by_code["specificity-loss"], datetime.now(UTC))
    assert issue["evidence"] == [{"code": [{"text": "linked from the claim or its linked "
                                                    "resources"}],
                                  "detail": [{"reference": "Condition/c1"}]}]
    record_only = run(*replace(clean_chart(supporting=()), b.lab(
        "o1", "p1", "b12", 350, "pg/mL", "2026-02-10")))
    not_low = next(f for f in record_only.claims[0].findings if f.code == "lab-not-low")
    assert not_low.path_of("Observation/o1") == "record"
    assert "Observation/o1 (record)" in render_table(record_only)
