"""`b12-adapter spark` gives file mode's verdicts, findings, skips and errors, claim for claim.

Runs Spark in local mode (``local[2]``, one session for all: tests/spark/conftest.py) on the
demo, on real exports (fixtures/realdata) with B12 claims added for their patients, and on
the export shapes of SPEC section 2 (manifest, numbered, gzipped files, a log, a BOM, CRLF).
File mode is ``adapter.modes.check_files`` on the same data.
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from adapter.cli import main
from fixtures import builders as b
from tests.spark.compare import assert_same, file_output, lines, run_spark, spark_output

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "fixtures" / "demo"
REALDATA = ROOT / "fixtures" / "realdata"


# --- the demo ----------------------------------------------------------------------------


def test_the_spark_command_writes_the_demos_findings_as_file_mode_does(spark, tmp_path, capsys):
    out = tmp_path / "out"

    status = main(["spark", "--source", str(DEMO), "--out", str(out), "--master", "local[2]"])

    printed = json.loads(capsys.readouterr().out)
    assert status == 0
    expected = file_output(DEMO)
    assert_same(spark_output(out), expected)
    assert printed["summary"] == expected["summary"]
    assert expected["summary"]["checked"] >= 38 and expected["issues"]


def test_detected_issues_are_valid_and_identified_at_the_runs_instant(spark, tmp_path):
    run_spark(spark, DEMO, tmp_path)
    from adapter.spark.publish import latest_run

    issues = lines(latest_run(tmp_path) / "DetectedIssue")
    assert {i["resourceType"] for i in issues} == {"DetectedIssue"}
    assert len({i["identifiedDateTime"] for i in issues}) == 1
    assert len({i["id"] for i in issues}) == len(issues)


# --- export shapes (SPEC section 2) ------------------------------------------------------


def _write_lines(path: Path, text_lines: list[str], *, bom: bool = False, crlf: bool = False,
                 zipped: bool = False) -> None:
    text = ("\r\n" if crlf else "\n").join(text_lines) + "\n"
    data = (("\ufeff" if bom else "") + text).encode("utf-8")
    path.write_bytes(gzip.compress(data) if zipped else data)


def test_a_bulk_export_as_servers_publish_it_reads_as_the_plain_directory(spark, tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    output = []
    for n, source in enumerate(sorted(DEMO.glob("*.ndjson"))):
        rtype = source.stem
        rows = source.read_text().splitlines()
        half = len(rows) // 2
        first, second = f"{rtype}.000.ndjson.gz", f"{n}.{rtype}.ndjson"
        _write_lines(export / first, rows[:half], zipped=True, bom=True)
        _write_lines(export / second, rows[half:], crlf=True)
        output += [{"type": rtype, "url": f"https://example.org/files/{first}"},
                   {"type": rtype, "url": f"https://example.org/files/{second}"}]
    (export / "log.ndjson").write_text('{"exportId": "x", "eventId": "kickoff"}\n')
    (export / "Encounter.000.ndjson").write_text("this file is never read\n")
    (export / "manifest.json").write_text(json.dumps({
        "transactionTime": "2026-04-01T00:00:00Z", "request": "https://example.org/$export",
        "requiresAccessToken": True, "output": output,
        "error": [{"type": "OperationOutcome", "url": "https://example.org/files/log.ndjson"}],
    }))

    assert_same(run_spark(spark, export, tmp_path / "out"), file_output(DEMO))


def test_without_a_manifest_numbered_and_gzipped_files_are_read_and_the_log_is_not(
        spark, tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    for source in sorted(DEMO.glob("*.ndjson")):
        _write_lines(export / f"{source.stem}.000.ndjson.gz", source.read_text().splitlines(),
                     zipped=True)
    (export / "log.ndjson").write_text('{"exportId": "x", "eventId": "kickoff"}\n')
    (export / "Immunization.000.ndjson").write_text("not read: no check reads the type\n")

    assert_same(run_spark(spark, export, tmp_path / "out"), file_output(DEMO))


def test_a_directory_of_bundles_with_uuid_references_reads_as_file_mode_does(spark, tmp_path):
    source = tmp_path / "bundles"
    source.mkdir()
    by_patient: dict[str, list[dict]] = defaultdict(list)
    for path in sorted(DEMO.glob("*.ndjson")):
        for line in path.read_text().splitlines():
            resource = json.loads(line)
            holder = resource.get("subject") or resource.get("patient")
            owner = (resource["id"] if resource["resourceType"] == "Patient" else
                     holder["reference"].split("/")[1] if holder else
                     "shared")  # Medications, practitioners: one Bundle of their own
            by_patient[owner].append(resource)
    for owner, resources in by_patient.items():
        uuids = {f"{r['resourceType']}/{r['id']}": f"urn:uuid:{owner}-{n}"
                 for n, r in enumerate(resources)}
        text = json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [
            {"fullUrl": uuids[f"{r['resourceType']}/{r['id']}"], "resource": r}
            for r in resources]})
        for ref, uuid in uuids.items():  # refer to entries by fullUrl, as Synthea does
            text = text.replace(f'"reference": "{ref}"', f'"reference": "{uuid}"')
        (source / f"{owner}.json").write_text(text)

    assert_same(run_spark(spark, source, tmp_path / "out"), file_output(source))


# --- real exports, with B12 claims for their patients ------------------------------------


def _read_all(directory: Path, rtype: str) -> list[dict]:
    return [json.loads(line) for path in sorted(directory.glob(f"*{rtype}*.ndjson"))
            if path.name.split(".")[0 if path.name[0].isalpha() else 1] == rtype
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def with_b12_claims(real: Path, dest: Path) -> Path:
    """A copy of ``real`` plus B12 claims for its patients, linking their real Conditions and
    Observations, another patient's Conditions (a B12 one and a real one no check reads), a
    Condition of no patient, an unrelated lab and a resource that is not there; added in
    numbered files, as an export would."""
    shutil.copytree(real, dest)
    patients = [p["id"] for p in _read_all(real, "Patient")]
    conditions: dict[str, list[str]] = defaultdict(list)
    for c in _read_all(real, "Condition"):
        conditions[c["subject"]["reference"].split("/")[-1]].append(f"Condition/{c['id']}")
    labs: dict[str, list[str]] = defaultdict(list)
    other_labs: dict[str, list[str]] = defaultdict(list)
    for o in _read_all(real, "Observation"):
        codes = {c.get("code") for c in o.get("code", {}).get("coding", [])}
        owner = o.get("subject", {}).get("reference", "/").split("/")[-1]
        (labs if "718-7" in codes else other_labs)[owner].append(f"Observation/{o['id']}")
    charted = [p for p in patients if conditions[p]]
    assert len(charted) >= 3, real
    p0, p1, p2 = charted[:3]
    when = "2019-06-03"
    claims = [
        b.claim("b12-real-1", p0, when, supporting=(conditions[p0][0],)),
        b.claim("b12-real-2", p1, when, diagnoses=("D51.9",),
                supporting=(*labs[p1][:1], *conditions[p1][:1])),
        b.claim("b12-real-3", p2, when, supporting=(conditions[p0][0], "Condition/b12-real-c0",
                                                    *other_labs[p2][:1])),
        b.claim("b12-real-4", p0, when, diagnoses=("E53.8", "D51.0"),
                supporting=("Observation/not-in-the-export",)),
        b.claim("b12-real-5", p1, when, diagnoses=("Condition/no-patient", "E53.8")),
        b.claim("b12-real-6", p2, when, diagnoses=("D51.0",), status="entered-in-error"),
    ]
    orphan = b.condition("no-patient", p1, icd="D51.0")
    del orphan["subject"]
    admins = [b.administration("b12-real-a1", p0, when),
              b.administration("b12-real-a3", p2, when, reason=conditions[p0][0].split("/")[1]),
              b.administration("b12-real-a5", p1, when, dose=2, unit="mg")]
    _write_lines(dest / "1.Claim.ndjson", [json.dumps(c) for c in claims])
    b12_dx = b.condition("b12-real-c0", p0, icd="E53.8")
    _write_lines(dest / "1.Condition.ndjson", [json.dumps(orphan), json.dumps(b12_dx)])
    _write_lines(dest / "1.MedicationAdministration.ndjson", [json.dumps(a) for a in admins])
    return dest


def test_synthea_export_with_b12_claims_matches_file_mode(spark, tmp_path):
    source = with_b12_claims(REALDATA / "synthea-bulk-9-patients", tmp_path / "synthea")

    spark_run = run_spark(spark, source, tmp_path / "out")

    assert_same(spark_run, file_output(source))
    assert spark_run["summary"]["checked"] == 5
    assert spark_run["summary"]["skipped"] > 250  # Synthea's own claims: no B12 item
    messages = {json.loads(e)["message"] for e in spark_run["errors"]}
    assert any(m.startswith("references Condition/b12-real-c0, which belongs to Patient/")
               for m in messages), messages
    # another patient's Condition that no check reads (SNOMED, unmapped) is passed over
    # unread, by file mode's prefilter too: known to exist, its patient never looked at
    assert not any("belongs to" in m and "b12-real-c0" not in m for m in messages), messages
    assert "Condition has no subject: whose diagnosis it is cannot be told" in messages
    assert any("not-in-the-export, which is not in the source" in m for m in messages)


def test_bulk_export_with_its_log_matches_file_mode_on_its_data_files(spark, tmp_path):
    source = with_b12_claims(REALDATA / "bulk-export-10-patients", tmp_path / "export")
    data_only = tmp_path / "data-only"  # the same files without the log, for file mode
    shutil.copytree(source, data_only, ignore=shutil.ignore_patterns("log.ndjson"))

    spark_run = run_spark(spark, source, tmp_path / "out")

    assert_same(spark_run, file_output(data_only))
    assert spark_run["summary"]["checked"] == 5


@pytest.mark.parametrize("name", ["synthea-bulk-9-patients", "bulk-export-10-patients"])
def test_the_committed_copies_are_the_shared_real_data(name):
    shared = ROOT.parent / "shared" / "realdata" / name
    if not shared.is_dir():
        pytest.skip(f"{shared} is not on this machine (CI on a fresh clone): "
                    "the committed copy is tested as it is")
    for copy in sorted((REALDATA / name).iterdir()):
        assert copy.read_bytes() == (shared / copy.name).read_bytes(), copy.name


# --- bad input ---------------------------------------------------------------------------


def test_malformed_lines_and_patientless_resources_are_errors_not_a_crash(spark, tmp_path):
    source = tmp_path / "bad"
    shutil.copytree(DEMO, source)
    with (source / "Observation.ndjson").open("a") as handle:
        handle.write('{"resourceType": "Observation", "id": "cut-off", "status": \n')
        handle.write('["not", "a", "resource"]\n')
        bad = b.lab("bad-value", "p01", "b12", 100, "pg/mL", "2026-01-10")
        bad["valueQuantity"]["value"] = "low"
        handle.write(json.dumps(bad) + "\n")
        orphan = b.lab("no-subject", "p01", "b12", 100, "pg/mL", "2026-01-10")
        del orphan["subject"]
        handle.write(json.dumps(orphan) + "\n")
        # a lab no check reads: passed over unread (file mode's prefilter), its bad value
        # never looked at
        glucose = b.lab("glucose-low", "p01", "glucose", 90, "mg/dL", "2026-01-10")
        glucose["valueQuantity"]["value"] = "low"
        handle.write(json.dumps(glucose) + "\n")
        # a resource of another type in a file named for one: named, not read
        handle.write(json.dumps(b.condition("misfiled", "p01", icd="D51.0")) + "\n")
    with (source / "Condition.ndjson").open("a") as handle:
        unread = b.condition("no-subject-unmapped", "p01", snomed="38341003")  # hypertension
        del unread["subject"]
        handle.write(json.dumps(unread) + "\n")
    with (source / "Claim.ndjson").open("a") as handle:
        handle.write(json.dumps(b.claim("no-patient-claim", "p01", "2026-03-02")
                                | {"patient": None}) + "\n")

    spark_run = run_spark(spark, source, tmp_path / "out")
    file_run = file_output(source)

    errors = [json.loads(e) for e in spark_run["errors"].elements()]
    located = [e for e in errors if e["resource"].startswith("Observation.ndjson")]
    messages = ["not valid JSON (Expecting value)", "not a FHIR resource (no resourceType)",
                "a Condition in a file of Observation: not read"]
    assert sorted(e["message"] for e in located) == sorted(messages)
    # a file read in one split: its lines named by number, as file mode names them
    assert all(e["resource"].startswith("Observation.ndjson:") for e in located)
    assert spark_run["errors"] == file_run["errors"]
    assert not [e for e in errors if "glucose-low" in e["resource"]
                or "no-subject-unmapped" in e["resource"]]
    assert {"resource": "Observation/bad-value",
            "message": "valueQuantity.value is not a number: 'low'"} in errors
    assert {"resource": "Claim/no-patient-claim", "message": "Claim has no patient"} in errors
    assert spark_run["claims"] == file_run["claims"]
    assert spark_run["issues"] == file_run["issues"]


def test_a_missing_source_is_unusable_input(spark, tmp_path, capsys):
    status = main(["spark", "--source", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")])
    assert status == 2
    assert "no such file or directory" in capsys.readouterr().err
