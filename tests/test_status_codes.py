"""Statuses as servers store them (SERVERS.md: codes are not validated): a status written in
another case or with spaces is read as its code, and one that is no FHIR code of its element
is an error naming the resource and the element (SPEC 7: an unknown code is reported), never
a status read as another ("Refuted" counted as confirmed). Each case runs through the command
line on a typed Bulk export and on the same resources as one Bundle: the reports agree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adapter.cli import main
from fixtures import builders as b
from tests.scenario import clean_chart, replace

Resource = dict[str, Any]


def _check(tmp_path: Path, capsys: pytest.CaptureFixture[str], resources: list[Resource]
           ) -> tuple[int, dict[str, Any]]:
    """The report of ``resources`` as a typed export, after checking that the same resources
    in one Bundle give the same report."""
    typed = tmp_path / "typed"
    typed.mkdir()
    by_type: dict[str, list[str]] = {}
    for resource in resources:
        by_type.setdefault(resource["resourceType"], []).append(json.dumps(resource))
    for rtype, lines in by_type.items():
        (typed / f"{rtype}.ndjson").write_text("\n".join(lines) + "\n")
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps({"resourceType": "Bundle", "type": "collection",
                                  "entry": [{"resource": r} for r in resources]}))
    runs = []
    for source in (typed, bundle):
        status = main(["check", "--source", str(source), "--format", "json"])
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        runs.append((status, json.loads(out)))
    assert runs[0] == runs[1]
    return runs[0]


def _with(resources: list[Resource], rtype: str, **changes: Any) -> list[Resource]:
    """The chart with the first resource of ``rtype`` changed."""
    first = next(r for r in resources if r["resourceType"] == rtype)
    return replace(resources, {**first, **changes})


def _claim(report: dict[str, Any]) -> dict[str, Any]:
    [claim] = report["claims"]
    return claim


def _codes(report: dict[str, Any]) -> list[str]:
    return sorted(f["code"] for f in _claim(report)["findings"])


def _errors(report: dict[str, Any]) -> dict[str, str]:
    return {e["resource"]: e["message"] for e in report["errors"]}


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
    status, report = _check(tmp_path, capsys, _with(clean_chart(), rtype, **changes))
    assert (status, _claim(report)["verdict"], report["errors"]) == (0, "supported", [])


def test_a_refuted_condition_in_capitals_does_not_count(tmp_path, capsys):
    refuted = _with(clean_chart(), "Condition", verificationStatus=_concept("Refuted"))
    status, report = _check(tmp_path, capsys, refuted)
    assert "dx-not-documented" in _codes(report) and not report["errors"]
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
    status, report = _check(tmp_path, capsys, _with(clean_chart(), rtype, **changes))
    ref = next(f"{rtype}/{r['id']}" for r in clean_chart() if r["resourceType"] == rtype)
    assert _errors(report)[ref].startswith(f"{element} is not one of its FHIR codes (")
    assert finding in _codes(report)  # the resource is not evidence
    assert status == 1


def test_a_claim_status_in_capitals_skips_it_in_every_layout(tmp_path, capsys):
    chart = clean_chart()
    other = b.claim("k2", "p1", "2026-03-02", product=("http://www.ama-assn.org/go/cpt",
                                                       "99213"))  # no B12 billed
    cancelled = [*_with(chart, "Claim", status="Cancelled"),
                 {**other, "status": "CANCELLED"}]
    status, report = _check(tmp_path, capsys, cancelled)
    assert (status, report["claims"]) == (0, [])
    assert {s["claim"]: s["reason"] for s in report["skipped"]} == {
        "Claim/k1": "claim status is cancelled", "Claim/k2": "claim status is cancelled"}


def test_an_unknown_claim_status_is_an_error_only_on_a_claim_that_bills_b12(tmp_path, capsys):
    other = b.claim("k2", "p1", "2026-03-02", product=("http://www.ama-assn.org/go/cpt",
                                                       "99213"))  # no B12 billed
    resources = [*_with(clean_chart(), "Claim", status="paid"), {**other, "status": "paid"}]
    status, report = _check(tmp_path, capsys, resources)
    assert _errors(report) == {"Claim/k1": "status 'paid' is not one of its FHIR codes (active, "
                               "cancelled, draft, entered-in-error): what it says cannot be told"}
    assert report["skipped"] == [{"claim": "Claim/k2", "reason": "no B12 injection item"}]
    assert status == 1
