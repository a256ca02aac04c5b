"""check, sync and load end to end against the test FHIR server's fault mode (faults.mjs),
which reproduces SERVERS.md: entries refused ("400" with an OperationOutcome) and rate-limited
("429") inside an HTTP 200, plain HTTP 429s announcing their window in a RateLimit header and
the body's _msBeforeNext, client ids refused, `_sort` ignored, next links dropped, a malformed
meta.lastUpdated. What the adapter prints is compared with what the server then holds.

Each test has a server of its own (faults are server-wide); a window of 58 s against
``--retry-budget 5`` means "not retried", a window of 0 s means "retried at once": no test
sleeps.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import requests

from adapter.cli import main
from adapter.load import SOURCE_ID_SYSTEM
from fixtures import builders as b
from tests.integration.test_server_mode import MEDPLUM, SERVICE, _chart, _load

CLAIM_SYSTEM = "urn:b12-fhir-adapter:claim"
NOT_RETRIED = ("--retry-budget", "5")  # below the 58 s window the faults announce


def _faults(server: str, **config: Any) -> dict[str, Any]:
    """Switch the server's faults to ``config`` (none: all off); what it reports back."""
    root = server.removesuffix("/fhir/R4") + "/__faults"
    if config:
        response = requests.post(root, json=config, timeout=10)
    else:
        response = requests.delete(root, timeout=10)
    response.raise_for_status()
    return response.json()


def _refused(server: str) -> list[dict[str, Any]]:
    root = server.removesuffix("/fhir/R4") + "/__faults"
    return requests.get(root, timeout=10).json()["refused"]


def _stored_issues(server: str, prefix: str, claims: int = 3) -> list[dict[str, Any]]:
    values = ",".join(f"{CLAIM_SYSTEM}|Claim/{prefix}-k{n}" for n in range(1, claims + 1))
    bundle = requests.get(f"{server}/DetectedIssue", params={
        "identifier": values, "_count": "1000"}, timeout=30).json()
    return [e["resource"] for e in bundle.get("entry", [])]


def _keys(issues: list[dict[str, Any]]) -> list[str]:
    return sorted(next(i["value"] for i in issue["identifier"]
                       if i["system"] == "urn:b12-fhir-adapter:finding-id")
                  for issue in issues)


def _confirmed(err: str) -> dict[str, int]:
    line = next(ln for ln in err.splitlines() if ln.startswith("DetectedIssues (as the server"))
    return {name: int(n) for name, n in re.findall(r"(\w+) (\d+)", line.split(":", 1)[1])}


def _wanted(report: dict[str, Any]) -> list[str]:
    return sorted(f"{c['claim']}:{f['code']}:{f['diagnosis'] or '-'}"
                  for c in report["claims"] for f in c["findings"])


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict, str]:
    status = main([*argv, "--format", "json", *MEDPLUM])
    out, err = capsys.readouterr()
    return status, json.loads(out), err


def _check(capsys, server: str, prefix: str, *extra: str) -> tuple[int, dict, str]:
    claims = [arg for n in (1, 2, 3) for arg in ("--claim", f"{prefix}-k{n}")]
    return _run(capsys, "check", "--server", server, *claims, *extra)


def _sync(capsys, server: str, state: Path, *extra: str) -> tuple[int, dict, str]:
    return _run(capsys, "sync", "--server", server, "--state", str(state), *extra)


def test_check_prints_what_the_server_stored_when_entries_are_refused_inside_a_200(
        fresh_fhir_server, capsys):
    server = fresh_fhir_server
    _load(server, _chart("ck"))
    _faults(server, refuse=[{"match": "Claim/ck-k3:", "diagnostics": "detail too long (fault)"}],
            entryRateLimit={"after": 1, "count": 1000})

    status, report, err = _check(capsys, server, "ck", *NOT_RETRIED)

    wanted = _wanted(report)
    stored = _stored_issues(server, "ck")
    written = _confirmed(err)
    assert status == 1
    assert written["created"] == len(stored) == 1  # the count is the server's, not ours
    assert written["failed"] == len(wanted) - 1
    messages = [e["message"] for e in report["errors"]]
    assert any("-> 400: detail too long (fault)" in m for m in messages)
    assert any("-> 429: Too Many Requests" in m for m in messages)
    assert {r["status"] for r in _refused(server)} == {400, 429}

    _faults(server)
    status, report, err = _check(capsys, server, "ck")

    assert status == 0, report["errors"]
    assert _confirmed(err)["created"] == len(wanted) - 1
    assert _keys(_stored_issues(server, "ck")) == wanted  # every finding once


