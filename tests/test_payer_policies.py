"""Payer policies end to end (SPEC 4.4): policy files validated at load, the ``[policies]``
configuration, the payer read from the claim, its Coverage and Organization, and the injection
history read from the source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapter.cli import main
from adapter.config import ConfigError, load_settings
from adapter.mappings import load_mappings
from adapter.payer_policies import PayerPolicies
from adapter.policy_files import PolicyError, load_policies, parse_policy, shipped_policies
from fixtures import builders as b
from tests.scenario import SERVICE, clean_chart, run

GOOD = {
    "id": "acme-b12", "name": "Acme B12 policy",
    "source": {"document": "Acme policy 12", "url": None, "date": "2026-01-01",
               "unverified": ["schedule"]},
    "effective": {"from": "2026-01-01", "to": None},
    "covered": {"codes": ["D51.0", "B70.0"], "prefixes": ["K90"]},
    "dual_diagnosis": [{"code": "E53.8", "requires_one_of": ["G63", "G32.0"]}],
    "schedule": {"course_gap_days": 180,
                 "phases": [{"count": 5, "min_interval_days": 1},
                            {"count": 4, "min_interval_days": 7},
                            {"count": None, "min_interval_days": 28}]},
}
NPI = "http://hl7.org/fhir/sid/us-npi"


def _write(folder: Path, name: str, data: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


# the policy files


def test_the_shipped_policies_load_with_their_sources_and_unverified_marks():
    shipped = shipped_policies()
    assert set(shipped) == {"medicare-l33967", "aetna-cpb-0536"}
    for policy in shipped.values():
        assert policy.source.unverified and policy.schedule is not None
        assert "schedule" in policy.source.unverified
    medicare = shipped["medicare-l33967"]
    assert medicare.schedule.min_interval(9) == 28  # maintenance: once a month
    assert "L33967" in medicare.source.document


def test_the_spec_example_policy_parses():
    policy = parse_policy(GOOD, "acme.json")
    assert policy.covered_codes == {"D51.0", "B70.0"} and policy.covered_prefixes == ("K90",)
    assert policy.partners("E53.8") == ("G63", "G32.0")
    assert [policy.schedule.min_interval(i) for i in (0, 1, 4, 5, 8, 9, 50)] == \
        [None, 1, 1, 7, 7, 28, 28]


@pytest.mark.parametrize("change, field", [
    ({"effective": {"from": "2026-13-01"}}, "effective.from"),
    ({"effective": {"from": "2026-02-01", "to": "2026-01-01"}}, "effective.to"),
    ({"covered": {"codes": ["D51.0", "D51.99"]}}, "covered.codes[1]"),
    ({"covered": {"prefixes": ["J3420"]}}, "covered.prefixes[0]"),
    ({"dual_diagnosis": [{"code": "E53.8", "requires_one_of": ["NOPE"]}]},
     "dual_diagnosis[0].requires_one_of[0]"),
    ({"covered": {"codes": ["D51.0"], "extra": 1}}, "covered.extra"),
    ({"frequency": "monthly"}, "frequency"),
    ({"schedule": {"course_gap_days": 0, "phases": [{"count": None,
                                                     "min_interval_days": 28}]}},
     "schedule.course_gap_days"),
    ({"schedule": {"course_gap_days": 90, "phases": [{"count": None, "min_interval_days": 1},
                                                     {"count": 2, "min_interval_days": 7}]}},
     "schedule.phases[0].count"),
    ({"source": {"url": "x"}}, "source.document"),
    ({"id": "Has Spaces"}, "id"),
])
def test_a_policy_file_with_an_error_names_the_file_and_the_field(tmp_path, change, field):
    _write(tmp_path / "mine", "acme.json", {**GOOD, **change})
    with pytest.raises(PolicyError) as caught:
        load_policies({"dir": "mine"}, tmp_path / "b12.toml")
    message = str(caught.value)
    assert "acme.json" in message and f": {field}:" in message, message


def test_a_policy_file_that_is_not_json_is_named(tmp_path):
    _write(tmp_path / "mine", "acme.json", "{not json")
    with pytest.raises(PolicyError, match=r"acme\.json: not readable JSON"):
        load_policies({"dir": "mine"}, tmp_path / "b12.toml")


def _schedule(gap: object = 180, count: object = 5, interval: object = 28) -> dict:
    return {"schedule": {"course_gap_days": gap, "phases": [
        {"count": count, "min_interval_days": 1}, {"count": None, "min_interval_days": interval}]}}


@pytest.mark.parametrize("change, field", [
    (_schedule(gap=True), "schedule.course_gap_days"),
    (_schedule(count=True), "schedule.phases[0].count"),
    (_schedule(interval=False), "schedule.phases[1].min_interval_days"),
    (_schedule(gap="180"), "schedule.course_gap_days"),
    (_schedule(count="5"), "schedule.phases[0].count"),
    (_schedule(interval=28.0), "schedule.phases[1].min_interval_days"),
])
def test_a_number_of_days_or_injections_must_be_a_whole_number_not_a_boolean_or_text(
        tmp_path, change, field):
    """pydantic's lax mode took true as 1 and "180" as 180: the limit never fired."""
    test_a_policy_file_with_an_error_names_the_file_and_the_field(tmp_path, change, field)


