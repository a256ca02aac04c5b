"""Issue 25, "Server and load": what a real Medplum server (PostgreSQL, default limits) did to
``load`` and ``check``, reproduced with the test server's fault mode (faults.mjs) and checked
against what the server then holds. Each test has a server of its own (faults are
server-wide)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from fixtures import builders as b
from tests.integration.test_server_faults import (
    NOT_RETRIED,
    _by_source_id,
    _faults,
    _load_cli,
    _ndjson,
    _refused,
    _run,
)
from tests.integration.test_server_mode import SERVICE, _chart, _codes, _load, _sync


def _types(resources: list[dict[str, Any]]) -> set[str]:
    return {r["resourceType"] for r in resources}


def _stored(server: str, resources: list[dict[str, Any]]) -> int:
    return sum(len(_by_source_id(server, t)) for t in _types(resources))


def test_a_transaction_too_big_for_strict_isolation_is_split_and_said_once(
        fresh_fhir_server, tmp_path, capsys, caplog):
    server = fresh_fhir_server
    resources = _chart("si")
    _faults(server, strictIsolation={"maxEntries": 2})
    caplog.set_level(logging.WARNING, logger="adapter.fhir")

    status, out, err = _load_cli(capsys, _ndjson(tmp_path / "bulk", resources), server)

    assert status == 0, err
    assert f"loaded {len(resources)} of {len(resources)}" in out
    assert _stored(server, resources) == len(resources)
    said = [r for r in caplog.records if "too many" in r.getMessage()]
    assert len(said) == 1
    assert any(r["status"] == 400 for r in _refused(server))


def test_detected_issue_writes_are_split_too(fresh_fhir_server, capsys):
    server = fresh_fhir_server
    _load(server, _chart("sw"))
    _faults(server, strictIsolation={"maxEntries": 1})
    claims = [arg for n in (1, 2, 3) for arg in ("--claim", f"sw-k{n}")]
    status, report, err = _run(capsys, "check", "--server", server, *claims,
                               "--max-transaction-entries", "50")
    assert status == 0, err
    wanted = sum(len(c["findings"]) for c in report["claims"])
    assert f"created {wanted}," in err and "failed 0" in err


def test_a_serialization_failure_409_is_retried_by_load(fresh_fhir_server, tmp_path, capsys):
    server = fresh_fhir_server
    resources = _chart("sf")
    _faults(server, serializationConflict={"count": 1})
    status, _, err = _load_cli(capsys, _ndjson(tmp_path / "bulk", resources), server)
    assert status == 0, err
    assert _stored(server, resources) == len(resources)
    assert [r["status"] for r in _refused(server)] == [409]


def test_a_claim_is_held_back_when_the_condition_it_points_at_was_refused(
        fresh_fhir_server, tmp_path, capsys):
    server = fresh_fhir_server
    resources = _chart("hb")
    _faults(server, refuse=[{"match": '"Condition/hb-c1"}', "diagnostics": "Invalid code",
                             "expression": ["Condition.code.coding[0]"]}])

    status, _, err = _load_cli(capsys, _ndjson(tmp_path / "bulk", resources), server)

    assert status == 1
    assert "-> 400: Invalid code (at Condition.code.coding[0])" in err  # the element path kept
    assert "Claim/hb-k1: not loaded: it points at Condition/hb-c1" in err
    assert "Claim/hb-k1" not in _by_source_id(server, "Claim")
    assert {"Claim/hb-k2", "Claim/hb-k3"} <= _by_source_id(server, "Claim").keys()


def test_bundles_that_reuse_ids_are_named_not_merged(fresh_fhir_server, tmp_path, capsys):
    server = fresh_fhir_server
    directory = tmp_path / "bundles"
    directory.mkdir()
    for n, name in enumerate(("Ada", "Bea")):
        patient = b.patient("p1")
        patient["name"] = [{"family": name}]
        chart = [patient, b.claim(f"ru-k{n}", "p1", SERVICE)]
        (directory / f"b{n}.json").write_text(json.dumps(
            {"resourceType": "Bundle", "type": "collection",
             "entry": [{"resource": r} for r in chart]}))

    status, out, err = _load_cli(capsys, directory, server, "--stats")

    assert status == 1
    assert "Patient/p1: 2 resources in the source have this id" in err
    assert "loaded 3 of 3" in out
    assert "requests: " in err  # --stats is printed for load too
    stats = json.loads(next(line for line in err.splitlines()
                            if line.startswith("requests: "))[len("requests: "):])
    assert stats["total"] >= 1


def test_an_html_page_inside_a_200_is_quoted_by_its_title(fresh_fhir_server, capsys):
    server = fresh_fhir_server
    _faults(server, htmlPage={"count": 1})
    status, report, _ = _run(capsys, "check", "--server", server, "--claim", "x")
    assert status == 1
    message = " ".join(e["message"] for e in report["errors"])
    assert "body is not JSON (an HTML page: 502 Bad Gateway)" in message


def test_an_entry_refused_500_says_what_the_server_said(fresh_fhir_server, capsys):
    server = fresh_fhir_server
    _load(server, _chart("es"))
    _faults(server, refuse=[{"match": "DetectedIssue", "status": 500,
                             "diagnostics": "deadlock detected"}])
    status, report, err = _run(capsys, "check", "--server", server, "--claim", "es-k2",
                               *NOT_RETRIED)
    assert status == 1, err
    assert "failed 2" in err
    messages = [e["message"] for e in report["errors"]]
    assert messages and all("500: deadlock detected" in m for m in messages), messages


def test_sync_rechecks_the_claims_of_a_patient_whose_chart_changed(fresh_fhir_server,
                                                                    tmp_path, capsys):
    """A lab that arrives after the claim was judged: the stale lab-missing is cancelled by
    the next sync, though the claim itself did not change (it lies before the watermark)."""
    server = fresh_fhir_server
    state = tmp_path / "state.json"
    _load(server, _chart("rc"))
    status, _, err = _sync(capsys, server, state)
    assert status == 0, err
    assert "lab-missing" in _codes(server, "rc-k2")
    _load(server, [b.patient("rc-p9"), b.claim("rc-k9", "rc-p9", SERVICE)])  # a newer claim
    _sync(capsys, server, state, "--overlap-seconds", "0")
    watermark = json.loads(state.read_text())["watermark"]

    _load(server, [b.lab("rc-o2", "rc-p2", "b12", 150, "pg/mL", "2026-02-20")])
    status, report, err = _sync(capsys, server, state, "--overlap-seconds", "0")

    assert status == 0, err
    # rc-k9 sits at the watermark (ge); rc-k2 before it: read again for its patient's new lab
    assert sorted(c["claim"] for c in report["claims"]) == ["Claim/rc-k2", "Claim/rc-k9"]
    assert "lab-missing" in _codes(server, "rc-k2", status="cancelled")
    assert "lab-missing" not in _codes(server, "rc-k2")
    assert json.loads(state.read_text())["watermark"] == watermark  # not moved by old claims


def test_sync_without_chart_changes_rechecks_nothing(fresh_fhir_server, tmp_path, capsys):
    server = fresh_fhir_server
    state = tmp_path / "state.json"
    _load(server, _chart("rn"))
    _sync(capsys, server, state)
    _load(server, [b.patient("rn-p9"), b.claim("rn-k9", "rn-p9", SERVICE)])
    _sync(capsys, server, state, "--overlap-seconds", "0")
    status, report, _ = _sync(capsys, server, state, "--overlap-seconds", "0")
    assert status == 0
    assert [c["claim"] for c in report["claims"]] in ([], ["Claim/rn-k9"])  # the newest again


def test_the_demo_loads_whole(fresh_fhir_server, capsys):
    """The demo's ExplanationOfBenefit e44 lacked insurer and outcome: Medplum refused it, so
    `load fixtures/demo` always exited 1 on a real server."""
    demo = Path(__file__).resolve().parent.parent.parent / "fixtures" / "demo"
    status, out, err = _load_cli(capsys, demo, fresh_fhir_server)
    assert status == 0, err
    assert "NOT loaded" not in err and "loaded " in out
    assert "ExplanationOfBenefit/e44" in _by_source_id(fresh_fhir_server, "ExplanationOfBenefit")