def test_sync_keeps_its_watermark_until_a_run_without_faults_lands_every_write(
        fresh_fhir_server, tmp_path, capsys):
    server, state = fresh_fhir_server, tmp_path / "state.json"
    _load(server, _chart("sy"))
    _faults(server, entryRateLimit={"after": 2, "count": 1000})

    status, report, err = _sync(capsys, server, state, *NOT_RETRIED)

    assert status == 1
    assert _confirmed(err)["created"] == len(_stored_issues(server, "sy")) == 2
    assert not state.exists() and "sync: watermark stays at (none)" in err

    _faults(server)
    status, report, err = _sync(capsys, server, state)

    assert status == 0, report["errors"]
    assert _keys(_stored_issues(server, "sy")) == _wanted(report)
    assert json.loads(state.read_text())["watermark"]
    assert "sync: watermark (none) -> " in err


def test_rate_limits_within_the_budget_are_waited_out_and_every_write_lands(
        fresh_fhir_server, tmp_path, capsys):
    server, state = fresh_fhir_server, tmp_path / "state.json"
    _load(server, _chart("rl"))
    _faults(server, httpRateLimit={"count": 1}, entryRateLimit={"after": 1, "count": 2},
            windowSeconds=0)

    status, report, err = _sync(capsys, server, state, "--stats")

    assert status == 0, report["errors"]
    assert _keys(_stored_issues(server, "rl")) == _wanted(report)
    assert _confirmed(err)["created"] == len(_wanted(report))
    assert [r["status"] for r in _refused(server)] == [429] * 3  # the faults did fire
    stats = json.loads(err.split("requests: ", 1)[1].splitlines()[0])
    assert stats["retries"] == 2  # the plain 429, then one resend of the two entries
    assert json.loads(state.read_text())["watermark"]


