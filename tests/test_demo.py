"""The bundled demo: every finding code shows, each claim says what its scenario means."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapter.cli import main
from fixtures import make_demo
from tests.report_shape import assert_report_shape

DEMO = Path(make_demo.__file__).resolve().parent / "demo"
ALL_CODES = {
    "dx-invalid", "dx-no-indication", "dx-not-documented", "dx-more-specific-than-chart",
    "dx-not-current", "dx-unconfirmed", "lab-missing", "lab-not-low", "anemia-not-supported",
    "specificity-loss", "manifestation-sequencing", "cause-not-coded", "item-dx-link",
    "admin-missing", "dose-units-mismatch", "evidence-not-linked",
    "dx-derived", "admin-not-recorded", "premedication-timing", "dx-not-b12", "dx-drift",
    "dx-excludes1", "code-set-missing",
    "dx-not-covered", "frequency-exceeds-policy",
    "note-missing", "note-symptom-only", "note-no-indication", "note-unreadable",
    "note-history-only", "note-contradicts", "note-uncertain", "note-specificity-loss",
    "dx-more-specific-than-note", "dx-text-only",
}
POLICIES = DEMO / "policies.toml"  # the demo's payer policies (SPEC 4.4)


def _check(*args: str) -> tuple[int, dict]:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(["check", "--source", str(DEMO), "--format", "json", *args])
    return status, json.loads(out.getvalue())


@pytest.fixture(scope="module")
def demo_report() -> tuple[int, dict]:
    return _check("--config", str(POLICIES))


def test_without_the_policies_no_payer_policy_applies_and_nothing_else_changes(demo_report):
    status, plain = _check()
    assert status == 0
    assert all(c["policy"] is None for c in plain["claims"])
    assert [(c["claim"], sorted({f["code"] for f in c["findings"]} - make_demo.POLICY_CODES))
            for c in demo_report[1]["claims"]] == \
        [(c["claim"], sorted(f["code"] for f in c["findings"])) for c in plain["claims"]]


def test_the_demo_names_the_policy_of_each_insured_claim(demo_report):
    policies = {c["claim"]: c["policy"] for c in demo_report[1]["claims"] if c["policy"]}
    assert policies == {"Claim/k52": "aetna-cpb-0536", "Claim/k53": "medicare-l33967",
                        "Claim/k54": "medicare-l33967", "Claim/k55": "medicare-l33967"}


def test_demo_runs_clean_and_matches_the_report_contract(demo_report):
    status, report = demo_report
    assert status == 0, report["errors"]
    assert_report_shape(report)
    assert report["summary"]["checked"] >= 38
    patients = {c["patient"] for c in report["claims"]}
    assert len(patients) >= 25


def test_every_finding_code_fires_in_the_demo(demo_report):
    _, report = demo_report
    fired = {f["code"] for c in report["claims"] for f in c["findings"]}
    assert fired == ALL_CODES


@pytest.mark.parametrize("scenario", [s for s in make_demo.demo.scenarios if not s.skipped],
                         ids=lambda s: f"{s.claim}-{s.story[:40]}")
def test_each_demo_claim_gets_its_scenarios_verdict_and_findings(demo_report, scenario):
    _, report = demo_report
    claim = next(c for c in report["claims"] if c["claim"].endswith(f"/{scenario.claim}"))
    assert claim["verdict"] == scenario.verdict
    assert sorted(f["code"] for f in claim["findings"]) == sorted(scenario.codes)


def test_demo_skips_what_it_should(demo_report):
    _, report = demo_report
    expected = [{"claim": f"Claim/{s.claim}", "reason": s.skipped}
                for s in make_demo.demo.scenarios if s.skipped]
    assert report["skipped"] == expected


def test_committed_demo_is_what_the_generator_writes(tmp_path):
    make_demo.write(tmp_path)
    for path in [*sorted(DEMO.glob("*.ndjson")), POLICIES]:
        assert (tmp_path / path.name).read_text() == path.read_text(), path.name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in DEMO.iterdir())
    assert (tmp_path / "README.md").read_text() == (DEMO / "README.md").read_text()
