"""The file source's prefilter (adapter.evidence.needs.line_tests) never drops a line that
matters: the same report with and without it, on the demo, on every real export, on generated
exports and on the Synthea B12 scenario written in every valid way a line can be written."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from adapter.driver import Driver
from adapter.evidence.needs import LineTest, line_tests
from adapter.evidence.read_claims import claim_links, line_links
from adapter.file_plan import FilePlan
from adapter.mappings import load_mappings
from adapter.output.report import Report
from adapter.rules import Policy
from adapter.sources.base import Reads, Records
from adapter.sources.files import FileSource
from bench.generate import generate
from fixtures import builders as b
from tests.test_real_records import PID, SYNTHEA, synthea_with_b12

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "fixtures" / "realdata"
Resource = dict[str, Any]


class Unfiltered(FileSource):
    """Every line of every file parsed, as before the prefilter."""

    def records(self, reads: Reads) -> Records:
        return super().records(Reads())


def _report(source: FileSource, plan: bool = True) -> dict:
    """The report of a run as ``check`` makes it (``plan``: the file plan's claims pre-scan,
    which passes over unbilled claim lines and other patients' records), or with no plan."""
    mappings = load_mappings()
    report = Report()
    Driver(source, Policy.from_mappings(mappings, mappings.thresholds), mappings, [report],
           **({"plan": FilePlan(source, mappings)} if plan else {})).run()
    return json.loads(report.to_json())


def _both(path: Path) -> tuple[dict, dict]:
    """The report with every shortcut, and with every line of every file parsed."""
    return _report(FileSource.open(path)), _report(Unfiltered.open(path), plan=False)


def _write(directory: Path, resources: list[Resource], dump: Any = json.dumps) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for resource in resources:
        with (directory / f"{resource['resourceType']}.ndjson").open("a") as out:
            out.write(dump(resource) + "\n")
    return directory


@pytest.mark.parametrize("path", [ROOT / "fixtures" / "demo",
                                  *sorted(p for p in REAL.iterdir() if p.is_dir())],
                         ids=lambda p: p.name)
def test_the_demo_and_every_real_export_give_the_same_report_with_and_without_it(path):
    filtered, unfiltered = _both(path)
    assert filtered == unfiltered


@pytest.mark.parametrize("mix", ["demo", "one-per-patient"])
def test_generated_exports_give_the_same_report_with_and_without_it(tmp_path, mix):
    generate(400, tmp_path / mix, seed=7, mix=mix)
    filtered, unfiltered = _both(tmp_path / mix)
    assert filtered == unfiltered
    assert len(filtered["claims"]) > 300


def _spaced(resource: Resource) -> str:
    return json.dumps(resource)  # ", " and ": ": Python's default


def _sorted(resource: Resource) -> str:
    return json.dumps(resource, sort_keys=True, separators=(",", ":"))  # id before resourceType


def _escaped(resource: Resource) -> str:
    """Every character of every string value but the type and id written as a \\u escape:
    the line starts as exports write, yet no code or word of interest is spelled in it."""
    head = json.dumps({"resourceType": resource["resourceType"], "id": resource["id"]},
                      separators=(",", ":"))[:-1]
    rest = {k: v for k, v in resource.items() if k not in ("resourceType", "id")}
    return head + "," + _escape(rest)[1:]


def _escape(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_escape(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_escape(v) for v in value) + "]"
    if isinstance(value, str):
        return '"' + "".join(f"\\u{ord(c):04x}" for c in value) + '"'
    return json.dumps(value)


def _crlf(resource: Resource) -> str:
    return json.dumps(resource, separators=(",", ":")) + "\r"


@pytest.mark.parametrize("dump", [_spaced, _sorted, _escaped, _crlf],
                         ids=lambda f: f.__name__.strip("_"))
def test_the_synthea_b12_scenario_in_any_valid_layout_gives_the_same_verdicts(tmp_path, dump):
    compact = _write(tmp_path / "compact", synthea_with_b12(eob=True),
                     lambda r: json.dumps(r, separators=(",", ":")))
    odd = _write(tmp_path / "odd", synthea_with_b12(eob=True), dump)
    expected, _ = _both(compact)
    filtered, unfiltered = _both(odd)
    assert filtered == unfiltered == expected
    assert {c["claim"] for c in expected["claims"]} == {
        "Claim/cb849da6-b97c-4426-ab63-11deabe7ed87",
        "ExplanationOfBenefit/2fb79cd0-d929-4cbf-ad72-15fcd46f02c9"}


def test_the_synthea_export_with_the_b12_scenario_added_gives_the_same_report(tmp_path):
    directory = tmp_path / "export"
    directory.mkdir()
    scenario = {(r["resourceType"], r["id"]): r for r in synthea_with_b12(eob=True)}
    for path in sorted(SYNTHEA.glob("*.ndjson")):
        lines = []
        for line in path.read_text().splitlines():
            resource = json.loads(line)
            lines.append(json.dumps(scenario.pop((resource["resourceType"], resource["id"]),
                                                 resource), separators=(",", ":")))
        (directory / path.name).write_text("\n".join(lines) + "\n")
    _write(directory, list(scenario.values()), lambda r: json.dumps(r, separators=(",", ":")))
    filtered, unfiltered = _both(directory)
    assert filtered == unfiltered
    assert any(c["claim"].endswith("cb849da6-b97c-4426-ab63-11deabe7ed87")
               for c in filtered["claims"])


# What the line tests keep, one type at a time

def _keeps(rtype: str, resource: Resource | str) -> bool:
    line = resource if isinstance(resource, str) else json.dumps(resource)
    return line_tests(load_mappings())[rtype].keeps(line.encode())


def test_a_lab_is_kept_by_its_mapped_loinc_code_and_not_by_one_it_is_part_of():
    assert _keeps("Observation", b.lab("o1", "p1", "b12", 150, "pg/mL", "2026-01-01"))
    assert _keeps("Observation", b.lab("o1", "p1", "hemoglobin", 9, "g/dL", "2026-01-01"))
    glucose = b.lab("o1", "p1", "glucose", 90, "mg/dL", "2026-01-01")
    assert not _keeps("Observation", glucose)
    glucose["code"]["coding"][0]["code"] = "1718-7"  # ends in 718-7 (hemoglobin)
    assert not _keeps("Observation", glucose)


def test_a_condition_is_kept_for_any_icd_10_cm_coding_or_a_mapped_snomed_code():
    assert _keeps("Condition", b.condition("c1", "p1", icd="I10"))
    assert _keeps("Condition", b.condition("c1", "p1", snomed="84027009"))
    assert not _keeps("Condition", b.condition("c1", "p1", snomed="38341003"))  # hypertension
    oid = b.condition("c1", "p1", icd="E53.8")
    oid["code"]["coding"][0]["system"] = "urn:oid:2.16.840.1.113883.6.90"
    assert _keeps("Condition", oid)


def test_a_medication_use_is_kept_by_code_by_word_in_any_case_or_by_reference():
    given = b.administration("a1", "p1", "2026-01-05")
    assert _keeps("MedicationAdministration", given)
    named = {**given, "medicationCodeableConcept": {"text": "CYANOCOBALAMIN 1000 MCG/ML"}}
    assert _keeps("MedicationAdministration", named)
    other = {**given, "medicationCodeableConcept": {"coding": [
        {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "197361"}]}}
    assert not _keeps("MedicationAdministration", other)
    by_reference = {**other, "medicationReference": {"reference": "Medication/m1"}}
    del by_reference["medicationCodeableConcept"]
    assert _keeps("MedicationAdministration", by_reference)
    assert _keeps("MedicationRequest", {**other, "note": [{"text": "Pemetrexed day 1"}]})


def test_an_escape_that_could_spell_a_word_keeps_the_line():
    assert _keeps("Observation", '{"resourceType":"Observation","code":{"text":"\\u0042"}}')
    assert _keeps("Condition", '{"system":"http:\\/\\/hl7.org\\/fhir\\/sid\\/icd-10-cm"}')


# Lines passed over: known, not parsed

def test_a_claim_may_point_at_a_lab_the_filter_passed_over(tmp_path):
    glucose = b.lab("g1", PID, "glucose", 90, "mg/dL", "2010-11-20")
    resources = synthea_with_b12()
    claim = next(r for r in resources if r["id"] == "cb849da6-b97c-4426-ab63-11deabe7ed87")
    claim["supportingInfo"] = [{"sequence": 1, "category": {"text": "lab"},
                                "valueReference": {"reference": "Observation/g1"}}]
    report = _report(FileSource.open(_write(tmp_path / "x", [*resources, glucose])))
    assert not [e for e in report["errors"] if "Observation/g1" in e["message"]]
    assert report["claims"]


def test_an_unrelated_line_cut_short_is_still_named(tmp_path):
    directory = _write(tmp_path / "x", synthea_with_b12(),
                       lambda r: json.dumps(r, separators=(",", ":")))
    with (directory / "Observation.ndjson").open("a") as out:
        out.write('{"resourceType":"Observation","id":"cut","status":"final","code":{"cod\n')
    lines = (directory / "Observation.ndjson").read_text().count("\n")
    report = _report(FileSource.open(directory))
    assert [e["resource"] for e in report["errors"]] == [f"Observation.ndjson:{lines}"]


# The claims pre-scan: of the records passed over, only what B12 claims point at is kept

CLAIM_ID = "cb849da6-b97c-4426-ab63-11deabe7ed87"
NDC_SYSTEM = "http://hl7.org/fhir/sid/ndc"
RXNORM_SYSTEM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _pointing_at_glucose(product: dict[str, Any] | None) -> list[Resource]:
    resources = [*synthea_with_b12(), b.lab("g1", PID, "glucose", 90, "mg/dL", "2010-11-20")]
    claim = next(r for r in resources if r["id"] == CLAIM_ID)
    if product is not None:
        claim["item"][-1]["productOrService"] = product
    claim["supportingInfo"] = [{"sequence": 1, "category": {"text": "lab"},
                                "valueReference": {"reference": "Observation/g1"}}]
    return resources


@pytest.mark.parametrize("product", [
    None,
    {"coding": [{"code": "j3420"}]},
    {"coding": [{"system": NDC_SYSTEM, "code": "0517-0031-25"}]},
    {"coding": [{"system": RXNORM_SYSTEM, "code": "309594"}]},
], ids=["hcpcs", "lower-case-no-system", "ndc", "rxnorm"])
def test_a_b12_claim_billed_under_any_code_may_point_at_a_lab_passed_over(tmp_path, product):
    directory = _write(tmp_path / "x", _pointing_at_glucose(product))
    filtered, unfiltered = _both(directory)
    assert filtered == unfiltered
    assert any(c["claim"] == f"Claim/{CLAIM_ID}" for c in filtered["claims"])
    assert not [e for e in filtered["errors"] if "Observation/g1" in e["message"]]


def test_a_claim_pointing_at_nothing_is_still_told_so(tmp_path):
    resources = [r for r in _pointing_at_glucose(None) if r.get("id") != "g1"]
    report = _report(FileSource.open(_write(tmp_path / "x", resources)))
    assert [e["message"] for e in report["errors"]] == [
        "references Observation/g1, which is not in the source"]


def _chart_of(directory: Path) -> Any:
    mappings = load_mappings()
    source = FileSource.open(directory)
    driver = Driver(source, Policy.from_mappings(mappings, mappings.thresholds), mappings,
                    [Report()], plan=FilePlan(source, mappings))
    driver.run()
    assert driver._chart is not None
    return driver._chart[0]


def test_of_the_records_passed_over_only_those_b12_claims_point_at_are_kept(tmp_path):
    unrelated = b.lab("g2", PID, "glucose", 95, "mg/dL", "2010-11-21")
    chart = _chart_of(_write(tmp_path / "x", [*_pointing_at_glucose(None), unrelated]))
    assert "Observation/g1" in chart.wanted and "Observation/g1" in chart.known
    assert "Observation/g2" not in chart.known


def test_claims_in_a_bundle_turn_the_pre_scan_off_and_every_record_is_kept(tmp_path):
    resources = _pointing_at_glucose(None)
    directory = _write(tmp_path / "x", [r for r in resources if r["resourceType"] != "Claim"])
    (directory / "claims.json").write_text(json.dumps({
        "resourceType": "Bundle", "type": "collection",
        "entry": [{"resource": r} for r in resources if r["resourceType"] == "Claim"]}))
    chart = _chart_of(directory)
    assert chart.wanted is None
    assert "Observation/g1" in chart.known


def _claim_lines() -> list[bytes]:
    paths = [*(ROOT / "fixtures" / "demo").glob("*.ndjson"), *REAL.rglob("*.ndjson")]
    return [line for path in paths for line in path.read_bytes().splitlines()
            if b'"Claim"' in line or b'"ExplanationOfBenefit"' in line]


def test_the_links_read_from_a_raw_claim_line_are_those_of_the_parsed_claim():
    lines = _claim_lines()
    assert sum(b'"diagnosisReference"' in line for line in lines) > 5
    for line in lines:
        assert line_links(line) == claim_links(json.loads(line)), line[:120]


@pytest.mark.parametrize("reference", [
    {"reference": "Condition/a"},
    {"display": "B12 {deficiency}", "reference": "Condition/a"},
    {"identifier": {"value": "7"}, "reference": "Condition/a"},  # nested: parsed
    {"reference": "https://ehr.example/fhir/Condition/a/_history/2"},
    {"reference": "urn:uuid:6f1c0d4e-3b6a-4b8e-9d5c-1f2e3a4b5c6d"},
    {"display": "a reference with none"},
    {"reference": "Condition?identifier=x"},
], ids=lambda r: json.dumps(r)[:40])
@pytest.mark.parametrize("dump", [_spaced, _sorted, _escaped], ids=["spaced", "sorted", "escaped"])
def test_any_written_form_of_a_link_gives_the_parsed_claims_links(reference, dump):
    claim = {"resourceType": "Claim", "id": "k",
             "diagnosis": [{"sequence": 1, "diagnosisReference": reference}],
             "supportingInfo": [{"sequence": 1, "valueReference": {"reference": "Observation/o"}}]}
    line = dump(claim).encode()
    assert line_links(line) == claim_links(claim)


# Claim lines that bill no B12, and other patients' records: passed over unparsed

def _lines(directory: Path, rtype: str, resources: list[Resource]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{rtype}.ndjson").write_text(
        "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in resources))


def test_claims_that_bill_no_b12_are_skipped_unparsed_in_file_order(tmp_path):
    flu = b.claim("k1", "p1", "2026-03-02", product=(b.CPT, "90686"))
    cancelled = b.claim("k2", "p1", "2026-03-02", status="cancelled")
    broken = {**b.claim("k3", "p1", "2026-03-02", product=(b.CPT, "99213")), "item": 7}
    billed = b.claim("k4", "p1", "2026-03-02")
    ndc = b.claim("k5", "p1", "2026-03-02", product=("http://hl7.org/fhir/sid/ndc",
                                                      "0517-0031-25"))
    _lines(tmp_path, "Claim", [flu, cancelled, broken, billed, ndc])
    _lines(tmp_path, "Patient", [b.patient("p1")])
    report = _report(FileSource.open(tmp_path))
    unbilled_preauthorization = b.claim("k6", "p1", "2026-03-02", use="preauthorization",
                                        product=(b.CPT, "99213"))
    with (tmp_path / "Claim.ndjson").open("a") as out:
        out.write(json.dumps(unbilled_preauthorization) + "\n")
    report = _report(FileSource.open(tmp_path))
    assert report["skipped"] == [
        {"claim": "Claim/k1", "reason": "no B12 injection item"},
        {"claim": "Claim/k2", "reason": "claim status is cancelled"},
        {"claim": "Claim/k3", "reason": "no B12 injection item"},
        {"claim": "Claim/k6", "reason": "use is preauthorization: not a claim for a service "
                                        "given"}]
    assert [c["claim"] for c in report["claims"]] == ["Claim/k4", "Claim/k5"]
    # k3's item is not a list: parsing every line names it; the scan passes it over
    assert not report["errors"]
    assert _report(Unfiltered.open(tmp_path), plan=False)["errors"] == [
        {"resource": "Claim/k3", "message": "item is not a list of objects"}]


def test_a_claim_line_cut_short_is_named_even_when_it_bills_no_b12(tmp_path):
    _lines(tmp_path, "Claim", [b.claim("k1", "p1", "2026-03-02", product=(b.CPT, "90686"))])
    with (tmp_path / "Claim.ndjson").open("a") as out:
        out.write('{"resourceType":"Claim","id":"k2","status":"active","item":[{"seq\n')
    report = _report(FileSource.open(tmp_path))
    assert [e["resource"] for e in report["errors"]] == ["Claim.ndjson:2"]
    assert report["skipped"] == [{"claim": "Claim/k1", "reason": "no B12 injection item"}]


def test_other_patients_labs_are_passed_over_and_the_b12_patients_read_in_any_form(tmp_path):
    """Patient p1 has a B12 claim, p2 none: p2's hemoglobin is not parsed (its broken value
    is not named), p1's is read whether its subject is Type/id, an absolute URL or a version,
    and a lab of p2's that p1's claim points at is read all the same."""
    forms = ["Patient/p1", "https://ehr.example/fhir/Patient/p1",
             "Patient/p1/_history/3"]
    labs = [{**b.lab(f"h{n}", "p1", "hemoglobin", 9.1, "g/dL", "2026-02-20"),
             "subject": {"reference": form}} for n, form in enumerate(forms)]
    stranger = b.lab("s1", "p2", "hemoglobin", 9.1, "g/dL", "2026-02-20")
    stranger["valueQuantity"]["value"] = "nine"
    pointed = b.lab("s2", "p2", "b12", 150, "pg/mL", "2026-02-20")
    claim = b.claim("k1", "p1", "2026-03-02", supporting=("Observation/s2",))
    _lines(tmp_path, "Claim", [claim])
    _lines(tmp_path, "Patient", [b.patient("p1"), b.patient("p2")])
    _lines(tmp_path, "Observation", [*labs, stranger, pointed])
    _lines(tmp_path, "Condition", [b.condition("c1", "p1", icd="E53.8")])
    chart = _chart_of(tmp_path)
    assert {f.ref for f in chart.labs["Patient/p1"]} == {"Observation/h0", "Observation/h1",
                                                         "Observation/h2"}
    assert [f.ref for f in chart.labs["Patient/p2"]] == ["Observation/s2"]  # pointed at
    assert "Observation/s1" not in chart.by_ref
    filtered, unfiltered = _both(tmp_path)
    pointed_error = {"resource": "Claim/k1", "message": "references Observation/s2, which "
                                                       "belongs to Patient/p2, not Patient/p1"}
    assert filtered["errors"] == [pointed_error]
    assert {"resource": "Observation/s1", "message": "valueQuantity.value is not a number: "
                                                     "'nine'"} in unfiltered["errors"]
    assert filtered["claims"] == unfiltered["claims"]


def test_a_word_found_is_found_whether_searched_alone_or_with_many_others():
    block = b'{"a":"J3420"}\n{"b":"x718-7"}\n{"c":"\\u0041 718-7 J3420"}\n'
    few = LineTest((b"J3420", b"718-7", b"\\u"))
    many = LineTest((b"J3420", b"718-7", b"\\u", *(f"w{n}".encode() for n in range(20))))
    expected = sorted(m.start() for w in (b"J3420", b"718-7", b"\\u")
                      for m in re.finditer(re.escape(w), block))
    assert few.found(block) == many.found(block) == expected


@pytest.mark.parametrize("searched", ["alone", "with many others"])
def test_a_whole_code_is_found_however_other_codes_sit_inside_it(searched):
    """Codes are searched bare and taken only whole: a code inside a longer one (1234 and
    234-5 in 1234-5) or inside an id must neither be taken there nor hide the longer one,
    however many words are searched."""
    others = () if searched == "alone" else tuple(f"w{n}".encode() for n in range(20))
    codes = (b"1234", b"234-5", b"1234-5")
    test = LineTest((*codes, *others), codes=frozenset(codes))
    block = (b'{"a":"1234-5"}\n{"b":"x 234-5"}\n{"c":"91234-5"}\n{"d":"234-50"}\n'
             b'{"id":"e62e52ae-2d75-ae1234-5bcd"}\n')  # inside an id's hex: no code
    starts = test.found(block)
    assert starts == [block.index(b"1234-5"), block.index(b"234-5", block.index(b'"b"'))]


def test_a_file_of_claims_may_hold_explanations_of_benefit_too(tmp_path):
    """As before the claim scan: an EOB line in Claim.ndjson is judged; another type is named."""
    eob = b.claim("e1", "p1", "2026-03-02", kind="ExplanationOfBenefit")
    _lines(tmp_path, "Claim", [b.claim("k1", "p1", "2026-03-02"), eob, b.patient("p9")])
    _lines(tmp_path, "Patient", [b.patient("p1")])
    filtered, unfiltered = _both(tmp_path)
    assert [c["claim"] for c in filtered["claims"]] == ["Claim/k1", "ExplanationOfBenefit/e1"]
    assert [c["claim"] for c in unfiltered["claims"]] == ["Claim/k1", "ExplanationOfBenefit/e1"]
    assert filtered["errors"] == unfiltered["errors"] == [
        {"resource": "Patient/p9", "message": "in Claim.ndjson, a file of Claim: not read"}]


def _patient_filter_case(tmp_path: Path, claim_lines: list[str], lab: str) -> dict:
    """A claim file written as given, the B12 labs of p1 and p3 (p3's written as given),
    and another patient's; the report with every shortcut must be the one without."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "Claim.ndjson").write_text("".join(line + "\n" for line in claim_lines))
    _lines(tmp_path, "Patient", [b.patient("p1"), b.patient("p3")])
    (tmp_path / "Observation.ndjson").write_text(
        json.dumps(b.lab("h1", "p1", "b12", 150, "pg/mL", "2026-02-20"),
                   separators=(",", ":")) + "\n" + lab + "\n"
        + json.dumps(b.lab("h9", "p9", "b12", 150, "pg/mL", "2026-02-20"),
                     separators=(",", ":")) + "\n")
    filtered, unfiltered = _both(tmp_path)
    assert filtered == unfiltered
    return filtered


def _codes_of(report: dict, claim: str) -> set[str]:
    return {f["code"] for c in report["claims"] if c["claim"] == claim for f in c["findings"]}


def test_the_patient_filter_reads_the_claims_patients_as_the_claim_reader_does(tmp_path):
    """Found by trying the scan against the reader: a patient reference with a trailing space,
    several claims on one line (an array), a contained resource's patient written first, and
    a record's reference with spaces around its colon all keep the B12 patients' labs."""
    c3 = json.dumps(b.lab("h3", "p3", "b12", 150, "pg/mL", "2026-02-20"),
                    separators=(",", ":"))
    k1 = b.claim("k1", "p1", "2026-03-02")
    k3 = b.claim("k3", "p3", "2026-03-02")
    spaced = json.dumps({**k1, "patient": {"reference": "Patient/p1 "}})
    report = _patient_filter_case(tmp_path / "a", [spaced, json.dumps(k3)], c3)
    assert "lab-missing" not in _codes_of(report, "Claim/k1")
    array = json.dumps([k1, k3])
    report = _patient_filter_case(tmp_path / "b", [array], c3)
    assert "lab-missing" not in _codes_of(report, "Claim/k3")
    contained = json.dumps({"resourceType": "Claim", "id": "k1", "contained": [
        {"resourceType": "ClaimResponse", "id": "r", "patient": {"reference": "Patient/p9"}}],
        **{k: v for k, v in k1.items() if k not in ("resourceType", "id")}})
    report = _patient_filter_case(tmp_path / "c", [contained, json.dumps(k3)], c3)
    assert "lab-missing" not in _codes_of(report, "Claim/k1")
    colon = c3.replace('"reference":"Patient/p3"', '"reference" : "Patient/p3"') \
        .replace('}', ',"asserter":{"reference":"Patient/p9"}}', 1)
    assert '"reference" : "Patient/p3"' in colon
    report = _patient_filter_case(tmp_path / "d", [json.dumps(k1), json.dumps(k3)], colon)
    assert "lab-missing" not in _codes_of(report, "Claim/k3")


def test_a_damaged_gzipped_claim_file_keeps_the_claims_before_the_damage(tmp_path):
    import gzip

    claims = [b.claim("k1", "p1", "2026-03-02"),
              b.claim("k2", "p1", "2026-03-02", product=(b.CPT, "90686"))]
    data = gzip.compress("".join(json.dumps(c) + "\n" for c in claims).encode())
    (tmp_path / "Claim.ndjson.gz").write_bytes(data[:-12])  # the trailer cut off
    _lines(tmp_path, "Patient", [b.patient("p1")])
    filtered, unfiltered = _both(tmp_path)
    assert filtered == unfiltered
    assert [c["claim"] for c in filtered["claims"]] == ["Claim/k1"]
    assert [e["resource"] for e in filtered["errors"]] == ["Claim.ndjson.gz"]


@pytest.mark.parametrize("subject", ["Patient/p1/_history/2", "Patient/p1 ",
                                     "https://ehr.example/fhir/Patient/p1/_history/2"])
@pytest.mark.parametrize("kind", ["DocumentReference", "Composition"])
def test_a_b12_patients_note_is_read_whatever_form_its_subject_takes(tmp_path, subject, kind):
    """Found by comparing a typed export with the same lines in one untyped file: a note whose
    subject is a version or has a trailing space was passed over as another patient's, and
    the claim got note-missing instead of the note's finding."""
    if kind == "DocumentReference":
        note = b.document_reference("n1", "p1", "2026-03-02", "Assessment: possible B12 "
                                    "deficiency.")
    else:
        note = b.composition("n1", "p1", "2026-03-02",
                             (("Assessment", "possible B12 deficiency"),))
    note["subject"] = {"reference": subject}
    _lines(tmp_path, "Claim", [b.claim("k1", "p1", "2026-03-02")])
    _lines(tmp_path, "Patient", [b.patient("p1")])
    _lines(tmp_path, "Condition", [b.condition("c1", "p1", icd="E53.8")])
    _lines(tmp_path, kind, [note])
    filtered, unfiltered = _both(tmp_path)
    assert filtered == unfiltered
    assert "note-uncertain" in _codes_of(filtered, "Claim/k1")


def _damaged_gzip(path: Path, resources: list[Resource]) -> None:
    """``resources`` as gzipped NDJSON, the stream's end (its trailer) cut off."""
    import gzip

    data = gzip.compress("".join(json.dumps(r) + "\n" for r in resources).encode())
    path.write_bytes(data[:-12])


@pytest.mark.parametrize("damaged", ["Claim", "Observation"])
def test_the_lines_before_the_damage_of_a_gzipped_file_are_read_by_the_scan_too(tmp_path,
                                                                                 damaged):
    """Found by comparing a typed export with the same lines in one untyped file: the scan
    read a gzipped file a block at a time, and a damaged stream lost the whole block. A
    damaged claim file then left the pre-scan without the B12 claims' patients (their labs
    and administrations passed over as others': admin-missing, lab-missing); a damaged lab
    file lost the labs before the damage (lab-missing, a reference to nothing)."""
    resources = {
        "Claim": [b.claim("k1", "p1", "2026-03-02", supporting=("Observation/o1",)),
                  b.claim("k2", "p2", "2026-03-02", product=(b.CPT, "90686"))],
        "Observation": [b.lab("o1", "p1", "b12", 150, "pg/mL", "2026-02-20"),
                        b.lab("o2", "p2", "b12", 150, "pg/mL", "2026-02-20")],
        "Patient": [b.patient("p1"), b.patient("p2")],
        "Condition": [b.condition("c1", "p1", icd="E53.8")],
        "MedicationAdministration": [b.administration("a1", "p1", "2026-03-02")],
    }
    for rtype, items in resources.items():
        if rtype == damaged:
            _damaged_gzip(tmp_path / f"{rtype}.ndjson.gz", items)
        else:
            _lines(tmp_path, rtype, items)
    filtered, unfiltered = _both(tmp_path)
    assert filtered == unfiltered
    assert [c["verdict"] for c in filtered["claims"]] == ["supported"]
    assert [e["resource"] for e in filtered["errors"]] == [f"{damaged}.ndjson.gz"]


@pytest.mark.parametrize("rtype", ["Claim", "Observation"])
def test_a_file_cut_short_after_a_closing_brace_is_named_not_passed_over(tmp_path, rtype):
    """Found by comparing a typed export with the same lines in one untyped file: a file cut
    short where a nested object closes ends in ``}`` like a whole line, so the scan passed
    its last line over: a claim cut short was skipped as billing no B12, a record vanished
    unnamed. The last line, with no newline after it, is parsed."""
    flu = b.claim("k2", "p1", "2026-03-02", product=(b.CPT, "90686"))
    glucose = b.lab("g1", "p1", "glucose", 90, "mg/dL", "2026-02-20")
    _lines(tmp_path, "Claim", [b.claim("k1", "p1", "2026-03-02"), flu])
    _lines(tmp_path, "Observation", [b.lab("o1", "p1", "b12", 150, "pg/mL", "2026-02-20"),
                                     glucose])
    _lines(tmp_path, "Patient", [b.patient("p1")])
    path = tmp_path / f"{rtype}.ndjson"
    data = path.read_bytes().rstrip(b"\n")
    path.write_bytes(data[:data.rindex(b"}", 0, len(data) - 1) + 1])  # cut after a "}"
    lines = path.read_bytes().count(b"\n") + 1
    filtered, unfiltered = _both(tmp_path)
    assert filtered == unfiltered
    assert [e["resource"] for e in filtered["errors"]] == [f"{rtype}.ndjson:{lines}"]
    assert filtered["skipped"] == ([] if rtype == "Claim" else [
        {"claim": "Claim/k2", "reason": "no B12 injection item"}])


@pytest.mark.parametrize("text", ["B-12 deficiency", "Vitamin B-12 deficiency"])
def test_a_free_text_condition_written_b_12_is_read(tmp_path, text):
    """Found by comparing a typed export with the same lines in one untyped file: the term
    "b-12 deficiency" gave the Condition test no word ("b" and "12" too short, "deficiency"
    too common), so a problem-list entry written so was passed over: dx-not-documented
    instead of dx-text-only."""
    assert _keeps("Condition", b.condition("t1", "p1", text=text))
    _lines(tmp_path, "Claim", [b.claim("k1", "p1", "2026-03-02")])
    _lines(tmp_path, "Patient", [b.patient("p1")])
    _lines(tmp_path, "Condition", [b.condition("t1", "p1", text=text)])
    filtered, unfiltered = _both(tmp_path)
    assert filtered == unfiltered
    assert "dx-not-documented" not in _codes_of(filtered, "Claim/k1")
    assert "dx-text-only" in _codes_of(filtered, "Claim/k1")


def test_b_12_inside_an_id_is_no_word_of_interest():
    """Hyphenated term words stand alone: Synthea's ids hold "b-12" in their hex
    ("...-9bab-12de..."), and a Condition of another patient that no check reads was read
    for it (a Spark parity test saw its error appear)."""
    diabetes = b.condition("bb9c4fc1-795a-4492-b065-1f497fe18bb2", "p1", snomed="44054006")
    diabetes["encounter"] = {"reference": "Encounter/a2c3ee1d-ec35-4b26-9bab-12de3f47d604"}
    assert not _keeps("Condition", diabetes)
    assert _keeps("Condition", {**diabetes, "code": {"text": "Vitamin B-12 deficiency."}})


def _padded(concept: dict[str, Any]) -> dict[str, Any]:
    coding = concept["coding"][0]
    return {**concept, "coding": [{**coding, "code": f" {coding['code']}\t"}]}


def test_a_code_with_the_spaces_the_reader_strips_is_found(tmp_path):
    """Found by comparing a typed export with the same lines in one untyped file: the reader
    strips a code (`` 2132-9\\t`` is 2132-9), the tests looked for ``"2132-9"`` with its
    quotes: such a lab, SNOMED Condition, B12 administration or injection procedure was
    passed over (lab-missing, dx-not-documented, admin-missing)."""
    lab = b.lab("o1", "p1", "b12", 150, "pg/mL", "2026-02-20")
    lab["code"] = _padded(lab["code"])
    condition = b.condition("c1", "p1", snomed="190634004")
    condition["code"] = _padded(condition["code"])
    given = b.administration("a1", "p1", "2026-03-02")
    given["medicationCodeableConcept"] = _padded(given["medicationCodeableConcept"])
    injection = b.procedure("pr1", "p1", "2026-03-02")
    injection["code"] = _padded(injection["code"])
    for rtype, resource in [("Observation", lab), ("Condition", condition),
                            ("MedicationAdministration", given), ("Procedure", injection)]:
        assert _keeps(rtype, resource)
    _lines(tmp_path, "Claim", [b.claim("k1", "p1", "2026-03-02")])
    _lines(tmp_path, "Patient", [b.patient("p1")])
    _lines(tmp_path, "Observation", [lab])
    _lines(tmp_path, "Condition", [condition])
    _lines(tmp_path, "MedicationAdministration", [given])
    filtered, unfiltered = _both(tmp_path)
    assert filtered == unfiltered
    assert not _codes_of(filtered, "Claim/k1") & {"lab-missing", "dx-not-documented",
                                                   "admin-missing"}


def test_a_claim_pointing_at_a_lab_whose_line_is_broken_is_told_it_is_not_there(tmp_path):
    """Found by comparing a typed export with the same lines in one untyped file: the scan
    named the broken line but also took its id for a resource passed over, so the claim's
    reference to it was not named."""
    lab = json.dumps(b.lab("o1", "p1", "b12", 150, "pg/mL", "2026-02-20"), separators=(",", ":"))
    _lines(tmp_path, "Claim", [b.claim("k1", "p1", "2026-03-02", supporting=("Observation/o1",))])
    _lines(tmp_path, "Patient", [b.patient("p1")])
    _lines(tmp_path, "Observation", [b.lab("o2", "p1", "b12", 150, "pg/mL", "2026-02-21"),
                                     b.lab("g1", "p1", "glucose", 90, "mg/dL", "2026-02-21")])
    with (tmp_path / "Observation.ndjson").open("a") as out:
        out.write(lab[:-1] + "\n")  # the last "}" lost: it still ends in one
    filtered, unfiltered = _both(tmp_path)
    assert filtered == unfiltered
    assert {"resource": "Claim/k1", "message": "references Observation/o1, which is not in "
                                               "the source"} in filtered["errors"]
