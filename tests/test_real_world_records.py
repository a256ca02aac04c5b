"""Issue 25, "Files and records": what real exports and hostile files broke, each reproduced
first, through the command line on the files a user has."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from adapter.cli import main
from fixtures import builders as b
from tests.scenario import SERVICE, clean_chart
from tests.scenario import replace as scenario_replace

Resource = dict[str, Any]
PAYER = Path(__file__).parent.parent / "fixtures" / "payer-examples"


def _check(capsys: pytest.CaptureFixture[str], source: Path, *argv: str
           ) -> tuple[int, dict[str, Any], str]:
    status = main(["check", "--source", str(source), "--format", "json", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return status, (json.loads(out) if out.strip() else {}), err


def _ndjson_dir(directory: Path, resources: list) -> Path:
    return b.write_bulk(directory, resources)


def _bundle(resources: list[Resource]) -> Resource:
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": r} for r in resources]}


def _errors(report: dict[str, Any]) -> dict[str, str]:
    return {e["resource"]: e["message"] for e in report["errors"]}


def _claim(report: dict[str, Any], ref: str = "Claim/k1") -> dict[str, Any]:
    return next(c for c in report["claims"] if c["claim"] == ref)


def _codes(report: dict[str, Any], ref: str = "Claim/k1") -> set[str]:
    return {f["code"] for f in _claim(report, ref)["findings"]}


# --- A dose of 1e308 mg ------------------------------------------------------------------


def test_a_dose_that_overflows_in_micrograms_is_a_named_bad_value(tmp_path, capsys):
    chart = clean_chart()
    chart[3] = b.administration("a1", "p1", SERVICE, dose=1e308, unit="mg")
    status, report, _ = _check(capsys, _ndjson_dir(tmp_path / "export", chart))
    assert status == 1
    assert "too large" in _errors(report)["MedicationAdministration/a1"]
    assert "admin-missing" not in _codes(report)  # given; only its dose is unknown


def test_a_large_dose_that_converts_is_read(tmp_path, capsys):
    chart = clean_chart(units=5)
    chart[3] = b.administration("a1", "p1", SERVICE, dose=5, unit="mg")
    status, report, _ = _check(capsys, _ndjson_dir(tmp_path / "export", chart))
    assert status == 0 and report["errors"] == []
    assert "dose-units-mismatch" not in _codes(report)


# --- A Bulk manifest naming the exporting server's URLs -----------------------------------


def _manifest(directory: Path, base: str) -> None:
    """An export manifest as the server wrote it: its own URLs; ``{n}`` in ``base`` numbers
    the files as a server's storage names them (the files beside it carry their type's name,
    as a downloader saves them)."""
    outputs = [{"type": path.name.split(".")[0],
                "url": base.format(n=n) if "{n}" in base else f"{base}{path.name}"}
               for n, path in enumerate(sorted(directory.glob("*.ndjson")))]
    (directory / "manifest.json").write_text(json.dumps({
        "transactionTime": "2026-03-05T00:00:00Z", "request": "https://fhir.example.org/$export",
        "requiresAccessToken": True, "output": outputs, "error": []}))


@pytest.mark.parametrize("base", ["https://fhir.example.org/bulk/9c1f/",
                                  "https://storage.example.org/binary/9c1f/{n}.ndjson?Expires=1",
                                  ""])
def test_a_manifest_of_absolute_urls_reads_the_files_beside_it(tmp_path, capsys, base):
    directory = _ndjson_dir(tmp_path / "export", clean_chart())
    _manifest(directory, base)
    status, report, _ = _check(capsys, directory)
    assert status == 0, report
    assert _claim(report)["verdict"] == "supported"


def test_a_manifest_whose_file_is_not_beside_it_is_refused(tmp_path, capsys):
    directory = _ndjson_dir(tmp_path / "export", clean_chart())
    _manifest(directory, "https://fhir.example.org/bulk/")
    (directory / "Observation.ndjson").unlink()
    status, _, err = _check(capsys, directory)
    assert status == 2 and "Observation.ndjson" in err


# --- The same id twice ---------------------------------------------------------------------


def test_two_conditions_with_the_same_id_are_named(tmp_path, capsys):
    twin = b.condition("c1", "p1", icd="K90.0")
    status, report, _ = _check(capsys, _ndjson_dir(tmp_path / "export", [*clean_chart(), twin]))
    assert status == 1
    assert "second Condition with this id" in _errors(report)["Condition/c1"]


def test_the_same_condition_in_two_bundles_is_not_named(tmp_path, capsys):
    """A resource repeated verbatim (a chart in two Bundles of a directory) is the same record."""
    directory = tmp_path / "bundles"
    directory.mkdir()
    chart = clean_chart()
    for n, part in enumerate((chart[:2], chart[1:])):
        (directory / f"b{n}.json").write_text(json.dumps(_bundle(part)))
    status, report, _ = _check(capsys, directory)
    assert status == 0 and report["errors"] == []


# --- A JSON array of resources ---------------------------------------------------------------


def test_a_file_holding_a_json_array_of_resources_is_read(tmp_path, capsys):
    path = tmp_path / "chart.json"
    path.write_text(json.dumps(clean_chart()))
    status, report, _ = _check(capsys, path)
    assert status == 0, report
    assert _claim(report)["verdict"] == "supported"


def test_a_json_array_of_things_not_resources_names_each(tmp_path, capsys):
    path = tmp_path / "chart.json"
    path.write_text(json.dumps([*clean_chart(), {"id": "x"}, 7]))
    status, report, _ = _check(capsys, path)
    assert status == 1
    assert _claim(report)["verdict"] == "supported"
    assert {e["resource"] for e in report["errors"]} == {"chart.json[5]", "chart.json[6]"}


# --- medicationReference to urn:uuid in the same Bundle --------------------------------------


def _transaction(resources: list[Resource]) -> Resource:
    """A Synthea-style Bundle: every entry under a urn:uuid fullUrl, references written so."""
    urls = {f"{r['resourceType']}/{r['id']}": f"urn:uuid:0000-{r['id']}" for r in resources}
    text = json.dumps(resources)
    for ref, url in urls.items():
        text = text.replace(f'"{ref}"', f'"{url}"')
    return {"resourceType": "Bundle", "type": "transaction",
            "entry": [{"fullUrl": urls[f"{r['resourceType']}/{r['id']}"], "resource": r}
                      for r in json.loads(text)]}


def test_a_medication_reference_by_urn_uuid_is_resolved(tmp_path, capsys):
    chart = clean_chart()
    chart[3] = b.administration("a1", "p1", SERVICE, medication="Medication/m1")
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(_transaction([*chart, b.medication("m1")])))
    status, report, _ = _check(capsys, path)
    assert status == 0, report
    assert "admin-missing" not in _codes(report)


def test_a_medication_reference_by_absolute_url_is_resolved(tmp_path, capsys):
    chart = clean_chart()
    chart[3] = b.administration("a1", "p1", SERVICE,
                                medication="https://fhir.example.org/r4/Medication/m1")
    bundle = _bundle([*chart, b.medication("m1")])
    for entry in bundle["entry"]:
        resource = entry["resource"]
        entry["fullUrl"] = f"https://fhir.example.org/r4/{resource['resourceType']}/{resource['id']}"
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    status, report, _ = _check(capsys, path)
    assert status == 0, report
    assert "admin-missing" not in _codes(report)


def test_an_unresolvable_urn_medication_reference_is_named(tmp_path, capsys):
    chart = clean_chart()
    chart[3] = b.administration("a1", "p1", SERVICE, medication="Medication/m1")
    bundle = _transaction([*chart, b.medication("m1")])
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Medication"]
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    status, report, _ = _check(capsys, path)
    assert status == 1
    message = _errors(report)["MedicationAdministration/a1"]
    assert "urn:uuid:0000-m1" in message and "not in" in message


# --- Same code twice (SPEC 4.1) ------------------------------------------------------------


def test_the_same_code_twice_on_a_claim_is_judged_once(tmp_path, capsys):
    chart = clean_chart(diagnoses=("D51.0", "D51.0"))  # billed above the chart's E53.8
    out = tmp_path / "out"
    _, report, _ = _check(capsys, _ndjson_dir(tmp_path / "export", chart), "--out", str(out))
    findings = [(f["code"], f["diagnosis"]) for f in _claim(report)["findings"]]
    assert findings.count(("dx-more-specific-than-chart", "D51.0")) == 1
    assert len(findings) == len(set(findings))
    issues = [json.loads(line) for line in (out / "DetectedIssue.ndjson").read_text().splitlines()]
    identifiers = [i["identifier"][0]["value"] for i in issues]
    assert identifiers and len(identifiers) == len(set(identifiers))


# --- Real payer EOBs: lines without pointers, J3420 under CPT (SPEC 4.1) -------------------


def _carin_b12(tmp_path: Path, pointers: bool) -> Path:
    """The CARIN Blue Button professional EOB example, its line made a J3420 injection as
    the IG's examples send it (under the CPT system, no diagnosisSequence), with its patient's
    chart beside it."""
    eob = json.loads((PAYER / "carin-bb" / "ExplanationOfBenefit_ProfessionalEOBExample1.json")
                     .read_text())
    eob = copy.deepcopy(eob)
    day = eob["item"][0].get("servicedDate") or eob["billablePeriod"]["start"]
    pid = eob["patient"]["reference"].split("/")[-1]
    eob["item"] = [{**eob["item"][0], "productOrService": {"coding": [
        {"system": "http://www.ama-assn.org/go/cpt", "code": "J3420"}]},
        "servicedDate": day, "quantity": {"value": 1}}]
    eob["item"][0].pop("diagnosisSequence", None)
    eob["item"][0].pop("servicedPeriod", None)
    if pointers:
        eob["item"][0]["diagnosisSequence"] = [99]
    eob["diagnosis"] = [{"sequence": 1, "diagnosisCodeableConcept": {"coding": [
        {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "E538"}]},
        "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/ex-diagnosistype",
                              "code": "principal"}]}]}]
    chart = [b.patient(pid), b.condition("c1", pid, icd="E53.8"),
             b.lab("o1", pid, "b12", 150, "pg/mL", day),
             b.administration("a1", pid, day), eob]
    return _ndjson_dir(tmp_path / "export", chart)


def test_a_carin_eob_line_without_pointers_and_j3420_under_cpt_is_checked(tmp_path, capsys):
    directory = _carin_b12(tmp_path, pointers=False)
    _, report, _ = _check(capsys, directory)
    eob = report["claims"][0]
    assert eob["claim"].startswith("ExplanationOfBenefit/")
    codes = {f["code"] for f in eob["findings"]}
    assert "item-dx-link" not in codes
    assert "admin-missing" not in codes and "lab-missing" not in codes


def test_a_carin_eob_line_pointing_at_nothing_is_still_item_dx_link(tmp_path, capsys):
    _, report, _ = _check(capsys, _carin_b12(tmp_path, pointers=True))
    assert "item-dx-link" in {f["code"] for f in report["claims"][0]["findings"]}


# --- Times: an injection stamped in UTC on the evening of the service date -----------------


def test_an_evening_injection_in_utc_counts_on_the_service_date(tmp_path, capsys):
    chart = clean_chart()
    chart[3] = b.administration("a1", "p1", "2026-03-03T00:30:00Z")  # 19:30 EST on 03-02
    _, report, err = _check(capsys, _ndjson_dir(tmp_path / "export", chart))
    assert "admin-missing" not in _codes(report)
    assert "facility_timezone" in err


def test_a_utc_injection_two_days_off_is_missing(tmp_path, capsys):
    chart = clean_chart()
    chart[3] = b.administration("a1", "p1", "2026-03-04T00:30:00Z")
    _, report, _ = _check(capsys, _ndjson_dir(tmp_path / "export", chart))
    assert "admin-missing" in _codes(report)


def test_a_guessed_day_is_said_once_in_the_report(tmp_path, capsys):
    chart = clean_chart()
    chart[3] = b.administration("a1", "p1", "2026-03-03T00:30:00Z")
    second = [b.patient("p2"), b.condition("c2", "p2"),
              b.lab("o2", "p2", "b12", 150, "pg/mL", "2026-02-10"),
              b.administration("a2", "p2", "2026-03-03T01:00:00+00:00"),
              b.claim("k2", "p2", SERVICE, supporting=("Condition/c2", "Observation/o2"))]
    _, report, err = _check(capsys, _ndjson_dir(tmp_path / "export", [*chart, *second]))
    assert len(report["notes"]) == 1 and "facility_timezone" in report["notes"][0]
    assert err.count("b12-adapter: note:") == 1


@pytest.mark.parametrize(("zone", "missing"), [("America/New_York", False),
                                               ("Asia/Tokyo", True)])
def test_with_a_facility_timezone_nothing_is_guessed(tmp_path, capsys, zone, missing):
    chart = clean_chart()
    chart[3] = b.administration("a1", "p1", "2026-03-03T00:30:00Z")
    _, report, err = _check(capsys, _ndjson_dir(tmp_path / "export", chart),
                            "--facility-timezone", zone)
    assert ("admin-missing" in _codes(report)) is missing
    assert "notes" not in report and "facility_timezone" not in err


def test_an_injection_stamped_on_the_day_is_no_guess(tmp_path, capsys):
    chart = clean_chart()
    chart[3] = b.administration("a1", "p1", "2026-03-02T15:00:00Z")
    _, report, err = _check(capsys, _ndjson_dir(tmp_path / "export", chart))
    assert _claim(report)["verdict"] == "supported"
    assert "notes" not in report and "facility_timezone" not in err


def _lab_at(when: str, kind: str = "b12", dx: str = "E53.8") -> list[Resource]:
    chart = clean_chart(dx=dx)
    if kind == "b12":
        return scenario_replace(chart, b.lab("o1", "p1", "b12", 150, "pg/mL", when))
    return scenario_replace(chart, b.lab("h1", "p1", "hemoglobin", 10.9, "g/dL", when))


def test_an_evening_lab_in_utc_is_before_the_service_date(tmp_path, capsys):
    # 00:30Z on 03-03 is the evening of 03-02 in the Americas: on or before the claim's day
    _, report, err = _check(capsys, _ndjson_dir(tmp_path / "export", _lab_at(
        "2026-03-03T00:30:00Z")))
    assert "lab-missing" not in _codes(report) and _claim(report)["verdict"] == "supported"
    assert "facility_timezone" in err and len(report["notes"]) == 1


def test_an_evening_hemoglobin_in_utc_shows_the_anemia(tmp_path, capsys):
    chart = _lab_at("2026-03-03T00:30:00Z", "hemoglobin", "D51.0")
    _, report, err = _check(capsys, _ndjson_dir(tmp_path / "export", chart))
    assert "anemia-not-supported" not in _codes(report)
    assert "facility_timezone" in err


def test_a_utc_lab_two_days_after_is_still_missing(tmp_path, capsys):
    _, report, err = _check(capsys, _ndjson_dir(tmp_path / "export", _lab_at(
        "2026-03-04T00:30:00Z")))
    assert "lab-missing" in _codes(report)
    assert "notes" not in report and "facility_timezone" not in err


@pytest.mark.parametrize(("zone", "missing"), [("America/New_York", False),
                                               ("Asia/Tokyo", True)])
def test_with_a_facility_timezone_a_lab_day_is_not_guessed(tmp_path, capsys, zone, missing):
    _, report, err = _check(capsys, _ndjson_dir(tmp_path / "export", _lab_at(
        "2026-03-03T00:30:00Z")), "--facility-timezone", zone)
    assert ("lab-missing" in _codes(report)) is missing
    assert "notes" not in report and "facility_timezone" not in err


def test_a_utc_lab_that_decides_nothing_is_no_guess(tmp_path, capsys):
    # the low B12 of 02-10 backs the claim: a normal one of 03-03T00:30Z changes no finding
    chart = [*clean_chart(), b.lab("o2", "p1", "b12", 500, "pg/mL", "2026-03-03T00:30:00Z")]
    _, report, err = _check(capsys, _ndjson_dir(tmp_path / "export", chart))
    assert _claim(report)["verdict"] == "supported"
    assert "notes" not in report and "facility_timezone" not in err


def test_a_utc_lab_a_day_before_the_lookback_counts_in_it(tmp_path, capsys):
    # the 365-day window opens 2025-03-02; 22:00Z on 03-01 is 03-02 from UTC+2 on
    _, report, err = _check(capsys, _ndjson_dir(tmp_path / "export", _lab_at(
        "2025-03-01T22:00:00Z")))
    assert "lab-missing" not in _codes(report) and "facility_timezone" in err


# --- ICD-10-CM codes with a letter second (QA0, genetic disorders, FY2026) ----------------


@pytest.mark.parametrize(("written", "day", "invalid"), [
    ("QA0.8", "2026-06-01", False), ("QA08", "2026-06-01", False),  # 837 style, undotted
    ("QA0.0101", "2026-06-01", False),
    ("QA0.8", "2025-06-01", True),  # before QA0 was in force: the April 2025 release
    ("QA0.01", "2026-06-01", True),  # a category
])
def test_a_code_with_a_letter_second_is_judged_by_its_release(tmp_path, capsys, written, day,
                                                               invalid):
    dx = ("E53.8", written)
    chart = [*clean_chart()[:3], b.administration("a1", "p1", day),
             b.claim("k1", "p1", day, diagnoses=dx,
                     supporting=("Condition/c1", "Observation/o1"))]
    _, report, _ = _check(capsys, _ndjson_dir(tmp_path / "export", chart))
    dx_invalid = [f["diagnosis"] for f in _claim(report)["findings"] if f["code"] == "dx-invalid"]
    assert dx_invalid == ([written] if invalid else [])


# --- Our own data: the demo is valid FHIR (Medplum refused EOB e44) -------------------------


def test_every_demo_resource_is_valid_fhir():
    from fhir.resources.R4B import get_fhir_model_class

    demo = Path(__file__).parent.parent / "fixtures" / "demo"
    invalid = []
    for path in sorted(demo.glob("*.ndjson")):
        for line in path.read_text().splitlines():
            resource = json.loads(line)
            try:
                get_fhir_model_class(resource["resourceType"]).model_validate(resource)
            except ValueError as exc:
                invalid.append(f"{resource['resourceType']}/{resource['id']}: {exc}"[:300])
    assert invalid == []
    eob = json.loads((demo / "ExplanationOfBenefit.ndjson").read_text())
    assert eob["insurer"] and eob["outcome"] == "complete"  # what R4 requires of an EOB


def test_a_cms_carrier_eob_listing_the_same_code_twice_is_judged_once(tmp_path, capsys):
    """The CMS Blue Button carrier EOB as the server answers it (every diagnosis coded twice,
    ICD-10-CM and ICD-10), its first line made a J3420 and D51.0 put in two slots."""
    eob = json.loads((PAYER / "cms-bfd" / "eobReadCarrierWithMultipleLines.json").read_text())
    day = eob["billablePeriod"]["start"]
    eob["created"] = day  # "IGNORED_FIELD" in their fixture
    eob["item"][0]["productOrService"] = {"coding": [
        {"system": "https://bluebutton.cms.gov/resources/codesystem/hcpcs", "code": "J3420"}]}
    for slot in (eob["diagnosis"][0], eob["diagnosis"][4]):
        for coding in slot["diagnosisCodeableConcept"]["coding"]:
            coding["code"] = "D51.0"
    pid = eob["patient"]["reference"].split("/")[-1]
    chart = [b.patient(pid), b.condition("c1", pid, icd="E53.8", onset="1999-01-04"),
             b.lab("o1", pid, "b12", 150, "pg/mL", day), b.administration("a1", pid, day), eob]
    out = tmp_path / "out"
    _, report, _ = _check(capsys, _ndjson_dir(tmp_path / "export", chart), "--out", str(out))
    findings = [(f["code"], f["diagnosis"]) for f in report["claims"][0]["findings"]]
    assert findings.count(("anemia-not-supported", "D51.0")) == 1
    assert findings.count(("dx-more-specific-than-chart", "D51.0")) == 1
    assert len(findings) == len(set(findings))
    issues = [json.loads(line) for line in (out / "DetectedIssue.ndjson").read_text().splitlines()]
    identifiers = [i["identifier"][0]["value"] for i in issues]
    assert identifiers and len(identifiers) == len(set(identifiers))
