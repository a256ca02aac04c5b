"""The JSON report is written by orjson for speed; a consumer diffing reports across versions
gets the bytes the json module wrote before, whatever the text holds."""

from __future__ import annotations

import json

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
    data = report.to_dict()
    data["summary"]["checked"] = 2 ** 70
    report.to_dict = lambda: data  # type: ignore[method-assign]
    assert json.loads(report.to_json())["summary"]["checked"] == 2 ** 70
    assert report.to_json(indent=None) == json.dumps(data, separators=(",", ":"))
