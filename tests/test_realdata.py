"""Real exports nobody here wrote (fixtures/realdata, copies of ../shared/realdata): every claim
accounted for, nothing valid reported as an error, exit 0; and the same records as Bulk NDJSON
and as a directory of Bundles give the same verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapter.cli import main
from fixtures import builders as b
from tests.test_real_records import PID, synthea_with_b12

REAL = Path(__file__).resolve().parent.parent / "fixtures" / "realdata"
CLAIM_TYPES = ("Claim", "ExplanationOfBenefit")


def _claims_in(folder: Path) -> int:
    count = 0
    for path in folder.iterdir():
        if path.suffix == ".ndjson":
            count += sum(1 for line in path.read_text().splitlines()
                         if json.loads(line).get("resourceType") in CLAIM_TYPES)
        elif path.suffix == ".json":
            data = json.loads(path.read_text())
            entries = [e.get("resource", {}) for e in data.get("entry", [])] \
                if data.get("resourceType") == "Bundle" else [data]
            count += sum(1 for r in entries if r.get("resourceType") in CLAIM_TYPES)
    return count


def _run(capsys: pytest.CaptureFixture[str], source: Path) -> tuple[int, dict]:
    status = main(["check", "--source", str(source), "--format", "json"])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return status, json.loads(out)


@pytest.mark.parametrize("folder", ["synthea-bulk-9-patients", "bulk-export-10-patients",
                                    "hl7-r4-examples"])
def test_every_claim_of_a_real_export_is_accounted_for_with_no_false_error(capsys, folder):
    status, report = _run(capsys, REAL / folder)
    assert status == 0 and report["errors"] == []
    summary = report["summary"]
    assert summary["checked"] + summary["skipped"] == _claims_in(REAL / folder)


def test_the_hl7_preauthorization_example_is_skipped_as_not_a_service_given(capsys):
    _, report = _run(capsys, REAL / "hl7-r4-examples" / "claim-example-oral-orthoplan.json")
    assert report["skipped"] == [{"claim": "Claim/100153", "reason":
                                  "use is preauthorization: not a claim for a service given"}]


def _write_bulk(directory: Path, resources: list) -> Path:
    return b.write_bulk(directory, resources)


def _write_bundles(directory: Path, resources: list[dict]) -> None:
    """One transaction Bundle per patient, urn:uuid fullUrls and references, as Synthea
    writes its per-patient files."""
    directory.mkdir()
    urls = {f"{r['resourceType']}/{r['id']}": f"urn:uuid:{r['id']}" for r in resources}
    text = json.dumps([r for r in resources])
    for ref, url in urls.items():
        text = text.replace(f'"{ref}"', f'"{url}"')
    entries = [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r,
                "request": {"method": "POST", "url": r["resourceType"]}}
               for r in json.loads(text)]
    (directory / f"{PID}.json").write_text(json.dumps(
        {"resourceType": "Bundle", "type": "transaction", "entry": entries}, indent=1))


def test_the_same_records_as_bulk_ndjson_and_as_bundles_give_the_same_verdicts(tmp_path, capsys):
    resources = synthea_with_b12(eob=True)
    _write_bulk(tmp_path / "bulk", resources)
    _write_bundles(tmp_path / "bundles", resources)
    bulk = _run(capsys, tmp_path / "bulk")
    bundles = _run(capsys, tmp_path / "bundles")
    assert bulk[0] == bundles[0] == 0
    assert bulk[1]["summary"] == bundles[1]["summary"]
    assert bulk[1]["summary"]["checked"] == 2  # the claim and its EOB, both with J3420

    def verdicts(report: dict) -> dict:
        return {c["claim"]: (c["verdict"], sorted(f["code"] for f in c["findings"]))
                for c in report["claims"]}

    assert verdicts(bulk[1]) == verdicts(bundles[1])
