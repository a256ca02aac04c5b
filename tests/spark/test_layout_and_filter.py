"""Which files are read and what crosses the shuffle: plain Python, no Spark needed."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from adapter.mappings import load_mappings
from adapter.spark import layout
from adapter.spark.records import (
    CLAIM,
    DRUG,
    ERRORS,
    FACT,
    KNOWN,
    OUT,
    SKIPPED,
    WAITING,
    RunSpec,
    line_rows,
    resolve_uses,
)
from adapter.spark.records import wanted_type as wanted
from fixtures import builders as b

SPEC = RunSpec.of(load_mappings().thresholds, datetime(2026, 4, 1, tzinfo=UTC))


def names(found: layout.Layout) -> list[str]:
    return [f.name for f in found.files]


def test_numbered_and_gzipped_files_are_data_and_the_log_and_unread_types_are_not():
    found = layout.plan("s3a://bucket/export", [
        "Condition.000.ndjson", "1.Claim.ndjson", "Observation.001.ndjson.gz", "log.ndjson",
        "Immunization.000.ndjson", "Encounter.ndjson.gz", "part-7.ndjson", "_SUCCESS",
        "README.md", "bundle.json"], None, wanted)
    # by name, as file mode reads them: of two claims with one id, the first is the same
    assert names(found) == ["1.Claim.ndjson", "Condition.000.ndjson",
                            "Observation.001.ndjson.gz", "bundle.json", "part-7.ndjson"]
    assert found.files[1].path == "s3a://bucket/export/Condition.000.ndjson"
    assert [f.resource_type for f in found.files if not f.bundle] == [
        "Claim", "Condition", "Observation", None]
    assert any(i.startswith("log.ndjson") for i in found.ignored)
    assert any(i.startswith("Immunization.000.ndjson: Immunization") for i in
               found.ignored)


def test_the_manifest_names_the_files_and_their_types():
    manifest = json.dumps({"output": [
        {"type": "Patient", "url": "https://x.org/f/a1.ndjson"},
        {"type": "Encounter", "url": "https://x.org/f/a2.ndjson"},
        {"type": "Condition", "url": "https://x.org/f/missing.ndjson"}],
        "error": [{"type": "OperationOutcome", "url": "https://x.org/f/err.ndjson"}]})
    found = layout.plan("/data", ["a1.ndjson", "a2.ndjson", "err.ndjson", "manifest.json"],
                        manifest, wanted)
    assert [(f.name, f.resource_type) for f in found.files] == [("a1.ndjson", "Patient")]
    assert [p.message for p in found.problems] == [
        "names missing.ndjson, which is not in the directory"]
    assert "err.ndjson: not named in manifest.json" in found.ignored


def test_a_broken_manifest_is_an_error_and_nothing_is_read():
    found = layout.plan("/data", ["a.ndjson", "manifest.json"], "{oops", wanted)
    assert found.files == [] and "not a Bulk Data manifest" in found.problems[0].message


def rows(resource: dict) -> list[tuple]:
    return list(line_rows(json.dumps(resource), "X.ndjson at byte 0", SPEC, 0, 0))


def test_only_what_a_check_reads_crosses_the_shuffle_keyed_by_patient():
    b12 = rows(b.lab("o1", "p1", "b12", 150, "pg/mL", "2026-01-02"))
    assert [(r[0], r[1], r[2]) for r in b12] == [(FACT, "Patient/p1", "Observation/o1")]
    glucose = rows(b.lab("g1", "p1", "glucose", 100, "mg/dL", "2026-01-02"))
    assert [(r[0], r[1], r[2], r[3]) for r in glucose] == [(KNOWN, None, "Observation/g1", None)]
    assert rows({"resourceType": "Encounter", "id": "e1",
                 "subject": {"reference": "Patient/p1"}}) == []
    assert rows(b.patient("p1"))[0][:3] == (FACT, "Patient/p1", "Patient/p1")
    condition = rows(b.condition("c1", "p1", icd="D51.0", evidence=("o1",)))
    assert condition[0][:3] == (FACT, "Patient/p1", "Condition/c1")
    assert condition[0][4] == ["Observation/o1"]  # followed by the link join


def test_claims_out_of_scope_are_output_on_the_map_side():
    in_scope = rows(b.claim("k1", "p1", "2026-03-02", supporting=("Condition/c1",)))
    assert [(r[0], r[1], r[2], r[4]) for r in in_scope] == [
        (CLAIM, "Patient/p1", "Claim/k1", ["Condition/c1"])]
    flu = rows(b.claim("k2", "p1", "2026-03-02", product=(b.CPT, "90686")))
    assert [(r[0], r[5], json.loads(r[3])) for r in flu] == [
        (OUT, SKIPPED, {"claim": "Claim/k2", "reason": "no B12 injection item"})]
    unreadable = rows(b.claim("k3", "p1", "not a date"))
    assert [(r[0], r[5]) for r in unreadable] == [(OUT, ERRORS)]


def typed_rows(resource: dict, rtype: str) -> list[tuple]:
    name = f"{rtype}.ndjson"
    return list(line_rows(json.dumps(resource), f"{name} at byte 0", SPEC, 0, 0, rtype, name))


def test_in_a_file_named_for_a_type_lines_are_read_as_file_mode_reads_them():
    hypertension = b.condition("c9", "p1", snomed="38341003")
    del hypertension["subject"]  # wrong, but in a line the prefilter passes over
    assert [r[:4] for r in typed_rows(hypertension, "Condition")] == [
        (KNOWN, None, "Condition/c9", None)]
    assert [json.loads(r[3])["message"] for r in rows(hypertension)  # no type: parsed
            if r[0] == OUT] == ["Condition has no subject: whose diagnosis it is cannot be told"]
    b12_dx = b.condition("c1", "p1", icd="D51.0")
    assert typed_rows(b12_dx, "Condition")[0][:3] == (FACT, "Patient/p1", "Condition/c1")
    misfiled = typed_rows(b12_dx, "Observation")
    assert [(r[0], json.loads(r[3])) for r in misfiled] == [(OUT, {
        "resource": "Observation.ndjson at byte 0",
        "message": "a Condition in a file of Observation: not read"})]
    in_claims = typed_rows(b12_dx, "Claim")
    assert [json.loads(r[3]) for r in in_claims] == [
        {"resource": "Condition/c1", "message": "in Claim.ndjson, a file of Claim: not read"}]


def test_a_use_whose_drug_is_a_medication_resource_waits_for_it_and_is_judged_with_it():
    use = b.administration("a1", "p1", "2026-03-02", medication="Medication/m1")
    waiting = rows(use)
    assert [(r[0], r[2], r[4]) for r in waiting] == [
        (WAITING, "MedicationAdministration/a1", ["Medication/m1"])]
    drug = rows(b.medication("m1"))
    assert [(r[0], r[2]) for r in drug] == [(DRUG, "Medication/m1")]
    judged = list(resolve_uses([(waiting[0][3], 0, 0, drug[0][3])], SPEC))
    assert [(r[0], r[1], r[2], r[8]) for r in judged] == [
        (FACT, "Patient/p1", "MedicationAdministration/a1", drug[0][3])]
    unknown = list(resolve_uses([(waiting[0][3], 0, 0, None)], SPEC))
    assert [(r[0], r[2]) for r in unknown] == [(OUT, None), (KNOWN,
                                                             "MedicationAdministration/a1")]
    assert json.loads(unknown[0][3]) == {
        "resource": "MedicationAdministration/a1",
        "message": "medicationReference Medication/m1 is not in the source: the drug cannot "
                   "be told"}


def test_bad_lines_are_errors_that_name_where_they_are():
    broken = list(line_rows('{"resourceType": ', "Condition.000.ndjson:3", SPEC, 0, 812))
    assert [(r[0], r[5], json.loads(r[3])["resource"]) for r in broken] == [
        (OUT, ERRORS, "Condition.000.ndjson:3")]
    assert list(line_rows("\ufeff  \r", "x", SPEC, 0, 0)) == []


def test_lines_are_numbered_within_their_split_and_ordered_across_splits():
    pa = pytest.importorskip("pyarrow", reason="the spark extra is not installed")
    from adapter.spark.arrow import parse_lines

    claim = json.dumps(b.claim("c1", "p01", "2026-03-02"))
    values = ["", "{bad", claim, "{bad", claim]  # a blank line counts, as in file mode
    starts = [0, 0, 0, 4096, 4096]  # the file's first split, then one from byte 4096
    batch = pa.RecordBatch.from_pydict({"value": values, "file_name": ["Claim.ndjson"] * 5,
                                        "file_block_start": starts})
    rows = [row for out in parse_lines([batch], {"Claim.ndjson": (2, "Claim", "Claim.ndjson")},
                                       SPEC) for row in out.to_pylist()]

    where = [json.loads(r["text"])["resource"] for r in rows if r["section"] == ERRORS]
    assert where == ["Claim.ndjson:2", "Claim.ndjson:1 after byte 4096"]
    claims = [(r["file"], r["pos"]) for r in rows if r["kind"] == CLAIM]
    assert claims == [(2, 2), (2, 4097)]  # file order kept: the first claim of an id stands


def test_the_check_command_never_imports_pyspark():
    code = ("import sys, contextlib, io\n"
            "from adapter.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    assert main(['check', '--source', 'fixtures/demo']) == 0\n"
            "assert not [m for m in sys.modules if m.split('.')[0] in ('pyspark', 'py4j')]\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=b.__file__.rsplit("/", 2)[0])
