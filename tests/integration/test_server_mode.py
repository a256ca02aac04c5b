"""check, sync and load against a real FHIR server process on 127.0.0.1 (Medplum's engine).

Every test works on its own patients and claims (ids carry the test's prefix), because the
server is shared by the session.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from adapter.cli import main
from adapter.fhir import FhirClient
from adapter.fhir.errors import FhirServerError
from adapter.load import SOURCE_ID_SYSTEM, load
from adapter.sync_state import run_lock
from fixtures import builders as b

SERVICE = "2026-03-02"
FINDING_ID = "urn:b12-fhir-adapter:finding-id"
CLAIM_ID = "urn:b12-fhir-adapter:claim"
# Medplum runs a transaction holding a conditional create only up to 8 entries.
MEDPLUM = ("--max-transaction-entries", "8")


def _chart(prefix: str) -> list[dict[str, Any]]:
    """Three claims: one supported, one with an unlinked chart and no lab, one not given."""
    p1, p2, p3 = f"{prefix}-p1", f"{prefix}-p2", f"{prefix}-p3"
    return [
        b.patient(p1), b.patient(p2, gender="male"), b.patient(p3),
        b.condition(f"{prefix}-c1", p1, snomed="84027009"),
        b.lab(f"{prefix}-o1", p1, "b12", 110, "pmol/L", "2026-02-10"),
        b.lab(f"{prefix}-h1", p1, "hemoglobin", 105, "g/L", "2026-02-10"),
        b.administration(f"{prefix}-a1", p1, SERVICE),
        b.claim(f"{prefix}-k1", p1, SERVICE, diagnoses=("D51.0",),
                supporting=(f"Condition/{prefix}-c1", f"Observation/{prefix}-o1")),
        b.condition(f"{prefix}-c2", p2, icd="E53.8"),
        b.administration(f"{prefix}-a2", p2, SERVICE, dose=1, unit="mg"),
        b.claim(f"{prefix}-k2", p2, SERVICE, diagnoses=("E53.8",)),
        b.condition(f"{prefix}-c3", p3, icd="E53.8"),
        b.lab(f"{prefix}-o3", p3, "b12", 150, "pg/mL", "2026-02-01"),
        b.claim(f"{prefix}-k3", p3, SERVICE, diagnoses=("E53.8",),
                supporting=(f"Condition/{prefix}-c3",)),
    ]


def _load(server: str, resources: list[dict[str, Any]]) -> None:
    """Test setup: the resources under the ids the tests name (this server creates by PUT)."""
    types = frozenset(r["resourceType"] for r in resources)
    with FhirClient(server, writable_types=types) as client:
        assert not load(client, resources, keep_ids=True).problems


def _issues(server: str, claim: str) -> list[dict[str, Any]]:
    bundle = requests.get(f"{server}/DetectedIssue", params={
        "identifier": f"{CLAIM_ID}|Claim/{claim}", "_count": "100"}, timeout=30).json()
    return [e["resource"] for e in bundle.get("entry", [])]


def _codes(server: str, claim: str, status: str = "final") -> set[str]:
    return {i["code"]["coding"][0]["code"] for i in _issues(server, claim)
            if i["status"] == status}


def _check(capsys: pytest.CaptureFixture[str], server: str, *extra: str) -> tuple[int, dict, str]:
    status = main(["check", "--server", server, "--format", "json", *MEDPLUM, *extra])
    out, err = capsys.readouterr()
    return status, json.loads(out), err


def _versions(server: str, rtype: str, prefix: str) -> dict[str, str]:
    bundle = requests.get(f"{server}/{rtype}", params={"_count": "1000"}, timeout=30).json()
    return {e["resource"]["id"]: e["resource"]["meta"]["versionId"]
            for e in bundle.get("entry", []) if e["resource"]["id"].startswith(prefix)}


def _source_ids(server: str, rtype: str) -> dict[str, str]:
    """Server reference -> the ``Type/id`` it had in the files (``load`` writes it down)."""
    bundle = requests.get(f"{server}/{rtype}", params={"_count": "1000"}, timeout=30).json()
    return {f"{rtype}/{e['resource']['id']}": i["value"]
            for e in bundle.get("entry", []) for i in e["resource"].get("identifier", [])
            if i.get("system") == SOURCE_ID_SYSTEM}


def test_check_writes_one_detected_issue_per_finding_and_a_rerun_writes_nothing(
        fhir_server, capsys):
    _load(fhir_server, _chart("wb"))
    claims = ["--claim", "wb-k1", "--claim", "wb-k2", "--claim", "wb-k3"]
    status, report, err = _check(capsys, fhir_server, *claims, "--stats")
    assert status == 0, report["errors"]
    verdicts = {c["claim"]: c["verdict"] for c in report["claims"]}
    assert verdicts == {"Claim/wb-k1": "supported", "Claim/wb-k2": "review",
                        "Claim/wb-k3": "unsupported"}
    for claim in report["claims"]:
        expected = {f["code"] for f in claim["findings"]}
        assert _codes(fhir_server, claim["claim"].split("/")[1]) == expected
    assert "requests:" in err

    status, again, err = _check(capsys, fhir_server, *claims)
    assert status == 0 and again["claims"] == report["claims"]
    assert "created 0, updated 0, cancelled 0" in err
    for claim in ("wb-k2", "wb-k3"):
        issues = _issues(fhir_server, claim)
        keys = [next(i["value"] for i in issue["identifier"] if i["system"] == FINDING_ID)
                for issue in issues]
        assert len(keys) == len(set(keys)), "a rerun must not duplicate issues"


def test_a_claim_asked_for_by_id_and_not_on_the_server_is_an_error(fhir_server, capsys):
    # SPEC 5: exit 1 when a claim could not be processed; an engine checking one claim a
    # call must tell "not there" from "checked and clean"
    _load(fhir_server, _chart("nf"))
    status, report, _err = _check(capsys, fhir_server, "--claim", "nf-k1", "--claim", "nf-none",
                                  "--dry-run")
    assert status == 1
    assert [c["claim"] for c in report["claims"]] == ["Claim/nf-k1"]
    assert [e["resource"] for e in report["errors"]] == ["Claim/nf-none"]
    assert "not found" in report["errors"][0]["message"]
    status, report, _err = _check(capsys, fhir_server, "--claim", "nf-none", "--dry-run")
    assert status == 1 and report["summary"]["errors"] == 1


def test_dry_run_writes_nothing_and_prints_the_writes(fhir_server, capsys):
    _load(fhir_server, _chart("dry"))
    status, report, err = _check(capsys, fhir_server, "--claim", "dry-k3", "--dry-run")
    assert status == 0
    assert report["claims"][0]["verdict"] == "unsupported"
    assert "would create DetectedIssue Claim/dry-k3:admin-missing:-" in err
    planned = err.count("dry-run: would ")
    # nothing was sent, so the server confirmed nothing: the summary says what was planned
    assert f"DetectedIssues (dry run: nothing written): {planned} write(s) planned" in err
    assert "as the server confirmed" not in err
    assert _issues(fhir_server, "dry-k3") == []


def test_only_detected_issues_are_created_or_changed(fhir_server, capsys):
    resources = _chart("ro")
    _load(fhir_server, resources)
    types = {r["resourceType"] for r in resources}
    before = {t: _versions(fhir_server, t, "ro-") for t in types}
    _check(capsys, fhir_server, "--patient", "ro-p2")
    _check(capsys, fhir_server, "--patient", "ro-p3")
    after = {t: _versions(fhir_server, t, "ro-") for t in types}
    assert after == before
    assert _codes(fhir_server, "ro-k2") and _codes(fhir_server, "ro-k3")


def test_corrected_claim_gets_its_stale_issues_cancelled(fhir_server, capsys):
    resources = _chart("fix")
    _load(fhir_server, resources)
    _check(capsys, fhir_server, "--claim", "fix-k2")
    assert "evidence-not-linked" in _codes(fhir_server, "fix-k2")
    corrected = b.claim("fix-k2", "fix-p2", SERVICE, diagnoses=("E53.8",),
                        supporting=("Condition/fix-c2",))
    _load(fhir_server, [corrected])
    status, report, _err = _check(capsys, fhir_server, "--claim", "fix-k2")
    assert status == 0
    assert "evidence-not-linked" not in {f["code"] for f in report["claims"][0]["findings"]}
    assert "evidence-not-linked" in _codes(fhir_server, "fix-k2", status="cancelled")
    assert "evidence-not-linked" not in _codes(fhir_server, "fix-k2")
    assert "lab-missing" in _codes(fhir_server, "fix-k2")
    cancelled = [i for i in _issues(fhir_server, "fix-k2") if i["status"] == "cancelled"]
    assert "no longer" in cancelled[0]["mitigation"][-1]["action"]["text"]


def test_unreadable_evidence_is_reported_and_the_other_claims_are_checked(fhir_server, capsys):
    resources = _chart("bad")
    odd = b.lab("bad-o9", "bad-p3", "b12", 150, "mg/dL", "2026-02-20")  # unconvertible unit
    _load(fhir_server, [*resources, odd])
    status, report, _ = _check(capsys, fhir_server, "--patient", "bad-p3", "--dry-run")
    assert status == 1
    assert any(e["resource"] == "Observation/bad-o9" and "mg/dL" in e["message"]
               for e in report["errors"])
    assert [c["claim"] for c in report["claims"]] == ["Claim/bad-k3"]


@pytest.fixture
def sync_state(tmp_path: Path) -> Path:
    return tmp_path / "sync" / "state.json"


def _sync(capsys: pytest.CaptureFixture[str], server: str, state: Path, *extra: str
          ) -> tuple[int, dict, str]:
    status = main(["sync", "--server", server, "--state", str(state), "--format", "json",
                   *MEDPLUM, *extra])
    out, err = capsys.readouterr()
    return status, json.loads(out), err


def test_sync_moves_the_watermark_and_catches_a_corrected_claim(fresh_fhir_server, sync_state,
                                                                capsys):
    fhir_server = fresh_fhir_server
    _load(fhir_server, _chart("syn"))
    status, report, _ = _sync(capsys, fhir_server, sync_state)
    assert status == 0, report["errors"]
    first = json.loads(sync_state.read_text())
    assert first["watermark"] and first["server"] == fhir_server
    assert "Claim/syn-k2" in {c["claim"] for c in report["claims"]}
    assert "evidence-not-linked" in _codes(fhir_server, "syn-k2")

    corrected = b.claim("syn-k2", "syn-p2", SERVICE, diagnoses=("E53.8",),
                        supporting=("Condition/syn-c2",))
    _load(fhir_server, [corrected])
    status, report, _err = _sync(capsys, fhir_server, sync_state)
    assert "Claim/syn-k2" in {c["claim"] for c in report["claims"]}
    assert "evidence-not-linked" in _codes(fhir_server, "syn-k2", status="cancelled")
    second = json.loads(sync_state.read_text())
    assert second["watermark"] >= first["watermark"]


def test_failed_write_leaves_the_watermark_where_it_was(fresh_fhir_server, sync_state, capsys,
                                                        monkeypatch):
    fhir_server = fresh_fhir_server
    _load(fhir_server, _chart("wf"))
    _sync(capsys, fhir_server, sync_state)
    before = sync_state.read_text()
    _load(fhir_server, [b.claim("wf-k3", "wf-p3", "2026-03-03", diagnoses=("E53.8",))])

    def refuse(self: FhirClient, bundle: dict[str, Any]) -> dict[str, Any]:
        raise FhirServerError("POST", self.base_url, 503, "storm")

    monkeypatch.setattr(FhirClient, "transaction", refuse)
    status, report, err = _sync(capsys, fhir_server, sync_state)
    assert status == 1
    assert any("storm" in e["message"] for e in report["errors"])
    assert sync_state.read_text() == before
    assert "watermark stays" in err


def test_sync_max_claims_stops_early_and_the_next_run_resumes(fresh_fhir_server, sync_state,
                                                              capsys):
    _load(fresh_fhir_server, _chart("mx"))
    status, report, _ = _sync(capsys, fresh_fhir_server, sync_state, "--max-claims", "1")
    assert status == 0
    first = [c["claim"] for c in report["claims"]] + [s["claim"] for s in report["skipped"]]
    assert len(first) == 1
    assert json.loads(sync_state.read_text())["watermark"]
    status, report, _ = _sync(capsys, fresh_fhir_server, sync_state)
    rest = {c["claim"] for c in report["claims"]}
    assert rest | set(first) == {"Claim/mx-k1", "Claim/mx-k2", "Claim/mx-k3"}


def test_second_sync_while_one_runs_exits_2(fresh_fhir_server, sync_state, capsys):
    with run_lock(sync_state):
        status = main(["sync", "--server", fresh_fhir_server, "--state", str(sync_state)])
    assert status == 2
    assert "another sync run" in capsys.readouterr().err


def test_load_uploads_the_demo_and_loading_again_duplicates_nothing(fresh_fhir_server, capsys):
    server = fresh_fhir_server
    demo = Path(__file__).resolve().parents[2] / "fixtures" / "demo"
    assert main(["load", str(demo), "--server", server]) == 0
    assert "loaded" in capsys.readouterr().out
    claims = _versions(server, "Claim", "")
    assert len(claims) == len((demo / "Claim.ndjson").read_text().splitlines())
    assert main(["load", str(demo), "--server", server]) == 0
    capsys.readouterr()
    assert _versions(server, "Claim", "").keys() == claims.keys()

    status, report, err = _check(capsys, server, "--since", "2000-01-01", "--stats")
    assert status == 0, report["errors"]
    assert main(["check", "--source", str(demo), "--format", "json"]) == 0
    from_files = json.loads(capsys.readouterr().out)

    loaded_as = _source_ids(server, "Claim") | _source_ids(server, "ExplanationOfBenefit")

    def verdicts(found: dict, names: dict[str, str]) -> dict:
        return {names.get(c["claim"], c["claim"]):
                (c["verdict"], sorted(f["code"] for f in c["findings"]))
                for c in found["claims"]}

    # the server's chart (one batch per page, Medications by _include) judges as the files do
    assert verdicts(report, loaded_as) == verdicts(from_files, {})
    assert report["summary"] == from_files["summary"]
    stats = json.loads(err.split("requests: ", 1)[1].splitlines()[0])
    reads = stats["by_method"]["GET"] + stats["by_type"].get("batch", 0)
    claims = report["summary"]["checked"] + report["summary"]["skipped"]
    assert reads / claims <= 0.2, stats

    # the server chose the ids: a loaded claim is found by its file id (docs/servers.md)
    status, _, _ = _check(capsys, server, "--claim", "k16")
    assert status == 1
    for search in ("Claim?identifier=urn:b12-fhir-adapter:source-id|Claim/k16",
                   "Claim?patient.identifier=urn:b12-fhir-adapter:source-id|Patient/p15"):
        status, found, _ = _check(capsys, server, "--search", search, "--dry-run")
        assert status == 0, search
        assert [loaded_as[c["claim"]] for c in found["claims"]] == ["Claim/k16"], search


@pytest.mark.parametrize("ids", [[], ["--keep-ids"]])
def test_loaded_references_in_every_form_point_at_the_servers_ids(fresh_fhir_server, capsys,
                                                                   tmp_path, ids):
    """A hostile-input hunt: versioned and absolute references were loaded as written, so
    they pointed at ids the server does not have ("loaded 18 of 18", exit 0), and check
    --server erred ("references Condition/c2, which is not in the source")."""
    server = fresh_fhir_server
    chart = _chart("lr")
    for resource in chart:
        if resource["resourceType"] != "Claim":
            continue
        if resource["id"] == "lr-k1":  # versioned, and padded
            resource["supportingInfo"][0]["valueReference"]["reference"] = \
                "Condition/lr-c1/_history/1"
            resource["supportingInfo"][1]["valueReference"]["reference"] = \
                " Observation/lr-o1 "
        resource["patient"]["reference"] = (  # absolute: another server's base, or this one's
            f"http://old.example/fhir/R4/{resource['patient']['reference']}"
            if resource["id"] == "lr-k3" else f"{server}/{resource['patient']['reference']}")
    source = b.write_bulk(tmp_path / "chart", chart)

    assert main(["load", "--source", str(source), "--server", server, *ids]) == 0
    assert f"loaded {len(chart)} of {len(chart)}" in capsys.readouterr().out
    status, report, _ = _check(capsys, server, "--since", "2000-01-01", "--dry-run")
    assert main(["check", "--source", str(source), "--format", "json"]) == 0
    from_files = json.loads(capsys.readouterr().out)

    def verdicts(found: dict, names: dict[str, str]) -> dict:
        return {names.get(c["claim"], c["claim"]):
                (c["verdict"], sorted(f["code"] for f in c["findings"]))
                for c in found["claims"]}

    assert status == 0 and report["errors"] == []
    assert verdicts(report, _source_ids(server, "Claim")) == verdicts(from_files, {})
    assert report["summary"] == from_files["summary"]
    claims = requests.get(f"{server}/Claim", params={"_count": "100"}, timeout=30).json()
    written = sorted(r for e in claims["entry"] for r in _references(e["resource"]))
    assert all(r.count("/") == 1 and r == r.strip() for r in written), written


def _references(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return found + [r for item in value.values() for r in _references(item)]
    if isinstance(value, list):
        return [r for item in value for r in _references(item)]
    return []


def test_claim_pages_are_followed_by_their_next_links(fresh_fhir_server, capsys):
    _load(fresh_fhir_server, _chart("pg"))
    status, report, err = _check(capsys, fresh_fhir_server, "--since", "2000-01-01",
                                 "--page-size", "2", "--dry-run", "--stats")
    assert status == 0
    assert sorted(c["claim"] for c in report["claims"]) == [
        "Claim/pg-k1", "Claim/pg-k2", "Claim/pg-k3"]
    stats = json.loads(err.split("requests: ", 1)[1].splitlines()[0])
    # two pages of claims, one evidence batch each, and the (empty) search for payer EOBs
    assert stats["by_type"] == {"Claim": 2, "ExplanationOfBenefit": 1, "batch": 2}
