"""Worker processes (adapter.parallel, ``check --workers``): the same report, in the same
order, as one process, whatever the export; a failing worker fails the run, loudly.

The pieces handed to workers are made tiny here (``PART_BYTES``) so that small exports are cut
into many pieces, each file at many places."""

from __future__ import annotations

import json
import logging
import os
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapter import modes, parallel
from adapter.cli import main
from adapter.driver import Driver
from adapter.file_plan import FilePlan
from adapter.mappings import load_mappings
from adapter.output.report import Report
from adapter.rules import Policy
from adapter.sources.files import CLAIM_PAGE_SIZE, FileSource
from adapter.sources.line_scan import ranges as _ranges
from bench.generate import generate
from fixtures import builders as b
from tests.scenario import SERVICE, clean_chart

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "fixtures" / "realdata"

pytestmark = pytest.mark.skipif(not parallel.available(), reason="needs fork")


@pytest.fixture(autouse=True)
def _small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Records read by workers too, in pieces of 4 KB: however many cores this machine has."""
    monkeypatch.setattr(parallel, "PART_BYTES", 4096)
    monkeypatch.setattr(parallel, "records_pay", lambda *args: True)


def test_records_are_read_by_workers_when_the_parent_keeps_a_core_or_b12_claims_are_rare(
        monkeypatch):
    monkeypatch.undo()
    monkeypatch.setattr(parallel, "cores", lambda: 4)
    assert parallel.records_pay(3, 10, 10) and not parallel.records_pay(4, 10, 10)
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    mb = 1 << 20
    assert not parallel.records_pay(2, 64 * mb, 20_000)  # all B12: the facts would be shipped
    assert parallel.records_pay(2, 64 * mb, 100)  # a real export: the scan is the work
    assert not parallel.records_pay(2, 64 * mb, None)  # no pre-scan: not known


def _report(path: Path, workers: int, max_claims: int | None = None) -> str:
    mappings = load_mappings()
    report = Report()
    source = FileSource.open(path)
    Driver(source, Policy.from_mappings(mappings, mappings.thresholds), mappings, [report],
           max_claims=max_claims, plan=FilePlan(source, mappings, workers)).run()
    return report.to_json()


@pytest.mark.parametrize("path", [ROOT / "fixtures" / "demo",
                                  *sorted(p for p in REAL.iterdir() if p.is_dir())],
                         ids=lambda p: p.name)
def test_the_demo_and_every_real_export_give_one_process_s_report(path):
    alone = _report(path, 1)
    assert _report(path, 2) == alone
    assert _report(path, 3) == alone


@pytest.mark.parametrize("mix, layout", [("demo", "bulk"), ("one-per-patient", "bulk"),
                                         ("demo", "bundles")])
def test_a_generated_export_of_several_pages_gives_one_process_s_report(tmp_path, mix, layout):
    generate(3 * CLAIM_PAGE_SIZE + 17, tmp_path, seed=5, mix=mix, layout=layout)
    alone = _report(tmp_path, 1)
    assert _report(tmp_path, 2) == alone
    assert len(json.loads(alone)["claims"]) > CLAIM_PAGE_SIZE


def test_max_claims_cuts_at_the_same_claim(tmp_path):
    generate(2 * CLAIM_PAGE_SIZE, tmp_path, seed=3)
    alone = _report(tmp_path, 1, max_claims=CLAIM_PAGE_SIZE + 3)
    assert _report(tmp_path, 2, max_claims=CLAIM_PAGE_SIZE + 3) == alone
    report = json.loads(alone)
    assert len(report["claims"]) + len(report["skipped"]) == CLAIM_PAGE_SIZE + 3


def _claims_file(directory: Path, claims: list[dict[str, Any]], chart: list[dict[str, Any]]
                 ) -> None:
    directory.mkdir(exist_ok=True)
    for resource in chart:
        with (directory / f"{resource['resourceType']}.ndjson").open("a") as out:
            out.write(json.dumps(resource, separators=(",", ":")) + "\n")
    (directory / "Claim.ndjson").write_text(
        "".join(json.dumps(c, separators=(",", ":")) + "\n" for c in claims))


def test_a_claim_id_met_again_on_a_page_another_worker_judged_is_still_the_error(tmp_path):
    chart = clean_chart()
    claim = next(r for r in chart if r["resourceType"] == "Claim")
    others = [b.claim(f"k{n}", "p1", SERVICE) for n in range(2, CLAIM_PAGE_SIZE + 50)]
    _claims_file(tmp_path, [claim, *others, claim],
                 [r for r in chart if r["resourceType"] != "Claim"])
    alone = _report(tmp_path, 1)
    assert _report(tmp_path, 2) == alone
    errors = json.loads(alone)["errors"]
    assert [e["resource"] for e in errors if "second claim" in e["message"]] == [
        f"Claim/{claim['id']}"]


def test_a_bad_line_deep_in_a_cut_file_is_named_by_its_line_number(tmp_path):
    labs = [json.dumps(b.lab(f"o{n}", "p1", "b12", 150 + n, "pg/mL", "2026-01-01"),
                       separators=(",", ":")) for n in range(400)]
    labs[333] = labs[333][:-9]  # cut short
    chart = [r for r in clean_chart() if r["resourceType"] != "Observation"]
    _claims_file(tmp_path, [r for r in chart if r["resourceType"] == "Claim"],
                 [r for r in chart if r["resourceType"] != "Claim"])
    (tmp_path / "Observation.ndjson").write_text("\n".join(labs) + "\n")
    alone = _report(tmp_path, 1)
    assert _report(tmp_path, 2) == alone
    assert [e["resource"] for e in json.loads(alone)["errors"]] == ["Observation.ndjson:334"]


def test_resources_a_worker_cannot_read_are_errors_as_in_one_process(tmp_path):
    """A worker sends the parent what it read, problems too (they crashed the run once)."""
    resources = [*clean_chart(), *_good_many(40)]
    resources.append(b.lab("o-bad", "p1", "b12", "abc", "pg/mL", "2026-02-10"))
    resources.append({**b.condition("c-bad", "p1", icd="E53.8"), "subject": None})
    directory = tmp_path / "export"
    directory.mkdir()
    for resource in resources:
        with (directory / f"{resource['resourceType']}.ndjson").open("a") as out:
            out.write(json.dumps(resource) + "\n")
    alone = _report(directory, 1)
    errors = {e["resource"]: e["message"] for e in json.loads(alone)["errors"]}
    assert "not a number" in errors["Observation/o-bad"]
    assert "no subject" in errors["Condition/c-bad"]
    assert _report(directory, 2) == alone


def _good_many(count: int) -> list[dict[str, Any]]:
    """Backed claims of other patients: enough records to be cut into pieces."""
    return [r for n in range(count) for r in (
        b.patient(f"q{n}"), b.condition(f"qc{n}", f"q{n}", icd="E53.8"),
        b.lab(f"qo{n}", f"q{n}", "b12", 150, "pg/mL", "2026-02-10"),
        b.administration(f"qa{n}", f"q{n}", SERVICE),
        b.claim(f"qk{n}", f"q{n}", SERVICE, supporting=(f"Condition/qc{n}",)))]


@given(lines=st.lists(st.integers(min_value=0, max_value=300), min_size=1, max_size=60),
       size=st.integers(min_value=1, max_value=2000), end=st.booleans())
def test_a_file_is_cut_into_ranges_that_cover_it_and_end_at_line_ends(
        tmp_path_factory, lines, size, end):
    path = tmp_path_factory.mktemp("cut") / "x.ndjson"
    data = b"\n".join(b"x" * n for n in lines) + (b"\n" if end else b"")
    path.write_bytes(data)
    ranges = _ranges(path, size)
    assert ranges[0][0] == 0 and ranges[-1][1] is None
    assert all(a[1] == b_[0] for a, b_ in pairwise(ranges))
    assert all(data[stop - 1:stop] == b"\n" for _, stop in ranges[:-1] if stop is not None)


# A worker that fails

def test_a_worker_that_raises_fails_the_run_with_its_error(tmp_path, monkeypatch, capsys):
    generate(CLAIM_PAGE_SIZE + 1, tmp_path, seed=1)

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the rules met something unforeseen")

    monkeypatch.setattr("adapter.driver.check_claims", boom)
    status = main(["check", "--source", str(tmp_path), "--workers", "2", "--format", "json"])
    out, err = capsys.readouterr()
    assert status == 2
    assert out == ""  # no report that leaves claims out
    assert "a worker process failed" in err and "the rules met something unforeseen" in err


def test_a_worker_that_dies_fails_the_run(tmp_path, monkeypatch):
    generate(CLAIM_PAGE_SIZE + 1, tmp_path, seed=1)
    monkeypatch.setattr("adapter.driver.check_claims", lambda *a, **k: os._exit(9))
    with pytest.raises(parallel.WorkerError, match="ended without finishing"):
        _report(tmp_path, 2)


# How many

def test_a_second_process_runs_only_when_enough_claims_may_bill_b12_and_says_why(
        monkeypatch, tmp_path, caplog):
    plans: list[FilePlan] = []

    class Spy(FilePlan):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            plans.append(self)

    monkeypatch.setattr(modes, "FilePlan", Spy)
    monkeypatch.setattr(parallel, "cores", lambda: 6)
    judge = modes.Judge(load_mappings(), Policy.from_mappings(load_mappings(),
                                                              load_mappings().thresholds))
    generate(50, tmp_path, seed=2)
    with caplog.at_level(logging.DEBUG, logger="adapter.file_plan"):
        small = modes.check_files(judge, tmp_path)
    assert plans[-1].workers == 1
    assert "one process: 45 claims may bill B12, fewer than 10,000" in caplog.text
    monkeypatch.setattr(parallel, "AUTO_MIN_B12_CLAIMS", 10)
    big = modes.check_files(judge, tmp_path)
    assert plans[-1].workers == parallel.AUTO_MAX_WORKERS
    assert big.to_json() == small.to_json()


def test_without_a_claims_pre_scan_the_size_of_the_records_decides(monkeypatch):
    monkeypatch.setattr(parallel, "cores", lambda: 3)
    assert parallel.choose(None, parallel.AUTO_MIN_BYTES - 1)[0] == 1
    workers, why = parallel.choose(None, parallel.AUTO_MIN_BYTES)
    assert workers == 2 and "no pre-scan" in why
    assert parallel.choose(parallel.AUTO_MIN_B12_CLAIMS, 0)[0] == 2


def test_on_two_cores_one_process_runs_whatever_the_export(monkeypatch):
    """Measured (bench/RESULTS.md): a second process on two cores costs as much CPU as it
    saves wall time, even when every claim bills B12."""
    for cores in (1, 2):
        monkeypatch.setattr(parallel, "cores", lambda cores=cores: cores)
        workers, why = parallel.choose(10**6, 10**12)
        assert workers == 1 and "--workers N" in why


def test_workers_is_a_positive_number_and_only_for_files(capsys):
    with pytest.raises(SystemExit):
        main(["check", "--source", "fixtures/demo", "--workers", "0"])
    assert main(["check", "--server", "http://127.0.0.1:9", "--workers", "2"]) == 2
    assert "--workers is for file sources" in capsys.readouterr().err


def test_a_sink_that_shows_the_evidence_gets_it_from_workers_too():
    from adapter.output.audit.collect import AuditSink

    mappings = load_mappings()
    policy = Policy.from_mappings(mappings, mappings.thresholds)
    audits = []
    for workers in (1, 2):
        sink = AuditSink(policy, show_names=True)
        source = FileSource.open(ROOT / "fixtures" / "demo")
        Driver(source, policy, mappings, [sink],
               plan=FilePlan(source, mappings, workers)).run()
        audits.append(sink.audit())
    assert audits[0] == audits[1]
    assert audits[0].sample  # the sampled rows are built from each claim's evidence