def test_a_policy_file_nested_too_deeply_is_named_not_a_traceback(tmp_path, capsys):
    _write(tmp_path / "mine", "acme.json", "[" * 100_000 + "]" * 100_000)
    config = _config(tmp_path, '[policies]\ndir = "mine"\n')
    source = _write(tmp_path / "data", "Patient.ndjson", json.dumps(b.patient("p1")) + "\n")
    assert main(["check", "--source", str(source), "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "acme.json: not readable JSON: nested too deeply" in err and "Traceback" not in err


def test_a_policy_file_and_a_config_with_a_utf8_bom_are_read(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "acme.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD).encode())
    config = tmp_path / "b12.toml"
    config.write_bytes(b"\xef\xbb\xbf" + b'[policies]\ndefault = "acme-b12"\ndir = "mine"\n')
    settings = load_settings(load_mappings().thresholds, config)
    assert settings.payers.default == "acme-b12"
    assert settings.payers.policies["acme-b12"].schedule.course_gap_days == 180


def test_icd10cm_codes_in_a_policy_may_be_written_without_the_dot():
    policy = parse_policy({**GOOD, "covered": {"codes": ["d510"]}}, "acme.json")
    assert policy.covered_codes == {"D51.0"}


# the configuration


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "b12.toml"
    path.write_text(text)
    return path


def test_the_policies_table_maps_payers_and_reads_the_users_own_folder(tmp_path):
    _write(tmp_path / "my-policies", "acme.json", GOOD)
    path = _config(tmp_path, '[policies]\ndefault = "medicare-l33967"\ndir = "my-policies"\n'
                             f'[policies.payers]\n"{NPI}|1234567893" = "acme-b12"\n'
                             '"Aetna" = "aetna-cpb-0536"\n')
    payers = load_settings(load_mappings().thresholds, path).payers
    assert set(payers.policies) == {"medicare-l33967", "aetna-cpb-0536", "acme-b12"}
    assert payers.default == "medicare-l33967"
    assert payers.lookup(["x", f"{NPI}|1234567893"]).id == "acme-b12"


@pytest.mark.parametrize("text, where", [
    ('[policies]\ndefault = "nobody"\n', "policies.default"),
    ('[policies]\ndir = "missing"\n', "policies.dir"),
    ('[policies]\nfallback = "x"\n', "policies.fallback"),
    ('[policies.payers]\n"Aetna" = "aetna-2020"\n', "policies.payers.Aetna"),
    ('policies = 3\n', "policies"),
])
def test_an_unusable_policies_setting_names_the_file_and_the_setting(tmp_path, text, where):
    with pytest.raises(ConfigError) as caught:
        load_settings(load_mappings().thresholds, _config(tmp_path, text))
    assert "b12.toml" in str(caught.value) and where in str(caught.value)


def test_a_policy_file_with_an_error_stops_the_run_with_status_2_naming_it(tmp_path, capsys):
    _write(tmp_path / "mine", "acme.json", {**GOOD, "covered": {"codes": ["D51.99"]}})
    config = _config(tmp_path, '[policies]\ndir = "mine"\n')
    source = _write(tmp_path / "data", "Patient.ndjson", json.dumps(b.patient("p1")) + "\n")
    assert main(["check", "--source", str(source), "--config", str(config)]) == 2
    assert "acme.json: covered.codes[0]" in capsys.readouterr().err


# the claim's payer, from the chart

SHIPPED = shipped_policies()
PAYERS = PayerPolicies(SHIPPED, {f"{NPI}|1234567893": "aetna-cpb-0536",
                                 "Medicare Part B": "medicare-l33967"})
AETNA = b.payer("aetna", "Aetna Life Insurance", (NPI, "1234567893"))
MEDICARE = b.payer("cms", "Medicare Part B")


def _policy_of(*resources: dict) -> str | None:
    report = run(*resources, payers=PAYERS)
    return report.claims[0].policy


def _chart(claim_resource: dict, *more: dict) -> list[dict]:
    return [*clean_chart()[:-1], claim_resource, *more]


def test_the_claims_insurer_organization_decides_the_policy():
    claim = b.insured(clean_chart()[-1], insurer=b.ref("Organization", "aetna"))
    assert _policy_of(*_chart(claim, AETNA)) == "aetna-cpb-0536"


def test_an_insurer_reference_with_only_an_identifier_is_matched():
    insurer = {"identifier": {"system": NPI, "value": "1234567893"}}
    assert _policy_of(*_chart(b.insured(clean_chart()[-1], insurer=insurer))) == \
        "aetna-cpb-0536"


def test_without_insurer_the_focal_coverages_payor_decides_by_name():
    claim = b.insured(clean_chart()[-1], coverage="Coverage/cov1")
    cov = b.coverage("cov1", "p1", b.ref("Organization", "cms"))
    assert _policy_of(*_chart(claim, cov, MEDICARE)) == "medicare-l33967"


def test_a_payor_display_is_a_name_too():
    claim = b.insured(clean_chart()[-1], coverage="Coverage/cov1")
    cov = b.coverage("cov1", "p1", {"display": "Medicare Part B"})
    assert _policy_of(*_chart(claim, cov)) == "medicare-l33967"


def test_a_payer_name_is_matched_whatever_its_case_an_identifier_exactly():
    """The config maps "Medicare Part B"; the chart writes "MEDICARE PART B" (no policy,
    silently, before). An identifier value in another case stays unmatched."""
    claim = b.insured(clean_chart()[-1], coverage="Coverage/cov1")
    cov = b.coverage("cov1", "p1", {"display": "MEDICARE  part b "})
    assert _policy_of(*_chart(claim, cov)) == "medicare-l33967"
    org = b.payer("cms", "MEDICARE PART B")
    claim = b.insured(clean_chart()[-1], insurer=b.ref("Organization", "cms"))
    assert _policy_of(*_chart(claim, org)) == "medicare-l33967"
    other = b.payer("aetna", "Another insurer", (NPI.upper(), "1234567893"))
    claim = b.insured(clean_chart()[-1], insurer=b.ref("Organization", "aetna"))
    assert _policy_of(*_chart(claim, other)) is None


def test_an_unknown_payer_gets_no_policy_and_the_report_says_none():
    claim = b.insured(clean_chart()[-1], insurer=b.ref("Organization", "other"))
    report = run(*_chart(claim, b.payer("other", "Other Health")), payers=PAYERS)
    assert report.claims[0].policy is None
    assert json.loads(report.to_json())["claims"][0]["policy"] is None


def test_other_claims_of_the_patient_in_the_source_count_once_per_date():
    """Maintenance shots billed on other claims (one also as its EOB, and a cancelled one
    that does not count), then this claim 10 days after the last: too soon."""
    dates = ["2025-12-01", "2025-12-02", "2025-12-03", "2025-12-04", "2025-12-05",
             "2025-12-12", "2025-12-19", "2025-12-26", "2026-01-02", "2026-02-01"]
    others = [b.insured(b.claim(f"old{n}", "p1", day), coverage="Coverage/cov1")
              for n, day in enumerate(dates)]
    others += [b.claim("old9", "p1", dates[-1], kind="ExplanationOfBenefit"),
               b.claim("gone", "p1", "2026-02-25", status="cancelled")]
    claim = b.insured(b.claim("k1", "p1", "2026-02-11", supporting=("Condition/c1",
                                                                      "Observation/o1")),
                      coverage="Coverage/cov1")
    chart = [*clean_chart()[:-2], b.administration("a1", "p1", "2026-02-11"),
             b.coverage("cov1", "p1", b.ref("Organization", "cms")), MEDICARE]
    report = run(*chart, *others, claim, payers=PAYERS)
    result = next(r for r in report.claims if r.claim == "Claim/k1")
    assert result.policy == "medicare-l33967"
    found = [x for x in result.findings if x.code == "frequency-exceeds-policy"]
    assert len(found) == 1 and "10 days after the injection on 2026-02-01" in found[0].message
    # the same claim 28 days after: no finding; the cancelled claim on 02-25 is no injection
    later = b.insured(b.claim("k1", "p1", "2026-03-01", supporting=("Condition/c1",
                                                                      "Observation/o1")),
                      coverage="Coverage/cov1")
    chart[3] = b.administration("a1", "p1", "2026-03-01")
    report = run(*chart, *others, later, payers=PAYERS)
    result = next(r for r in report.claims if r.claim == "Claim/k1")
    assert "frequency-exceeds-policy" not in {x.code for x in result.findings}


def test_file_source_reads_other_claims_from_the_claim_files(tmp_path):
    dates = ["2025-12-01", "2025-12-02", "2025-12-03", "2025-12-04", "2025-12-05",
             "2025-12-12", "2025-12-19", "2025-12-26", "2026-01-02", "2026-02-20"]
    claims = [b.insured(b.claim(f"old{n}", "p1", day), coverage="Coverage/cov1")
              for n, day in enumerate(dates)]
    chart = [r for r in clean_chart() if r["resourceType"] != "Claim"]
    by_type: dict[str, list[dict]] = {}
    for resource in [*chart, b.coverage("cov1", "p1", b.ref("Organization", "cms")), MEDICARE,
                     *claims, b.insured(clean_chart(supporting=("Condition/c1",
                                                                "Observation/o1"))[-1],
                                        coverage="Coverage/cov1")]:
        by_type.setdefault(resource["resourceType"], []).append(resource)
    for rtype, resources in by_type.items():
        _write(tmp_path / "data", f"{rtype}.ndjson",
               "".join(json.dumps(r) + "\n" for r in resources))
    config = _config(tmp_path, '[policies.payers]\n"Medicare Part B" = "medicare-l33967"\n')
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["check", "--source", str(tmp_path / "data"), "--config", str(config),
              "--format", "json"])
    report = json.loads(out.getvalue())
    k1 = next(c for c in report["claims"] if c["claim"] == "Claim/k1")
    assert k1["policy"] == "medicare-l33967" and k1["service_date"] == SERVICE
    assert "frequency-exceeds-policy" in {x["code"] for x in k1["findings"]}


# server mode: the page's Coverages (with their payors) in its one batch

BASE = "http://127.0.0.1:9/fhir"


def _searchset(*resources: dict) -> dict:
    return {"resourceType": "Bundle", "type": "searchset",
            "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources]}


def test_server_mode_reads_the_coverage_in_the_pages_batch_and_names_the_policy():
    import responses

    from adapter import modes
    from adapter.fhir import FhirClient
    from adapter.rules import Policy
    from adapter.sources.server import ClaimSelection

    chart = [*clean_chart()[:-1], b.coverage("cov1", "p1", b.ref("Organization", "cms")),
             MEDICARE, b.payer("aetna", "Aetna", (NPI, "1234567893"))]
    k1 = b.insured(clean_chart(supporting=("Condition/c1", "Observation/o1"))[-1],
                   coverage="Coverage/cov1")
    k2 = b.insured(b.claim("k2", "p1", "2026-03-05", diagnoses=("D52.0",)),
                   insurer=b.ref("Organization", "aetna"))
    batches: list[list[str]] = []

    def answer(request):
        sent = json.loads(request.body)
        urls = [e["request"]["url"] for e in sent["entry"]]
        batches.append(urls)
        entries = []
        for url in urls:
            rtype = url.split("?")[0]
            found = [r for r in chart if r["resourceType"] == rtype]
            if rtype == "Coverage" and "_include=Coverage%3Apayor" in url:
                found += [MEDICARE]
            bundle = _searchset(*found)
            for entry in bundle["entry"]:
                if entry["resource"]["resourceType"] != rtype:
                    entry["search"]["mode"] = "include"
            entries.append({"response": {"status": "200 OK"}, "resource": bundle})
        return 200, {}, json.dumps({"resourceType": "Bundle", "type": "batch-response",
                                    "entry": entries})

    mappings = load_mappings()
    policy = Policy.from_mappings(mappings, mappings.thresholds, payers=PAYERS)
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/Claim", json=_searchset(k1, k2))
        mock.get(f"{BASE}/ExplanationOfBenefit", json=_searchset())
        mock.add_callback(responses.POST, BASE, callback=answer)
        run_ = modes.check_server(modes.Judge(mappings, policy), FhirClient(BASE),
                                  ClaimSelection(), dry_run=True, max_entries=50)
    results = {r.claim: r for r in run_.report.claims}
    assert results["Claim/k1"].policy == "medicare-l33967"
    assert results["Claim/k2"].policy == "aetna-cpb-0536"
    assert "dx-not-covered" in {x.code for x in results["Claim/k2"].findings}
    # k2's history holds k1 (same page, same patient): its 2nd shot, 3 days on, is allowed
    assert "frequency-exceeds-policy" not in {x.code for x in results["Claim/k2"].findings}
    assert any(url.startswith("Coverage?") for url in batches[0])
    assert len(batches) <= 2  # the records batch, and the insurer read by id when missing


def test_a_malformed_coverage_is_an_error_naming_it_and_the_claim_is_still_checked():
    claim = b.insured(clean_chart()[-1], coverage="Coverage/cov1")
    bad = {**b.coverage("cov1", "p1", b.ref("Organization", "cms")), "payor": "Medicare"}
    report = run(*_chart(claim, bad, MEDICARE), payers=PAYERS)
    assert report.claims[0].policy is None and report.claims[0].verdict == "supported"
    assert [(e.resource, e.message) for e in report.errors] == [
        ("Coverage/cov1", "payor is not a list of References")]


def test_a_contained_coverage_names_its_payor_as_synthea_writes_it():
    claim = {**b.insured(clean_chart()[-1], coverage="#cov"),
             "contained": [{**b.coverage("cov", "p1", {"display": "Medicare Part B"})}]}
    assert _policy_of(*_chart(claim)) == "medicare-l33967"


def test_synthea_eobs_name_their_payer_by_the_insurers_display():
    path = Path(__file__).resolve().parents[1] / "fixtures" / "realdata" / \
        "synthea-bulk-9-patients" / "ExplanationOfBenefit.ndjson"
    from adapter.evidence.payer import read_claim_payer

    payer = read_claim_payer(json.loads(path.read_text().splitlines()[0]))
    assert payer.insurer is not None and "Blue Cross Blue Shield" in payer.insurer.keys
    assert [p.keys for p in payer.contained] == [("Blue Cross Blue Shield",)]