def _ndjson(directory: Path, resources: list[dict[str, Any]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for rtype in {r["resourceType"] for r in resources}:
        lines = [json.dumps(r) for r in resources if r["resourceType"] == rtype]
        (directory / f"{rtype}.ndjson").write_text("\n".join(lines) + "\n")
    return directory


def _by_source_id(server: str, rtype: str) -> dict[str, dict[str, Any]]:
    bundle = requests.get(f"{server}/{rtype}", params={"_count": "1000"}, timeout=30).json()
    found: dict[str, dict[str, Any]] = {}
    for entry in bundle.get("entry", []):
        resource = entry["resource"]
        for identifier in resource.get("identifier", []):
            if identifier.get("system") == SOURCE_ID_SYSTEM:
                assert identifier["value"] not in found, f"{identifier['value']} twice"
                found[identifier["value"]] = resource
    return found


def _load_cli(capsys, source: Path, server: str, *extra: str) -> tuple[int, str, str]:
    status = main(["load", str(source), "--server", server, *extra])
    out, err = capsys.readouterr()
    return status, out, err


def test_load_works_on_a_server_that_refuses_client_ids_and_loading_twice_adds_nothing(
        fresh_fhir_server, tmp_path, capsys):
    server = fresh_fhir_server
    resources = _chart("ld")
    source = _ndjson(tmp_path / "bulk", resources)
    _faults(server, refuseClientIds=True)

    status, out, err = _load_cli(capsys, source, server, "--keep-ids")
    assert status == 1
    assert f"loaded 0 of {len(resources)}" in out
    assert "-> 400: Invalid id" in err and "without --keep-ids" in err

    status, out, err = _load_cli(capsys, source, server)
    assert status == 0, err
    assert f"loaded {len(resources)} of {len(resources)} resources (as the server confirmed)" in out
    assert f"{len(resources)} created, 0 already there" in out
    claims = _by_source_id(server, "Claim")
    patients = _by_source_id(server, "Patient")
    assert sorted(claims) == ["Claim/ld-k1", "Claim/ld-k2", "Claim/ld-k3"]
    k1 = claims["Claim/ld-k1"]
    assert k1["patient"]["reference"] == f"Patient/{patients['Patient/ld-p1']['id']}"
    supporting = {s["valueReference"]["reference"] for s in k1["supportingInfo"]}
    conditions = _by_source_id(server, "Condition")
    assert f"Condition/{conditions['Condition/ld-c1']['id']}" in supporting

    status, out, _ = _load_cli(capsys, source, server)
    assert status == 0 and f"0 created, {len(resources)} already there" in out
    assert _by_source_id(server, "Claim").keys() == claims.keys()  # nothing twice (asserted)

    status, report, _ = _run(capsys, "check", "--server", server, "--since", "2000-01-01",
                             "--dry-run")
    assert status == 0, report["errors"]
    assert {c["verdict"] for c in report["claims"]} == {"supported", "review", "unsupported"}


def test_load_says_which_resources_the_server_refused_and_a_rerun_loads_only_those(
        fresh_fhir_server, tmp_path, capsys):
    server = fresh_fhir_server
    resources = _chart("lr")
    source = _ndjson(tmp_path / "bulk", resources)
    _faults(server, refuse=[{"match": '"Patient/lr-p3"}', "diagnostics": "name too long"}],
            entryRateLimit={"after": 3, "count": 1})

    status, out, err = _load_cli(capsys, source, server, *NOT_RETRIED)

    stored = sum(len(_by_source_id(server, t)) for t in {r["resourceType"] for r in resources})
    assert status == 1
    assert f"loaded {stored} of {len(resources)} resources (as the server confirmed)" in out
    assert "b12-adapter: Patient/lr-p3: POST" in err and "-> 400: name too long" in err
    assert "-> 429: Too Many Requests" in err
    assert "Claim/lr-k3: not loaded: it points at" in err  # its patient is not there
    assert f"{len(resources) - stored} of {len(resources)} resources were NOT loaded" in err

    _faults(server)
    status, out, err = _load_cli(capsys, source, server)

    assert status == 0, err
    assert f"{len(resources) - stored} created, {stored} already there" in out
    assert sum(len(_by_source_id(server, t))
               for t in {r["resourceType"] for r in resources}) == len(resources)


def test_a_server_ignoring_sort_cannot_make_sync_max_claims_skip_a_claim(
        fresh_fhir_server, tmp_path, capsys):
    server, state = fresh_fhir_server, tmp_path / "state.json"
    _load(server, _chart("us"))
    # k1 changes last: newest, yet first in the repository's own order
    _load(server, [b.claim("us-k1", "us-p1", SERVICE, diagnoses=("D51.0",))])
    _faults(server, ignoreSort=True)

    status, report, _ = _sync(capsys, server, state, "--max-claims", "1")

    assert [c["claim"] for c in report["claims"]] == ["Claim/us-k1"]
    assert status == 1 and not state.exists()
    assert any(e["resource"] == "sync watermark" and "out of _lastUpdated order" in e["message"]
               for e in report["errors"])

    status, report, _ = _sync(capsys, server, state)  # no --max-claims: reads everything
    assert status == 0, report["errors"]
    assert len(report["claims"]) == 3 and json.loads(state.read_text())["watermark"]


def test_a_malformed_last_updated_from_the_server_is_reported_and_keeps_the_watermark(
        fresh_fhir_server, tmp_path, capsys):
    server, state = fresh_fhir_server, tmp_path / "state.json"
    _load(server, _chart("lu"))
    _faults(server, lastUpdated={"Claim/lu-k2": "yesterday"})

    status, report, _ = _sync(capsys, server, state)

    assert status == 1 and not state.exists()
    assert len(report["claims"]) == 3  # every claim still checked
    problem = next(e for e in report["errors"] if e["resource"] == "Claim/lu-k2")
    assert "'yesterday' is not a FHIR instant" in problem["message"]

    _faults(server)
    status, report, _ = _sync(capsys, server, state)
    assert status == 0 and json.loads(state.read_text())["watermark"]


def test_a_search_whose_total_says_more_than_its_pages_held_exits_1_naming_it(
        fresh_fhir_server, capsys):
    server = fresh_fhir_server
    _load(server, _chart("tl"))
    _faults(server, dropNextLinks=True)

    status, report, _ = _run(capsys, "check", "--server", server, "--since", "2000-01-01",
                             "--page-size", "2", "--dry-run")

    assert status == 1
    assert len(report["claims"]) == 2  # the page that came was checked
    problem = next(e for e in report["errors"] if e["resource"] == "Claim search")
    assert "/Claim?_lastUpdated=ge2000-01-01" in problem["message"]
    assert "total says 3 matches, 2 were read" in problem["message"]


def test_the_fault_mode_answers_as_medplum_does_and_is_off_by_default(fresh_fhir_server):
    server = fresh_fhir_server
    assert _faults(server) == {"faults": {}, "refused": []}
    assert requests.get(f"{server}/Patient", timeout=10).status_code == 200

    _faults(server, httpRateLimit={"count": 1})
    limited = requests.get(f"{server}/Patient", timeout=10)
    assert limited.status_code == 429 and "Retry-After" not in limited.headers
    assert limited.headers["RateLimit"] == '"fhirInteractions";r=0;t=58'
    assert limited.json()["_msBeforeNext"] == 58000 and limited.json()["_remainingPoints"] == 0
    assert requests.get(f"{server}/Patient", timeout=10).status_code == 200  # count spent


def _noted_chart(prefix: str) -> list[dict[str, Any]]:
    """``_chart`` with a note of the B12 date for the first patient: "B12 shot for low energy"
    (note-symptom-only on its claim)."""
    note = b.document_reference(f"{prefix}-n1", f"{prefix}-p1", f"{SERVICE}T09:00:00Z",
                                "# Assessment and Plan\nB12 shot for low energy.")
    return [*_chart(prefix), note]


def _note_codes(report: dict[str, Any]) -> dict[str, list[str]]:
    return {c["claim"]: sorted(f["code"] for f in c["findings"]
                               if f["code"].startswith("note-")) for c in report["claims"]}


def test_a_server_without_one_note_type_judges_the_claims_with_the_others_and_says_so_once(
        fresh_fhir_server, capsys):
    server = fresh_fhir_server
    _load(server, _noted_chart("nu"))
    _faults(server, unsupportedTypes={"Composition": 404})

    status, report, err = _check(capsys, server, "nu", "--dry-run")

    assert status == 0, report["errors"]  # a warning, not an error
    assert report["summary"]["checked"] == 3 and report["errors"] == []
    assert _note_codes(report)["Claim/nu-k1"] == ["note-symptom-only"]  # the DocumentReference
    said = [n for n in report["notes"] if "does not support Composition" in n]
    assert len(said) == 1 and "Unknown resource type 'Composition'" in said[0]
    assert err.count("does not support Composition") == 1
    assert {r["url"].split("?")[0] for r in _refused(server)} == {"Composition"}


def test_a_server_with_no_note_type_leaves_the_note_checks_unjudged_never_note_missing(
        fresh_fhir_server, capsys, tmp_path):
    server = fresh_fhir_server
    _load(server, _noted_chart("nn"))
    config = tmp_path / "b12.toml"
    config.write_text("[notes]\nrequired = true\n")  # else a chart without notes is silent
    _faults(server, unsupportedTypes={"DocumentReference": 404, "Composition": 400,
                                      "DiagnosticReport": 404})

    status, report, err = _check(capsys, server, "nn", "--dry-run", "--config", str(config))

    assert status == 0, report["errors"]
    assert report["summary"]["checked"] == 3 and report["errors"] == []
    assert _note_codes(report) == {f"Claim/nn-k{n}": [] for n in (1, 2, 3)}  # no note-missing
    assert sum("supports none of the note types" in n for n in report["notes"]) == 1
    assert err.count("the note checks (note-missing and the other note-* findings) were not "
                     "judged") == 1

    _faults(server)  # the same chart where notes can be read: the checks fire again
    status, report, err = _check(capsys, server, "nn", "--dry-run", "--config", str(config))
    assert _note_codes(report)["Claim/nn-k1"] == ["note-symptom-only"]
    assert _note_codes(report)["Claim/nn-k2"] == ["note-missing"]  # notes.required
