"""The command line as users and schedulers run it: sources, outputs and exit statuses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.detectedissue import DetectedIssue

from adapter.cli import main
from fixtures import builders as b
from tests.report_shape import assert_report_shape
from tests.scenario import SERVICE, clean_chart


def _write_ndjson(directory: Path, resources: list) -> Path:
    return b.write_bulk(directory, resources)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_clean_bulk_directory_exits_0_with_a_supported_claim(tmp_path, capsys):
    source = _write_ndjson(tmp_path / "bulk", clean_chart())
    status, out, _ = _run(capsys, "check", "--source", str(source), "--format", "json")
    report = json.loads(out)
    assert_report_shape(report)
    assert status == 0
    assert [c["verdict"] for c in report["claims"]] == ["supported"]


def test_table_is_the_default_and_ends_with_the_summary_and_what_to_do_next(tmp_path, capsys):
    source = _write_ndjson(tmp_path / "bulk", clean_chart(supporting=()))
    status, out, _ = _run(capsys, "check", "--source", str(source))
    assert status == 0
    assert "Claim/k1" in out and "evidence-not-linked" in out  # a low finding: shown
    summary, following = out.strip().splitlines()[-2:]
    assert summary.startswith("Summary: checked 1, supported 1")
    assert following.startswith("Next: ")


def test_malformed_resource_is_listed_and_the_run_goes_on_with_exit_1(tmp_path, capsys):
    bad = b.lab("bad1", "p1", "b12", 150, "pg/mL", "2026-02-10")
    bad["valueQuantity"]["value"] = "low"
    resources = [*clean_chart(), bad]
    resources += [b.patient("p2"), b.claim("k2", "p2", SERVICE)]
    source = _write_ndjson(tmp_path / "bulk", resources)
    status, out, _ = _run(capsys, "check", "--source", str(source), "--format", "json")
    report = json.loads(out)
    assert status == 1
    assert {"resource": "Observation/bad1",
            "message": "valueQuantity.value is not a number: 'low'"} in report["errors"]
    assert [c["claim"] for c in report["claims"]] == ["Claim/k1", "Claim/k2"]


@pytest.mark.parametrize("field, value, message", [
    ("servicedDate", "2026-03", "item[0].servicedDate is a partial date '2026-03': a date of "
                                "service needs the day"),
    ("quantity", {"value": -1}, "item[0].quantity.value is -1: a line bills a positive "
                                "number of units"),
])
def test_a_claim_with_no_day_of_service_or_negative_units_is_an_error_and_exit_1(
        tmp_path, capsys, field, value, message):
    bad = b.claim("k2", "p1", SERVICE)
    bad["item"][0][field] = value
    source = _write_ndjson(tmp_path / "bulk", [*clean_chart(), bad])
    status, out, _ = _run(capsys, "check", "--source", str(source), "--format", "json")
    report = json.loads(out)
    assert status == 1
    assert report["errors"] == [{"resource": "Claim/k2", "message": message}]
    assert [(c["claim"], c["verdict"]) for c in report["claims"]] == [("Claim/k1", "supported")]


@pytest.mark.parametrize("argv, expected", [
    (["--source", "does/not/exist"], "no such file or directory"),
])
def test_missing_source_exits_2_with_one_line(capsys, argv, expected):
    status, out, err = _run(capsys, "check", *argv)
    assert status == 2
    assert expected in err and len(err.strip().splitlines()) == 1
    assert out == ""


def test_non_fhir_file_exits_2(tmp_path, capsys):
    path = tmp_path / "claims.json"
    path.write_text('{"claims": []}')
    status, _, err = _run(capsys, "check", "--source", str(path))
    assert status == 2 and "not a FHIR" in err


def test_bad_config_exits_2_naming_the_setting(tmp_path, capsys):
    source = _write_ndjson(tmp_path / "bulk", clean_chart())
    config = tmp_path / "b12.toml"
    config.write_text("b12_low_pg_ml = -5\n")
    status, _, err = _run(capsys, "check", "--source", str(source), "--config", str(config))
    assert status == 2 and "b12.toml" in err and "b12_low_pg_ml" in err


def test_a_misspelt_setting_is_named_with_the_one_meant(tmp_path, capsys):
    source = _write_ndjson(tmp_path / "bulk", clean_chart())
    config = tmp_path / "b12.toml"
    config.write_text("lab_lookback_day = 30\n")
    status, _, err = _run(capsys, "check", "--source", str(source), "--config", str(config))
    assert status == 2
    assert "lab_lookback_day: unknown setting (did you mean lab_lookback_days?)" in err
    config.write_text("policy = 1\n")  # a section, misspelt
    _, _, err = _run(capsys, "check", "--source", str(source), "--config", str(config))
    assert "policy: unknown setting (did you mean policies?)" in err
    config.write_text("zzz = 1\n")
    _, _, err = _run(capsys, "check", "--source", str(source), "--config", str(config))
    assert "zzz: unknown setting (known: " in err and "lab_lookback_days" in err


def _worst_is(severity: str) -> list[dict[str, Any]]:
    """A one-claim chart whose worst finding has ``severity``."""
    if severity == "high":  # admin-missing
        return [r for r in clean_chart() if r["resourceType"] != "MedicationAdministration"]
    if severity == "moderate":  # lab-missing
        return [r for r in clean_chart(supporting=("Condition/c1",))
                if r["resourceType"] != "Observation"]
    return clean_chart(supporting=())  # evidence-not-linked


@pytest.mark.parametrize("worst, fail_on, expected", [
    ("high", "high", 3), ("high", "low", 3),
    ("moderate", "high", 0), ("moderate", "moderate", 3), ("moderate", "low", 3),
    ("low", "moderate", 0), ("low", "low", 3),
])
def test_fail_on_exits_3_only_when_a_finding_reaches_that_severity(tmp_path, capsys, worst,
                                                                   fail_on, expected):
    source = _write_ndjson(tmp_path / "bulk", _worst_is(worst))
    status, out, _ = _run(capsys, "check", "--source", str(source), "--format", "json",
                          "--fail-on", fail_on)
    severities = {f["severity"] for c in json.loads(out)["claims"] for f in c["findings"]}
    assert worst in severities
    assert status == expected


def test_fail_on_high_ignores_low_findings_and_findings_alone_never_fail(tmp_path, capsys):
    source = _write_ndjson(tmp_path / "bulk", clean_chart(supporting=()))  # low finding only
    assert _run(capsys, "check", "--source", str(source), "--fail-on", "high")[0] == 0
    assert _run(capsys, "check", "--source", str(source), "--fail-on", "low")[0] == 3
    no_admin = [r for r in clean_chart() if r["resourceType"] != "MedicationAdministration"]
    source2 = _write_ndjson(tmp_path / "bulk2", no_admin)
    assert _run(capsys, "check", "--source", str(source2))[0] == 0


def test_out_writes_detected_issues_that_parse_with_the_r4b_model(tmp_path, capsys):
    resources = [r for r in clean_chart(supporting=())
                 if r["resourceType"] != "MedicationAdministration"]
    source = _write_ndjson(tmp_path / "bulk", resources)
    out_dir = tmp_path / "out"
    status, out, _ = _run(capsys, "check", "--source", str(source), "--out", str(out_dir),
                          "--format", "json")
    assert status == 0
    lines = (out_dir / "DetectedIssue.ndjson").read_text().splitlines()
    issues = [DetectedIssue.model_validate_json(line) for line in lines]
    report = json.loads(out)
    findings = report["claims"][0]["findings"]
    assert sorted(i.code.coding[0].code for i in issues) == sorted(f["code"] for f in findings)
    assert {i.status for i in issues} == {"final"}
    assert all(i.patient.reference == "Patient/p1" for i in issues)
    assert json.loads((out_dir / "report.json").read_text()) == report


def test_detected_issue_identifiers_are_stable_across_runs(tmp_path, capsys):
    source = _write_ndjson(tmp_path / "bulk", clean_chart(supporting=()))
    ids = []
    for run in ("a", "b"):
        _run(capsys, "check", "--source", str(source), "--out", str(tmp_path / run))
        lines = (tmp_path / run / "DetectedIssue.ndjson").read_text().splitlines()
        ids.append([(json.loads(x)["id"], json.loads(x)["identifier"]) for x in lines])
    assert ids[0] == ids[1] and ids[0]


def test_transaction_bundle_with_urn_uuid_references(tmp_path, capsys):
    resources = clean_chart()
    entries = []
    for resource in resources:
        uuid = f"00000000-0000-4000-8000-{abs(hash(resource['id'])) % 10**12:012d}"
        entries.append((resource, f"urn:uuid:{uuid}"))
    urls = {f"{r['resourceType']}/{r['id']}": url for r, url in entries}

    def rewrite(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (urls.get(v, v) if k == "reference" else rewrite(v))
                    for k, v in value.items()}
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        return value

    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": url, "resource": rewrite({k: v for k, v in r.items() if k != "id"}),
         "request": {"method": "POST", "url": r["resourceType"]}}
        for r, url in entries
    ]}
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    status, out, _ = _run(capsys, "check", "--source", str(path), "--format", "json")
    report = json.loads(out)
    assert status == 0, report["errors"]
    assert [c["verdict"] for c in report["claims"]] == ["supported"]
    assert report["claims"][0]["findings"] == []


def test_single_ndjson_file_and_directory_of_bundles(tmp_path, capsys):
    resources = clean_chart()
    ndjson = tmp_path / "all.ndjson"
    ndjson.write_text("\n".join(json.dumps(r) for r in resources) + "\n")
    bundles = tmp_path / "bundles"
    bundles.mkdir()
    for n, resource in enumerate(resources):
        (bundles / f"{n}.json").write_text(json.dumps({
            "resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": resource}]}))
    for source in (ndjson, bundles):
        status, out, _ = _run(capsys, "check", "--source", str(source), "--format", "json")
        assert status == 0
        assert json.loads(out)["summary"]["supported"] == 1


def test_python_dash_m_adapter_runs_the_same_cli(tmp_path):
    source = _write_ndjson(tmp_path / "bulk", clean_chart())
    done = subprocess.run([sys.executable, "-m", "adapter", "check", "--source", str(source),
                           "--format", "json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["summary"]["checked"] == 1


@pytest.mark.parametrize("option", [["--claim", "k1"], ["--dry-run"], ["--page-size", "5"],
                                    ["--max-transaction-entries", "9"]])
def test_server_only_options_are_refused_for_files(tmp_path, capsys, option):
    source = _write_ndjson(tmp_path / "bulk", clean_chart())
    status, out, err = _run(capsys, "check", "--source", str(source), *option)
    assert status == 2 and "--server" in err and option[0] in err and out == ""


# Every option of the "FHIR server" group, set to other than its default: a file source reads
# from disk, so each would do nothing (--token-env with --source was ignored, silently).
SERVER_GROUP = [
    ["--auth", "bearer"], ["--username", "u"], ["--password-env", "B12_PASSWORD"],
    ["--password-file", "password"], ["--token-env", "B12_TOKEN"], ["--token-file", "token"],
    ["--client-id", "c"], ["--client-secret-env", "B12_SECRET"], ["--client-secret-file", "s"],
    ["--token-auth-method", "post"], ["--private-key-file", "key.pem"], ["--key-id", "k"],
    ["--algorithm", "ES384"], ["--scope", "system/Claim.read"],
    ["--token-url", "https://auth.test/token"], ["--ca-bundle", "ca.pem"], ["--timeout", "5"],
    ["--page-size", "5"], ["--stats"], ["--retry-budget", "1"], ["--max-pages", "2"],
]


@pytest.mark.parametrize("command", ["check", "audit"])
@pytest.mark.parametrize("option", SERVER_GROUP, ids=lambda option: option[0])
def test_every_server_option_is_refused_with_a_file_source(tmp_path, capsys, command, option):
    source = _write_ndjson(tmp_path / "bulk", clean_chart())
    out = ["--out", str(tmp_path / "audit.html")] if command == "audit" else []
    status, stdout, err = _run(capsys, command, "--source", str(source), *out, *option)
    assert status == 2 and stdout == ""
    assert err == (f"b12-adapter: {option[0]} needs --server: a file source is read from disk "
                   "(no connection, no auth, no write-back)\n")
    assert not (tmp_path / "audit.html").exists()


def test_the_server_options_given_are_named_together_and_a_default_given_passes(tmp_path,
                                                                                capsys):
    source = str(_write_ndjson(tmp_path / "bulk", clean_chart()))
    status, _, err = _run(capsys, "check", "--source", source, "--token-env", "B12_TOKEN",
                          "--timeout", "5", "--dry-run")
    assert status == 2 and err.startswith(
        "b12-adapter: --token-env, --timeout and --dry-run need --server: a file source is "
        "read from disk")
    status, _, _ = _run(capsys, "check", "--source", source, "--auth", "none",
                        "--timeout", "60", "--page-size", "100")  # the defaults, said aloud
    assert status == 0


def test_the_refused_options_are_the_whole_server_group():
    from adapter.cli import _parser

    def recorded(*argv: str) -> set[str]:
        return {o.flag for o in _parser().parse_args(argv).server_options}

    group = {option[0] for option in SERVER_GROUP}  # a new server option joins SERVER_GROUP
    assert recorded("audit", "-s", "x", "-o", "y") == group
    assert recorded("check", "-s", "x") == group | {"--dry-run", "--max-transaction-entries"}


@pytest.mark.parametrize("argv, words", [
    (["check", "--source", "x", "--formt", "json"],
     "b12-adapter check: error: unrecognized arguments: --formt json (see b12-adapter check "
     "--help)"),
    (["check", "--source", "x", "--workers", "0"],
     "argument --workers: must be a whole number from 1 to 1000000000, not '0'"),
    (["chekc"], "invalid choice: 'chekc'"),
])
def test_an_argument_error_is_one_line_that_says_where_to_read_more(capsys, argv, words):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert words in err and "--help)" in err and len(err.strip().splitlines()) == 1


def test_a_folder_of_folders_says_its_subfolders_are_not_read(tmp_path, capsys):
    _write_ndjson(tmp_path / "exports" / "one", clean_chart())
    status, _, err = _run(capsys, "check", "--source", str(tmp_path / "exports"))
    assert status == 2 and "subfolders are not read" in err
    (tmp_path / "empty").mkdir()
    _, _, err = _run(capsys, "check", "--source", str(tmp_path / "empty"))
    assert "holds no FHIR" in err and "subfolders" not in err


@pytest.mark.parametrize("argv, words", [
    (["--server", "ftp://fhir.example"], "http(s)"),
    (["--server", "http://127.0.0.1:9/fhir", "--search", "Patient?name=x"],
     "Claim or ExplanationOfBenefit search"),
    (["--server", "http://127.0.0.1:9/fhir", "--auth", "bearer", "--token-env", "NO_SUCH_VAR"],
     "NO_SUCH_VAR"),
    (["--server", "http://127.0.0.1:9/fhir", "--out", "x"], "--out"),
])
def test_unusable_server_arguments_exit_2_before_any_request(capsys, argv, words):
    status, _, err = _run(capsys, "check", *argv)
    assert status == 2 and words in err


def test_a_server_search_becomes_claim_search_parameters():
    from adapter.sources.server import ClaimSelection

    selection = ClaimSelection(search="Claim?status=active&created=ge2026-03-01",
                               ids=("k1", "k2"), since="2026-03-01T00:00:00Z")
    assert list(selection.query().params) == [
        ("status", "active"), ("created", "ge2026-03-01"), ("_id", "k1,k2"),
        ("_lastUpdated", "ge2026-03-01T00:00:00Z"), ("_sort", "_lastUpdated")]


# One convention (issue 20): short options, options after the command, defaults in --help

def test_the_table_shows_the_claims_that_need_work_first_and_counts_the_supported(
        tmp_path, capsys):
    source = _write_ndjson(tmp_path / "bulk", [
        *clean_chart(),  # k1: supported
        b.claim("k2", "p1", SERVICE, diagnoses=("R53.83",)),  # unsupported: no indication
    ])
    status, out, _ = _run(capsys, "check", "-s", str(source))
    lines = out.splitlines()
    assert status == 0
    assert lines[2].startswith("Claim/k2") and lines[2].endswith("unsupported")
    assert not any(line.startswith("Claim/k1") for line in lines)
    assert "... and 1 supported claim(s) with no finding (--all lists them)" in lines
    assert lines[-1].startswith("Next: fix the unsupported claims first")

    _, every, _ = _run(capsys, "check", "-s", str(source), "--all")
    claims = [line.split()[0] for line in every.splitlines() if line.startswith("Claim/")]
    assert claims == ["Claim/k2", "Claim/k1"]  # worst first, then the supported
    assert any(line.startswith("Claim/k1") and line.endswith("supported")
               for line in every.splitlines())


@pytest.mark.parametrize("others", [3, 30])
def test_many_skipped_claims_are_counted_by_reason_and_all_lists_each(tmp_path, capsys,
                                                                      others):
    """A real export skips nearly every claim: past 20 the table counts them by reason (a
    Synthea export printed 485 lines of "no B12 injection item"); --all and JSON list each."""
    flu = [b.claim(f"x{n}", "p1", SERVICE, product=(b.CPT, "90686")) for n in range(others)]
    source = _write_ndjson(tmp_path / "bulk", [*clean_chart(), *flu])
    status, out, _ = _run(capsys, "check", "-s", str(source))
    listed = [line for line in out.splitlines() if line.strip().startswith("Claim/x")]
    assert status == 0
    if others <= 20:
        assert len(listed) == others
    else:
        assert not listed
        assert f"    {others} claims: no B12 injection item" in out.splitlines()
        assert "--all lists each claim" in out
    _, every, _ = _run(capsys, "check", "-s", str(source), "--all")
    assert sum(line.strip().startswith("Claim/x") for line in every.splitlines()) == others
    _, as_json, _ = _run(capsys, "check", "-s", str(source), "-f", "json")
    assert len(json.loads(as_json)["skipped"]) == others


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_a_claim_that_could_not_be_judged_is_no_source_without_claims(tmp_path, capsys, day):
    chart = clean_chart()
    chart[-1] = {**chart[-1], "billablePeriod": {"start": day}, "created": day}
    for item in chart[-1].get("item", []):
        item["servicedDate"] = day
    status, out, err = _run(capsys, "check", "-s", str(_write_ndjson(tmp_path / "bulk", chart)),
                            "-f", "json")
    assert status == 1 and json.loads(out)["errors"][0]["resource"].startswith("Claim/")
    assert "no claims found" not in err


@pytest.mark.parametrize("day", ["9999-12-31", None])
def test_a_server_claim_that_could_not_be_judged_is_no_selection_without_claims(capsys, day):
    import responses

    base = "http://127.0.0.1:9/fhir"

    def searchset(*resources: dict[str, Any]) -> dict[str, Any]:
        return {"resourceType": "Bundle", "type": "searchset",
                "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources]}

    def batch(request: Any) -> tuple[int, dict[str, str], str]:  # the patient's evidence: none
        entries = [{"response": {"status": "200 OK"}, "resource": searchset()}
                   for _ in json.loads(request.body)["entry"]]
        return 200, {}, json.dumps({"resourceType": "Bundle", "type": "batch-response",
                                    "entry": entries})

    claims = [b.claim("k1", "p1", day)] if day else []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as server:
        server.get(f"{base}/Claim", json=searchset(*claims))
        server.get(f"{base}/ExplanationOfBenefit", json=searchset())
        server.add_callback(responses.POST, base, callback=batch)
        status, out, err = _run(capsys, "check", "--server", base, "--dry-run", "-f", "json")
    if day:  # read, not judgeable: an error, not a server without claims
        assert status == 1 and json.loads(out)["errors"][0]["resource"] == "Claim/k1"
        assert "no claims found" not in err
    else:
        assert status == 0 and f"no claims found on {base} for this selection" in err


def test_a_source_with_no_claim_says_so_in_the_table(tmp_path, capsys):
    chart = [r for r in clean_chart() if r["resourceType"] != "Claim"]
    status, out, err = _run(capsys, "check", "-s", str(_write_ndjson(tmp_path / "bulk", chart)))
    assert status == 0 and "no claims found" in err
    assert out.strip().splitlines()[-1].startswith("Next: no claim was found")
    assert "Skipped:" not in out


def test_short_options_and_verbose_after_the_command(tmp_path, capsys):
    source = _write_ndjson(tmp_path / "bulk", clean_chart())
    status, out, _ = _run(capsys, "check", "-s", str(source), "-f", "json", "-o",
                          str(tmp_path / "out"), "-v")
    assert status == 0 and json.loads(out)["summary"]["checked"] == 1
    assert (tmp_path / "out" / "report.json").is_file()
    from adapter.cli import _parser

    assert _parser().parse_args(["check", "-s", "x", "-v"]).verbose is True
    assert _parser().parse_args(["-v", "check", "-s", "x"]).verbose is True
    assert _parser().parse_args(["check", "-s", "x"]).verbose is False


def test_help_shows_defaults_and_choices(capsys):
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    out = capsys.readouterr().out
    assert "(default: table)" in out and "high, moderate, low" in out
    assert "(default: None)" not in out
    scope = out[out.index("  --scope SCOPE"):out.index("  --token-url")]
    assert scope.count("(default:") == 1  # said in words, not twice


def test_workers_help_gives_the_default_the_run_chooses(capsys):
    # parallel.choose decides from the pre-scan's B12 claims (64 MB only without a pre-scan)
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    workers = out[out.index("--workers N files:"):out.index("FHIR server:")]
    assert "10,000 or more claims that may bill B12" in workers
    assert "claims in Bundles and 64 MB" in workers and "every core but one, at most 4" in workers


def test_codes_without_an_action_names_the_actions(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["codes"])
    assert exit_.value.code == 2
    assert "required: {list,add}" in capsys.readouterr().err


def test_load_takes_source_like_every_command_and_the_old_spelling_still_works(capsys):
    # nothing listens on port 9: both spellings get as far as the server
    status_new = main(["load", "-s", "fixtures/demo", "--server", "http://127.0.0.1:9",
                       "--retry-budget", "0"])
    new_err = capsys.readouterr().err
    status_old = main(["load", "fixtures/demo", "--server", "http://127.0.0.1:9",
                       "--retry-budget", "0"])
    old_err = capsys.readouterr().err
    assert status_new == status_old != 0
    assert "deprecated" not in new_err and "`load PATH` is deprecated" in old_err
    assert main(["load", "--server", "http://127.0.0.1:9"]) == 2
    assert "load needs --source PATH" in capsys.readouterr().err


def test_a_long_run_on_a_terminal_shows_a_progress_bar_and_a_pipe_gets_none(tmp_path):
    import io

    from adapter import modes
    from adapter.judge import Judge
    from adapter.output.progress import ProgressBar

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    source = _write_ndjson(tmp_path / "bulk", clean_chart())
    screen = Terminal()
    bar = ProgressBar.on(screen)
    assert bar is not None and ProgressBar.on(io.StringIO()) is None
    bar.delay = 0.0  # as if the run had already lasted a while
    report = modes.check_files(Judge.load(), source, progress=bar)
    assert report.summary()["checked"] == 1
    assert "checking" in screen.getvalue() and "claims" in screen.getvalue()


@pytest.mark.parametrize("option", ["--out", "--source", "--config"])
def test_an_empty_path_option_is_refused_not_read_as_the_current_directory(
        tmp_path, capsys, monkeypatch, option):
    monkeypatch.chdir(tmp_path)
    argv = {"--source": ["--source", ""],
            "--out": ["--source", str(tmp_path / "none"), "--out", ""],
            "--config": ["--source", str(tmp_path / "none"), "--config", ""]}[option]
    with pytest.raises(SystemExit) as exited:
        main(["check", *argv])
    assert exited.value.code == 2 and f"{option}: is empty" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_config_file_neither_toml_nor_json_says_what_it_must_be(tmp_path, capsys):
    config = tmp_path / "plain.txt"
    config.write_text("a = 1\n")
    assert main(["check", "--source", "fixtures/demo", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "a config file is TOML, named .toml, or JSON" in err and "not valid txt" not in err
