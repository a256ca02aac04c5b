"""File sources as real systems publish them (SPEC section 2): Bulk Data directories with a
manifest, numbered and gzipped files and the export's own log; a BOM, CRLF and key-sorted or
pretty-printed JSON. Each must give the same report as the plain layout."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from adapter.cli import main
from fixtures import builders as b
from tests.scenario import SERVICE, clean_chart

Resource = dict[str, Any]


def _chart() -> list[Resource]:
    """Two claims, one with a finding, so a report shows what was read."""
    return [*clean_chart(), b.patient("p2"), b.condition("c2", "p2", icd="E53.8"),
            b.claim("k2", "p2", SERVICE)]


def _by_type(resources: list[Resource]) -> dict[str, list[Resource]]:
    grouped: dict[str, list[Resource]] = {}
    for resource in resources:
        grouped.setdefault(resource["resourceType"], []).append(resource)
    return grouped


def _lines(resources: list[Resource], **dumps: Any) -> str:
    return "".join(json.dumps(r, **dumps) + "\n" for r in resources)


def _report(capsys: pytest.CaptureFixture[str], source: Path) -> tuple[int, dict]:
    status = main(["check", "--source", str(source), "--format", "json"])
    return status, json.loads(capsys.readouterr().out)


@pytest.fixture
def plain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    directory = tmp_path / "plain"
    directory.mkdir()
    for rtype, resources in _by_type(_chart()).items():
        (directory / f"{rtype}.ndjson").write_text(_lines(resources))
    status, report = _report(capsys, directory)
    assert status == 0 and report["summary"]["checked"] == 2
    return report


LOG = ('{"exportId": "export-10", "timestamp": "2024-08-06T14:11:57-04:00", "eventId": '
       '"kickoff", "eventDetail": {"exportUrl": "https://example.com/fhir/$export"}}\n')


def test_a_published_export_with_manifest_numbered_gzipped_files_and_a_log(
        tmp_path, capsys, plain):
    directory = tmp_path / "export"
    directory.mkdir()
    output = []
    for n, (rtype, resources) in enumerate(_by_type(_chart()).items()):
        name = f"{rtype}.000.ndjson.gz" if n % 2 else f"{n}.{rtype}.ndjson"
        data = _lines(resources).encode()
        (directory / name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
        output.append({"type": rtype, "url": f"https://example.com/files/{name}", "count": 1})
    (directory / "manifest.json").write_text(json.dumps({
        "transactionTime": "2026-03-03T00:00:00Z", "request": "https://example.com/$export",
        "requiresAccessToken": True, "output": output, "error": []}, sort_keys=True))
    (directory / "log.ndjson").write_text(LOG)
    assert _report(capsys, directory) == (0, plain)


def test_numbered_gzipped_files_and_a_log_without_a_manifest(tmp_path, capsys, plain):
    directory = tmp_path / "export"
    directory.mkdir()
    for rtype, resources in _by_type(_chart()).items():
        (directory / f"{rtype}.000.ndjson.gz").write_bytes(gzip.compress(
            _lines(resources).encode()))
    (directory / "log.ndjson").write_text(LOG)
    assert _report(capsys, directory) == (0, plain)


def test_a_bom_crlf_and_key_sorted_lines_are_read(tmp_path, capsys, plain):
    directory = tmp_path / "export"
    directory.mkdir()
    for rtype, resources in _by_type(_chart()).items():
        text = _lines(resources, sort_keys=True).replace("\n", "\r\n")
        (directory / f"{rtype}.ndjson").write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert _report(capsys, directory) == (0, plain)


def test_a_pretty_printed_key_sorted_bundle_with_its_resource_type_past_4096_chars(
        tmp_path, capsys, plain):
    entries = [{"fullUrl": f"urn:uuid:{r['resourceType']}-{r['id']}", "resource": r}
               for r in _chart()]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries,
              "meta": {"tag": [{"code": "x" * 5000}]}}
    path = tmp_path / "bundle.json"
    path.write_text("\ufeff" + json.dumps(bundle, indent=2, sort_keys=True))
    assert path.read_text().index('"resourceType": "Bundle"') > 4096
    assert _report(capsys, path) == (0, plain)


def test_a_directory_of_bundles_gives_the_report_of_its_ndjson(tmp_path, capsys, plain):
    directory = tmp_path / "bundles"
    directory.mkdir()
    for pid in ("p1", "p2"):
        mine = [r for r in _chart() if json.dumps(r).count(f'"Patient/{pid}"')
                or r.get("id") == pid]
        (directory / f"{pid}.json").write_text(json.dumps({
            "resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": r} for r in mine]}))
    assert _report(capsys, directory) == (0, plain)


def test_a_claim_in_a_mixed_ndjson_file_is_read_once_in_the_claim_pass(tmp_path, capsys, plain):
    path = tmp_path / "everything.ndjson"
    path.write_text(_lines(_chart()))
    assert _report(capsys, path) == (0, plain)


def test_a_directory_holding_only_an_export_log_is_unusable(tmp_path, capsys):
    (tmp_path / "log.ndjson").write_text(LOG)
    status = main(["check", "--source", str(tmp_path)])
    assert status == 2 and "holds no FHIR" in capsys.readouterr().err


def test_a_manifest_naming_a_file_that_is_not_there_is_unusable(tmp_path, capsys):
    (tmp_path / "manifest.json").write_text(json.dumps(
        {"output": [{"type": "Claim", "url": "https://example.com/Claim.ndjson"}]}))
    status = main(["check", "--source", str(tmp_path)])
    assert status == 2 and "Claim.ndjson, which is not in" in capsys.readouterr().err


def test_a_broken_gzip_file_is_an_error_and_the_rest_is_read(tmp_path, capsys):
    for rtype, resources in _by_type(_chart()).items():
        (tmp_path / f"{rtype}.ndjson").write_text(_lines(resources))
    (tmp_path / "Observation.001.ndjson.gz").write_bytes(
        gzip.compress(b'{"resourceType":"Observation"}\n')[:-8] + b"garbage!")
    status, report = _report(capsys, tmp_path)
    assert status == 1 and report["summary"]["checked"] == 2
    assert [e["resource"] for e in report["errors"]] == ["Observation.001.ndjson.gz"]


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("broken", ["link", "directory"])
def test_a_broken_link_or_a_directory_named_like_a_data_file_is_an_error(
        tmp_path, capsys, broken, workers):
    for rtype, resources in _by_type(_chart()).items():
        (tmp_path / f"{rtype}.ndjson").write_text(_lines(resources))
    (tmp_path / "Observation.ndjson").unlink()
    unreadable = ["Observation.ndjson", "Claim.001.ndjson", "more.json"]
    for name in unreadable:
        if broken == "link":
            (tmp_path / name).symlink_to(tmp_path / "gone" / name)
        else:
            (tmp_path / name).mkdir()
    status = main(["check", "--source", str(tmp_path), "--format", "json",
                   "--workers", workers])
    report = json.loads(capsys.readouterr().out)
    assert status == 1 and report["summary"]["checked"] == 2  # the rest is read
    files = {e["resource"]: e["message"] for e in report["errors"] if "/" not in e["resource"]}
    assert sorted(files) == sorted(unreadable)
    assert all(message.startswith("cannot be read (a ") for message in files.values())
    k1 = next(c for c in report["claims"] if c["claim"] == "Claim/k1")
    assert "lab-missing" in [f["code"] for f in k1["findings"]]


@pytest.mark.parametrize("name", ["Export.ndjson", "Claims.ndjson", "FHIR.ndjson",
                                  "Patients.000.ndjson", "Bundle.ndjson"])
@pytest.mark.parametrize("alone", [False, True], ids=["in-a-directory", "as-the-source"])
def test_a_file_named_for_no_resource_type_is_read_as_a_file_of_any_type(
        tmp_path, capsys, plain, name, alone):
    """Found by comparing a typed export with the same lines in one untyped file: any
    capitalised word was taken for a type, so ``Export.ndjson`` was a file of the type
    "Export", which no check reads, and was never opened: an empty report, exit status 0.
    Bundle, a resource type, holds resources of every type."""
    directory = tmp_path / "export"
    directory.mkdir()
    resources = _chart()
    if name.startswith("Bundle"):
        resources = [{"resourceType": "Bundle", "type": "collection",
                      "entry": [{"resource": r}]} for r in resources]
    (directory / name).write_text(_lines(resources))
    assert _report(capsys, directory / name if alone else directory) == (0, plain)


def test_a_bundle_line_of_several_claims_in_a_mixed_file_gives_each_claim_once(
        tmp_path, capsys, plain):
    """Found by comparing a typed export with the same lines in one untyped file: the
    records pass noted a line's offset once per claim in it, so the claim pass read a Bundle
    line of two claims twice ("a second claim with this id")."""
    claims = [r for r in _chart() if r["resourceType"] == "Claim"]
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": r} for r in claims]}
    path = tmp_path / "everything.ndjson"
    path.write_text(_lines([r for r in _chart() if r["resourceType"] != "Claim"])
                    + json.dumps(bundle) + "\n")
    assert len(claims) == 2
    assert _report(capsys, path) == (0, plain)


def test_ndjson_under_a_json_name_is_named_with_what_to_do(tmp_path, capsys):
    (tmp_path / "export.json").write_text(_lines(_chart()))
    (tmp_path / "Patient.ndjson").write_text(_lines([b.patient("p2")]))
    status, report = _report(capsys, tmp_path)
    assert {e["resource"]: e["message"] for e in report["errors"]} == {
        "export.json": "not valid JSON (Extra data): it is NDJSON, one resource per line: name "
                       "it .ndjson"}
    assert status == 1


NOT_NDJSON = ("a JSON document over several lines, not NDJSON (one resource per line): not "
              "read (name it .json, or write one resource per line)")


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("name, gz", [("Bundle.ndjson", False), ("Claim.ndjson", False),
                                      ("Condition.000.ndjson.gz", True)])
def test_a_pretty_printed_document_saved_as_ndjson_is_one_error_naming_it(
        tmp_path, capsys, name, gz, workers):
    """A pretty-printed Bundle (or resource) under an NDJSON name gave an error a line
    ("Bundle.ndjson:1: not valid JSON", ":2", ... hundreds): it is named once, not read, and
    the other files are."""
    resources = _chart()
    kept = [r for r in resources if r["resourceType"] not in ("Claim", "Condition")]
    for rtype, typed in _by_type(kept).items():
        (tmp_path / f"{rtype}.ndjson").write_text(_lines(typed))
    claims = [r for r in resources if r["resourceType"] == "Claim"]
    conditions = [r for r in resources if r["resourceType"] == "Condition"]
    if name.startswith("Claim"):
        (tmp_path / "Condition.ndjson").write_text(_lines(conditions))
        (tmp_path / "Claim.001.ndjson").write_text(_lines(claims[1:]))
        document: Any = claims[0]
    else:
        (tmp_path / "Claim.ndjson").write_text(_lines(claims))
        document = {"resourceType": "Bundle", "type": "collection",
                    "entry": [{"resource": r} for r in conditions]}
    written = json.dumps(document, indent=2).encode()
    (tmp_path / name).write_bytes(gzip.compress(written) if gz else written)
    status = main(["check", "--source", str(tmp_path), "--format", "json",
                   "--workers", workers])
    report = json.loads(capsys.readouterr().out)
    file_errors = [e for e in report["errors"] if "/" not in e["resource"]]
    assert file_errors == [{"resource": name, "message": NOT_NDJSON}]
    assert status == 1
    judged = {c["claim"]: [f["code"] for f in c["findings"]] for c in report["claims"]}
    if name.startswith("Claim"):
        assert list(judged) == ["Claim/k2"]
    else:  # its Conditions were not read: k1 links one
        assert sorted(judged) == ["Claim/k1", "Claim/k2"]
        assert "dx-not-documented" in judged["Claim/k1"]
        assert [e["resource"] for e in report["errors"] if "/" in e["resource"]] == ["Claim/k1"]


def test_a_pretty_printed_bundle_saved_as_ndjson_as_the_source_is_unusable(tmp_path, capsys):
    path = tmp_path / "Bundle.ndjson"
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection",
                                "entry": [{"resource": r} for r in _chart()]}, indent=1))
    assert main(["check", "--source", str(path)]) == 2
    out, err = capsys.readouterr()
    assert err == f"b12-adapter: {path}: {NOT_NDJSON}\n" and out == ""


def test_an_ndjson_file_whose_first_line_is_broken_is_still_read_a_line_at_a_time(
        tmp_path, capsys):
    """Only a file that is one JSON document is named so: a brace alone on the first line of
    real NDJSON is one bad line, and the rest is read."""
    for rtype, resources in _by_type(_chart()).items():
        (tmp_path / f"{rtype}.ndjson").write_text(
            ("{\n" if rtype == "Observation" else "") + _lines(resources))
    status, report = _report(capsys, tmp_path)
    assert status == 1 and report["summary"]["checked"] == 2
    assert [e["resource"] for e in report["errors"]] == ["Observation.ndjson:1"]


def test_a_json_file_with_more_after_its_value_gets_no_ndjson_hint(tmp_path, capsys):
    (tmp_path / "export.json").write_text(
        '{"resourceType": "Bundle", "type": "collection", "entry": []}}\n')
    (tmp_path / "Patient.ndjson").write_text(_lines([b.patient("p2")]))
    _, report = _report(capsys, tmp_path)
    assert [e["message"] for e in report["errors"]] == ["not valid JSON (Extra data)"]


@pytest.mark.parametrize("manifest, problem", [
    ({"output": "notalist"}, 'has an "output" that is not a list'),
    ({}, 'has no "output"'),
    ([], "is not a JSON object"),
])
def test_a_manifest_without_its_output_list_is_named_with_what_it_should_be(
        tmp_path, capsys, manifest, problem):
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert main(["check", "--source", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert problem in err and '"output" lists the files' in err
    assert "list indices" not in err and "('output')" not in err and "()" not in err
