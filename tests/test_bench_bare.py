"""The bare checker (``bench.bare``) is a lower bound of the work ``check`` does on the all-B12
mix only if it judges the same claims: every claim ``check`` judges, and no other."""

from __future__ import annotations

import json

from adapter import modes
from adapter.judge import Judge
from bench import bare
from bench.generate import generate


def test_the_bare_checker_judges_the_claims_check_judges(tmp_path):
    generate(60, tmp_path, mix="one-per-patient")

    times, results = bare.run(tmp_path)
    report = json.loads(modes.check_files(Judge.load(), tmp_path, workers=1).to_json())

    judged = {claim["claim"] for claim in report["claims"]}
    assert len(judged) == 60
    assert {result["claim"] for result in results} == judged
    assert set(times) == {"read the chart", "claims and checks", "report"}
    # every patient's chart was read: the checks ran over facts, not over nothing
    assert all(result["birth"] for result in results)
