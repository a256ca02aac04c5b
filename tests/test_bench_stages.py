"""The stage table (``bench.stages``) times the work ``check`` does, not a lookalike: its stages,
run in turn, give the claims and skips of the report ``check`` gives on the same export."""

from __future__ import annotations

import json
from pathlib import Path

from adapter import modes
from adapter.judge import Judge
from bench import stages

DEMO = Path(__file__).resolve().parent.parent / "fixtures" / "demo"


def test_the_stages_do_the_work_of_a_check_run():
    judge = Judge.load()
    times: dict[str, float] = {}

    staged = json.loads(stages.run_once(DEMO, judge, times).to_json())
    checked = json.loads(modes.check_files(judge, DEMO, workers=1).to_json())

    assert staged["claims"] == checked["claims"] and staged["claims"]
    assert staged["skipped"] == checked["skipped"]
    assert set(times) >= {"claims pre-scan", "records pass (scan, parse, read)", "rules",
                          "judging in all (gathering, rules, results)", "report (JSON)"}


def test_the_table_shares_the_budget_among_the_stages():
    times = {"claims pre-scan": 0.1, "scan and parse only": 0.2,
             "records pass (scan, parse, read)": 0.5, "claim pages (scan, parse)": 0.1,
             "reading the claims": 0.1, "gathering": 0.1, "rules": 0.2,
             "judging in all (gathering, rules, results)": 0.4, "report (JSON)": 0.1}

    lines = stages.table(times, floor=0.5, startup=0.1, budget=2.0, claims=100)

    total = 0.1 + 0.1 + 0.2 + 0.3 + 0.1 + 0.1 + 0.1 + 0.2 + 0.1 + 0.1
    assert f"stages sum {total:.2f} s = {total / 0.5:.1f}x" in lines[0]
    assert lines[-1] == "| **all** | **1.400** | 14000.0 | 100% | **1.000** |"
    read = next(line for line in lines if line.startswith("| records: read into the chart"))
    assert read == "| records: read into the chart | 0.300 | 3000.0 | 21% | 0.214 |"
