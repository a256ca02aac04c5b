"""The JSON report is written by orjson for speed; a consumer diffing reports across versions
gets the bytes the json module wrote before, whatever the text holds."""

from __future__ import annotations

import json
import tracemalloc

import pytest

from adapter.outcomes import ClaimOutcome, PageOutcome, Problem
from adapter.output.report import Report


@pytest.mark.parametrize("message", ["plain", "Zoë Ålund, 1000 µg", "\ufffd from a lone surrogate",
                                     "tab\tquote\" backslash\\ nul\x00 emoji \U0001f489",
                                     "line\u2028separator"])
def test_the_indented_report_is_the_json_module_s_bytes(message):
    report = Report()
    report.write(PageOutcome((ClaimOutcome("Claim/k1", skipped=message),),
                             problems=(Problem("Observation/o1", message),)))
    assert report.to_json() == json.dumps(report.to_dict(), indent=2, ensure_ascii=False)
    assert json.loads(report.to_json())["skipped"][0]["reason"] == message
    compact = json.dumps(report.to_dict(), separators=(",", ":"), ensure_ascii=False)
    assert report.to_json(indent=None) == compact  # piped to a program: no spaces at all


def test_what_orjson_cannot_write_is_written_by_the_json_module():
    report = Report()
    report.write(PageOutcome((ClaimOutcome("Claim/k1", skipped="x"),)))
    summary = {**report.summary(), "checked": 2 ** 70}
    report.summary = lambda: summary  # type: ignore[method-assign]
    data = report.to_dict()
    assert data["summary"]["checked"] == 2 ** 70
    assert report.to_json() == json.dumps(data, indent=2, ensure_ascii=False)
    assert report.to_json(indent=None) == json.dumps(data, separators=(",", ":"))


def _report(claims: int, skipped: int, problems: int) -> Report:
    from datetime import date

    from adapter.findings import Finding
    from adapter.outcomes import ClaimResult

    report = Report()
    for n in range(claims):
        findings = (Finding("lab-missing", "no lab \u00b5g", diagnosis="E53.8"),) * (n % 3)
        result = ClaimResult(f"Claim/c{n}", f"Patient/p{n}", date(2026, 1, 2), findings)
        report.write(PageOutcome((ClaimOutcome(result.claim, result=result),)))
    report.write(PageOutcome(
        tuple(ClaimOutcome(f"Claim/s{n}", skipped="no B12 injection item") for n in range(skipped)),
        problems=tuple(Problem(f"Observation/o{n}", "not a number") for n in range(problems))))
    return report


@pytest.mark.parametrize("claims,skipped,problems", [(0, 0, 0), (1, 0, 0), (0, 1, 1), (3, 2, 0),
                                                      (2, 0, 3)])
def test_the_report_written_an_entry_at_a_time_is_the_json_module_s_bytes(claims, skipped,
                                                                         problems):
    report = _report(claims, skipped, problems)
    data = report.to_dict()
    assert len(data["claims"]) == claims and len(data["skipped"]) == skipped
    assert report.to_json() == json.dumps(data, indent=2, ensure_ascii=False)
    assert report.to_json(indent=None) == json.dumps(data, ensure_ascii=False,
                                                     separators=(",", ":"))


def test_skipped_claims_are_spooled_and_read_back_in_order_as_often_as_asked():
    tracemalloc.start()
    report = _report(0, 200_000, 0)  # ~8 MB of entries: past the spool's 4 MB in memory
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert held < 6 << 20, f"{held / 2**20:.1f} MB held for 200,000 skipped claims"
    assert len(report.skipped) == 200_000
    assert report.skipped[0].claim == "Claim/s0" and report.skipped[-1].claim == "Claim/s199999"
    assert [s.claim for s in report.skipped][:3] == ["Claim/s0", "Claim/s1", "Claim/s2"]
    reading = iter(report.skipped)
    assert next(reading).claim == "Claim/s0"
    report.write(PageOutcome((ClaimOutcome("Claim/late", skipped="claim status is \ud800"),)))
    assert sum(1 for _ in reading) == 199_999  # a reading is a snapshot
    assert [s.reason for s in report.skipped][-1] == "claim status is \ud800"
    assert sum(1 for _ in report.skipped) == 200_001
