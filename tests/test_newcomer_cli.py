"""The command line as a newcomer meets it (issue 25): outputs checked before the work, a
closed pipe ends quietly, a source with no claims says so, an instant that is not one is
refused. No traceback in any of them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from adapter.cli import main
from fixtures import builders as b

ROOT = Path(__file__).parent.parent
DEMO = ROOT / "fixtures" / "demo"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return status, out, err


def test_check_out_naming_an_existing_file_is_refused_before_the_work(tmp_path, capsys):
    existing = tmp_path / "report.json"
    existing.write_text("keep me")
    status, out, err = _run(capsys, "check", "--source", str(DEMO), "--out", str(existing))
    assert status == 2 and out == ""
    assert "exists and is not a directory" in err
    assert existing.read_text() == "keep me"


def test_check_out_that_cannot_be_made_is_refused_before_the_work(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    status, out, err = _run(capsys, "check", "--source", str(DEMO),
                            "--out", str(blocker / "out"))
    assert status == 2 and out == "" and "cannot be made a directory" in err


def test_check_out_as_a_new_directory_is_made_and_written(tmp_path, capsys):
    out_dir = tmp_path / "new" / "out"
    status, _, _ = _run(capsys, "check", "--source", str(DEMO), "--out", str(out_dir))
    assert status == 0
    assert (out_dir / "report.json").is_file() and (out_dir / "DetectedIssue.ndjson").is_file()
    assert not list(out_dir.glob(".b12-adapter-*"))  # the probe left nothing behind


@pytest.mark.parametrize("where", ["under-a-file", "proc"])
def test_audit_out_that_cannot_be_written_is_refused_before_the_work(tmp_path, capsys, where,
                                                                      monkeypatch):
    pytest.importorskip("matplotlib")
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = {"under-a-file": blocker / "audit.html", "proc": Path("/proc/b12-audit.html")}[where]
    if where == "proc" and not Path("/proc/self").exists():
        pytest.skip("no /proc")
    called = []
    monkeypatch.setattr("adapter.modes.audit_files", lambda *a, **k: called.append(1))
    status, _, err = _run(capsys, "audit", "--source", str(DEMO), "--out", str(out))
    assert status == 2 and "--out" in err and called == []


@pytest.mark.parametrize("fmt", ["json", "table"])
def test_a_closed_pipe_ends_quietly(fmt):
    process = subprocess.Popen([sys.executable, "-m", "adapter", "check", "--source", str(DEMO),
                                "--format", fmt], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # `| head` that has read all it wanted (here: nothing)
    err = process.stderr.read().decode()
    assert process.wait(timeout=120) == 0
    # nothing but the run's notes (the demo's November 2026 claim: FY2027 not installed)
    assert all(line.startswith("b12-adapter: note: ") for line in err.splitlines()), err


def test_a_source_with_no_claims_says_so(tmp_path, capsys):
    path = tmp_path / "patients.ndjson"
    path.write_text(json.dumps(b.patient("p1")) + "\n")
    status, _, err = _run(capsys, "check", "--source", str(path), "--format", "json")
    assert status == 0
    assert f"no claims found in {path}" in err


def test_a_source_that_could_not_be_read_does_not_say_it_holds_no_claims(tmp_path, capsys):
    # NDJSON saved as .json: the file is named unreadable; its 70 claims are not "none"
    path = tmp_path / "claims.json"
    path.write_text((DEMO / "Claim.ndjson").read_text())
    status, out, err = _run(capsys, "check", "--source", str(path), "--format", "json")
    assert status == 1 and json.loads(out)["errors"][0]["resource"] == "claims.json"
    assert "no claims found" not in err


def test_a_source_with_claims_does_not_say_so(capsys):
    _, _, err = _run(capsys, "check", "--source", str(DEMO), "--format", "json")
    assert "no claims found" not in err


@pytest.mark.parametrize("since", ["yesterday", "2026-02-30", "now", "ge2026-03-01"])
def test_since_that_is_not_an_instant_is_refused(capsys, since):
    status, _, err = _run(capsys, "check", "--server", "http://127.0.0.1:9/fhir",
                          "--since", since)
    assert status == 2 and "--since must be a date or an instant" in err


@pytest.mark.parametrize("since", ["2026-03-01", "2026-03-01T08:00:00Z", "2026-03"])
def test_since_as_a_date_or_instant_is_sent(since):
    from adapter.sources.server import ClaimSelection

    query = ClaimSelection(since=since).query()
    assert ("_lastUpdated", f"ge{since}") in query.params
