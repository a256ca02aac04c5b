"""Statuses as servers store them (SERVERS.md: codes are not validated): a status written in
another case or with spaces is read as its code, and one that is no FHIR code of its element
is an error naming the resource and the element (SPEC 7: an unknown code is reported), never
a status read as another ("Refuted" counted as confirmed). Each case runs through the command
line on a typed Bulk export and on the same resources as one Bundle: the reports agree."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fixtures import builders as b
from tests.layouts import check_both, errors, finding_codes, only_claim, with_changes
from tests.scenario import clean_chart


def _concept(code: str) -> dict[str, Any]:
    return {"coding": [{"code": code}]}


@pytest.mark.parametrize(("rtype", "changes"), [
    ("Condition", {"clinicalStatus": _concept("Active")}),
    ("Condition", {"clinicalStatus": _concept("ACTIVE")}),
    ("Condition", {"verificationStatus": _concept("Confirmed")}),
    ("Observation", {"status": "Final"}),
    ("Observation", {"status": "final "}),
    ("MedicationAdministration", {"status": "Completed"}),
    ("MedicationAdministration", {"status": " completed"}),
    ("Claim", {"status": "Active"}),
    ("Claim", {"use": "CLAIM"}),
], ids=lambda value: json.dumps(value) if isinstance(value, dict) else value)
def test_a_status_in_another_case_or_with_spaces_is_read_as_its_code(tmp_path, capsys, rtype,
                                                                     changes):
    status, report = check_both(tmp_path, capsys, with_changes(clean_chart(), rtype, **changes))
    assert (status, only_claim(report)["verdict"], report["errors"]) == (0, "supported", [])


def test_a_refuted_condition_in_capitals_does_not_count(tmp_path, capsys):
    refuted = with_changes(clean_chart(), "Condition", verificationStatus=_concept("Refuted"))
    status, report = check_both(tmp_path, capsys, refuted)
    assert "dx-not-documented" in finding_codes(report) and not report["errors"]
    assert status == 0


@pytest.mark.parametrize(("rtype", "changes", "element", "finding"), [
    ("Condition", {"verificationStatus": _concept("bogus")}, "verificationStatus 'bogus'",
     "dx-not-documented"),
    ("Condition", {"clinicalStatus": _concept("Activ")}, "clinicalStatus 'Activ'",
     "dx-not-documented"),
    ("Observation", {"status": "done"}, "status 'done'", "lab-missing"),
    ("MedicationAdministration", {"status": "given"}, "status 'given'", "admin-missing"),
])
def test_a_status_that_is_no_fhir_code_is_an_error_naming_it(tmp_path, capsys, rtype, changes,
                                                             element, finding):
    status, report = check_both(tmp_path, capsys, with_changes(clean_chart(), rtype, **changes))
    ref = next(f"{rtype}/{r['id']}" for r in clean_chart() if r["resourceType"] == rtype)
    assert errors(report)[ref].startswith(f"{element} is not one of its FHIR codes (")
    assert finding in finding_codes(report)  # the resource is not evidence
    assert status == 1


def test_a_claim_status_in_capitals_skips_it_in_every_layout(tmp_path, capsys):
    chart = clean_chart()
    other = b.claim("k2", "p1", "2026-03-02", product=("http://www.ama-assn.org/go/cpt",
                                                       "99213"))  # no B12 billed
    cancelled = [*with_changes(chart, "Claim", status="Cancelled"),
                 {**other, "status": "CANCELLED"}]
    status, report = check_both(tmp_path, capsys, cancelled)
    assert (status, report["claims"]) == (0, [])
    assert {s["claim"]: s["reason"] for s in report["skipped"]} == {
        "Claim/k1": "claim status is cancelled", "Claim/k2": "claim status is cancelled"}


def test_an_unknown_claim_status_is_an_error_only_on_a_claim_that_bills_b12(tmp_path, capsys):
    other = b.claim("k2", "p1", "2026-03-02", product=("http://www.ama-assn.org/go/cpt",
                                                       "99213"))  # no B12 billed
    resources = [*with_changes(clean_chart(), "Claim", status="paid"), {**other, "status": "paid"}]
    status, report = check_both(tmp_path, capsys, resources)
    assert errors(report) == {"Claim/k1": "status 'paid' is not one of its FHIR codes (active, "
                               "cancelled, draft, entered-in-error): what it says cannot be told"}
    assert report["skipped"] == [{"claim": "Claim/k2", "reason": "no B12 injection item"}]
    assert status == 1
