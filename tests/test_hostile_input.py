"""Bad input never crashes a run, is never read silently wrong, and loses nothing else
(SPEC section 7, issue 10): each class of hostile input the issue names, run through the
command line on a Bulk Data directory. Every run: no traceback, the good claim still judged,
the bad resource named in ``errors``, exit 1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adapter.cli import main
from adapter.output.detected_issue import issue_id
from fixtures import builders as b
from tests.scenario import SERVICE, clean_chart

Resource = dict[str, Any]


def _good() -> list[Resource]:
    """A second patient's fully backed claim: it must come out supported whatever else."""
    return [b.patient("p9"), b.condition("c9", "p9", icd="E53.8"),
            b.lab("o9", "p9", "b12", 150, "pg/mL", "2026-02-10"),
            b.administration("a9", "p9", SERVICE),
            b.claim("k9", "p9", SERVICE, supporting=("Condition/c9", "Observation/o9"))]


def _run(tmp_path: Path, capsys: pytest.CaptureFixture[str], resources: list[Resource],
         raw: dict[str, list[bytes]] | None = None, *argv: str) -> tuple[int, dict, str]:
    directory = tmp_path / "export"
    directory.mkdir()
    lines: dict[str, list[bytes]] = {}
    for resource in [*_good(), *resources]:
        lines.setdefault(resource["resourceType"], []).append(
            json.dumps(resource, allow_nan=True).encode())
    for rtype, more in (raw or {}).items():
        lines.setdefault(rtype, []).extend(more)
    for rtype, data in lines.items():
        (directory / f"{rtype}.ndjson").write_bytes(b"\n".join(data) + b"\n")
    status = main(["check", "--source", str(directory), "--format", "json", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    report = json.loads(out)
    good = next(c for c in report["claims"] if c["claim"] == "Claim/k9")
    assert good["verdict"] == "supported", good
    return status, report, err


def _errors(report: dict) -> dict[str, str]:
    return {e["resource"]: e["message"] for e in report["errors"]}


def test_out_of_range_dates_are_errors_naming_the_resource(tmp_path, capsys):
    year_one = b.lab("o1", "p1", "b12", 150, "pg/mL", "0001-01-01T01:00:00+05:00")
    year_zero = b.condition("c2", "p1", icd="K90.0", onset="0000-01-01")
    claim = b.claim("k1", "p1", "0001-01-02", supporting=("Condition/c1",))
    status, report, _ = _run(tmp_path, capsys, [*clean_chart()[:2], year_one, year_zero, claim],
                             None, "--facility-timezone", "America/New_York")
    errors = _errors(report)
    assert status == 1
    assert "is not a valid date" in errors["Observation/o1"]  # out of range in the zone
    assert "is not a valid date" in errors["Condition/c2"]
    assert "out of range" in errors["Claim/k1"]


def test_nan_and_infinite_numbers_are_not_numbers(tmp_path, capsys):
    nan_lab = b.lab("o1", "p1", "b12", float("nan"), "pg/mL", "2026-02-10")
    inf_dose = b.administration("a1", "p1", SERVICE, dose=float("inf"))
    status, report, _ = _run(tmp_path, capsys, [*clean_chart()[:2], nan_lab, inf_dose,
                                                clean_chart()[-1]])
    errors = _errors(report)
    assert status == 1
    assert "not a finite number" in errors["Observation/o1"]
    assert "not a finite number" in errors["MedicationAdministration/a1"]
    k1 = next(c for c in report["claims"] if c["claim"] == "Claim/k1")
    codes = {f["code"] for f in k1["findings"]}
    assert "lab-missing" in codes  # the NaN result is no evidence
    assert "admin-missing" not in codes  # the injection was given; only its dose is unknown


def test_a_quantity_whose_system_is_not_a_string_is_an_error(tmp_path, capsys):
    """Found by tests/test_fuzz.py: a list as valueQuantity.system crashed the run."""
    lab = b.lab("o1", "p1", "b12", 150, "pg/mL", "2026-02-10")
    lab["valueQuantity"]["system"] = ["http://unitsofmeasure.org"]
    status, report, _ = _run(tmp_path, capsys, [*clean_chart()[:2], lab, clean_chart()[-1]])
    assert status == 1
    assert _errors(report)["Observation/o1"] == "valueQuantity.system is not a string"


B12_LAB = b'{"resourceType":"Observation","id":"o1","code":{"coding":[{"code":"2132-9"}]},'


@pytest.mark.parametrize("line, problem", [
    (B12_LAB + b'"valueInteger":' + b"9" * 5000 + b"}", "not valid JSON"),
    (B12_LAB + b'"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
    (B12_LAB + b'"status":"fin\xff\xfeal"}', "not valid UTF-8"),
    (b'{"resourceType":"Observation",', "not valid JSON"),
])
def test_an_unreadable_line_is_an_error_naming_the_file_and_line(tmp_path, capsys, line, problem):
    status, report, _ = _run(tmp_path, capsys, [], {"Observation": [line]})
    assert status == 1
    assert any(resource.startswith("Observation.ndjson:") and problem in message
               for resource, message in _errors(report).items())


def test_invalid_utf8_past_the_first_block_of_a_file_spoils_only_its_line(tmp_path, capsys):
    filler = [json.dumps(b.lab(f"g{n}", "p8", "glucose", 90, "mg/dL", "2026-01-01")).encode()
              for n in range(300)]
    bad = b'{"resourceType":"Observation","id":"bad","code":{"text":"B12 \xc3\x28",' \
        b'"coding":[{"code":"2132-9"}]}}'
    status, report, _ = _run(tmp_path, capsys, [], {"Observation": [*filler, bad]})
    assert status == 1
    assert list(_errors(report)) == ["Observation.ndjson:302"]


def test_a_lone_surrogate_in_a_code_does_not_stop_the_report(tmp_path, capsys):
    claim = b.claim("k1", "p1", SERVICE, supporting=("Condition/c1", "Observation/o1"))
    claim["diagnosis"][0]["diagnosisCodeableConcept"]["coding"][0]["code"] = "E53.\ud800"
    status, report, _ = _run(tmp_path, capsys, [*clean_chart()[:-1], claim])
    k1 = next(c for c in report["claims"] if c["claim"] == "Claim/k1")
    assert any(f["code"] == "dx-invalid" for f in k1["findings"])
    assert status == 0


def test_a_lone_surrogate_in_a_status_reaches_messages_and_detected_issues_printable(
        tmp_path, capsys):
    """Found by tests/test_fuzz.py: the status went into a finding's message as written, and
    the DetectedIssue carrying it failed validation, stopping the run. (A status that is no
    FHIR code is now an error naming it: the same printable text, in the errors.)"""
    given = b.administration("a1", "p1", SERVICE)
    given["status"] = "in-progress\ud800"
    chart = [r for r in clean_chart() if r["resourceType"] != "MedicationAdministration"]
    status, report, _ = _run(tmp_path, capsys, [*chart, given], None,
                             "--out", str(tmp_path / "out"))
    k1 = next(c for c in report["claims"] if c["claim"] == "Claim/k1")
    assert [f["code"] for f in k1["findings"]] == ["admin-missing"]
    assert "status 'in-progress\ufffd' is not one of its FHIR codes" in _errors(report)[
        "MedicationAdministration/a1"]
    issues = (tmp_path / "out" / "DetectedIssue.ndjson").read_text().splitlines()
    assert [json.loads(line)["code"]["coding"][0]["code"] for line in issues] == [
        "admin-missing"]
    assert status == 1


def test_a_numeric_code_is_an_error_not_a_missing_code(tmp_path, capsys):
    condition = b.condition("c1", "p1", icd="E53.8")
    condition["code"]["coding"][0]["code"] = 538
    status, report, _ = _run(tmp_path, capsys, [*clean_chart()[:1], condition,
                                                *clean_chart()[2:]])
    assert status == 1
    assert "code is not a string: 538" in _errors(report)["Condition/c1"]


def test_a_condition_without_subject_is_an_error(tmp_path, capsys):
    condition = b.condition("c1", "p1", icd="E53.8")
    del condition["subject"]
    status, report, _ = _run(tmp_path, capsys, [*clean_chart()[:1], condition,
                                                *clean_chart()[2:]])
    assert status == 1 and "no subject" in _errors(report)["Condition/c1"]


@pytest.mark.parametrize("reference", ["Patient/", "Patient", "", "#", "Patient/a/b/c?x"])
def test_a_patient_reference_that_names_no_patient_is_an_error(tmp_path, capsys, reference):
    claim = b.claim("k1", "p1", SERVICE)
    claim["patient"] = {"reference": reference} if reference else {"display": "Jane Doe"}
    status, report, _ = _run(tmp_path, capsys, [*clean_chart()[:-1], claim])
    assert status == 1 and "has no patient" in _errors(report)["Claim/k1"]
    assert "Claim/k1" not in {c["claim"] for c in report["claims"]}


def test_claims_without_an_id_or_with_a_duplicate_id_are_errors(tmp_path, capsys):
    no_id = b.claim("x", "p1", SERVICE)
    del no_id["id"]
    twin = b.claim("k9", "p1", SERVICE)  # the good claim's id, another patient
    out = tmp_path / "out"
    status, report, _ = _run(tmp_path, capsys, [*clean_chart()[:-1], no_id, twin], None,
                             "--out", str(out))
    assert status == 1
    assert "has no id" in _errors(report)["Claim/(no id)"]
    assert "second claim with this id" in _errors(report)["Claim/k9"]
    assert [c["claim"] for c in report["claims"]].count("Claim/k9") == 1
    issues = [json.loads(line) for line in (out / "DetectedIssue.ndjson").read_text().splitlines()]
    identifiers = [i["identifier"][0]["value"] for i in issues]
    assert len(identifiers) == len(set(identifiers))


FORGED = "ZZ9\nClaim/k8               Patient/p8         2026-03-02  supported\x1b[2J\u202e\x00"


def test_control_characters_in_a_code_reach_no_terminal_nor_fhir_string(tmp_path, capsys):
    """A hostile-input hunt: the table printed a claim's code as written, so its newline
    forged a line of the report and its ESC cleared the screen; the DetectedIssue carried the
    ESC and NUL an R4 string may not hold."""
    claim = b.claim("k1", "p1", SERVICE, diagnoses=("E53.8", "E53.9"),
                    supporting=("Condition/c1", "Observation/o1"))
    claim["diagnosis"][1]["diagnosisCodeableConcept"]["coding"][0]["code"] = FORGED
    status, report, _ = _run(tmp_path, capsys, [*clean_chart()[:-1], claim], None,
                             "--out", str(tmp_path / "out"))
    k1 = next(c for c in report["claims"] if c["claim"] == "Claim/k1")
    assert [f["code"] for f in k1["findings"]] == ["dx-invalid"] and status == 0

    assert main(["check", "--source", str(tmp_path / "export")]) == 0
    table = capsys.readouterr().out
    assert not any(c in table for c in "\x1b\u202e\x00")
    assert [line.split()[0] for line in table.splitlines() if line.startswith("Claim/")] == [
        "Claim/k1"]  # k9 is a clean supported claim: counted, not listed; no k8
    assert "\\nCLAIM/K8" in table and "\\x1b[2J\\u202e\\x00" in table

    [issue] = [json.loads(line) for line in
               (tmp_path / "out" / "DetectedIssue.ndjson").read_text().splitlines()
               if "dx-invalid" in line]
    strings = [issue["detail"], *(i["value"] for i in issue["identifier"])]
    assert not any(ord(c) < 0x20 and c not in "\t\r\n" for s in strings for c in s)
    key = issue["identifier"][0]["value"]
    assert key == "Claim/k1:dx-invalid:ZZ9\nCLAIM/K8" + key.split("CLAIM/K8")[1]
    assert "\\x1b[2J" in key and "\\x00" in key and issue["id"] == issue_id(key)


INVISIBLE = "\u200b\u200e\u2066\u2069\ufeff\u00ad\u2060\u2028"


def test_invisible_characters_in_a_code_are_escaped_in_the_table(tmp_path, capsys):
    """A zero-width space, a bidi mark or isolate, a byte order mark printed raw made
    "D51.\u200b0" read as the valid D51.0 beside "is not an ICD-10-CM code"."""
    claim = b.claim("k1", "p1", SERVICE, diagnoses=("E53.8", "D51.0"),
                    supporting=("Condition/c1", "Observation/o1"))
    claim["diagnosis"][1]["diagnosisCodeableConcept"]["coding"][0]["code"] = f"D51.{INVISIBLE}0"
    b.write_bulk(tmp_path / "export", [*clean_chart()[:-1], claim])
    assert main(["check", "--source", str(tmp_path / "export")]) == 0
    table = capsys.readouterr().out
    assert not any(c in table for c in INVISIBLE)
    assert "dx-invalid [D51.\\u200b\\u200e\\u2066\\u2069\\ufeff\\xad\\u2060\\u20280]" in table


def test_invisible_characters_on_stderr_are_escaped(tmp_path, capsys):
    assert main(["check", "--source", str(tmp_path / f"gone{INVISIBLE}\x00")]) == 2
    err = capsys.readouterr().err
    assert not any(c in err for c in INVISIBLE + "\x00")
    assert "gone\\u200b\\u200e\\u2066\\u2069\\ufeff\\xad\\u2060\\u2028\\x00" in err


def test_control_characters_in_a_message_on_stderr_are_escaped(tmp_path, capsys):
    assert main(["check", "--source", str(tmp_path / "gone\x1b]0;owned\x07")]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err and "gone\\x1b]0;owned\\x07" in err


def test_spark_escapes_a_file_name_on_stderr(tmp_path, capsys):
    pytest.importorskip("pyspark")  # without it the command stops first, naming the extra
    # refused before Spark starts: the config file cannot be read
    assert main(["spark", "--source", str(tmp_path), "--out", str(tmp_path / "out"),
                 "--config", str(tmp_path / "gone\x1b]0;owned\x07.toml")]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err and "gone\\x1b]0;owned\\x07" in err


def test_codes_add_escapes_a_file_name_on_stderr(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("B12_CACHE_DIR", str(tmp_path / "cache"))
    junk = tmp_path / "notes\x1b[2J.xml"
    junk.write_text("<html>not a tabular</html>")
    assert main(["codes", "add", "--tabular", str(junk), "--codes", str(junk),
                 "--effective", "2026-10-01"]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "notes\\x1b[2J.xml: not an ICD-10-CM tabular" in err
