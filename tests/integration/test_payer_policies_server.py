"""Payer policies against a real FHIR server (SPEC 4.4): the page's Coverages and their payor
Organizations come in the page's one batch (``_include``), a claim's insurer is read by id
when the batch missed it, and the history of administrations is the patient's whole record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from adapter.cli import main
from fixtures import builders as b
from tests.integration.test_server_mode import MEDPLUM, _load

NPI = "http://hl7.org/fhir/sid/us-npi"
HISTORY = ("2025-12-01", "2025-12-02", "2025-12-03", "2025-12-04", "2025-12-05",
           "2025-12-12", "2025-12-19", "2025-12-26", "2026-01-02", "2026-02-02")


def _chart(x: str) -> list[dict[str, Any]]:
    """Medicare (by the Coverage's payor name): a shot 10 days after the last maintenance one;
    Aetna (by the NPI of the claim's insurer): E53.8 alone, not covered."""
    p1, p2 = f"{x}-p1", f"{x}-p2"
    resources: list[dict[str, Any]] = [
        b.payer(f"{x}-medicare", "Medicare Part B"),
        b.payer(f"{x}-aetna", "Aetna Life Insurance Company", (NPI, f"{x}-npi")),
        b.patient(p1), b.patient(p2),
        b.coverage(f"{x}-cov1", p1, b.ref("Organization", f"{x}-medicare")),
    ]
    for pid in (p1, p2):
        resources += [b.condition(f"{pid}-c", pid, icd="E53.8"),
                      b.lab(f"{pid}-o", pid, "b12", 150, "pg/mL", "2026-01-20"),
                      b.administration(f"{pid}-a", pid, "2026-02-12")]
    resources += [b.administration(f"{p1}-h{n}", p1, day) for n, day in enumerate(HISTORY)]
    refs = ("Condition/{}-c", "Observation/{}-o")
    resources += [
        b.insured(b.claim(f"{x}-k1", p1, "2026-02-12",
                          supporting=tuple(r.format(p1) for r in refs)),
                  coverage=f"Coverage/{x}-cov1"),
        b.insured(b.claim(f"{x}-k2", p2, "2026-02-12",
                          supporting=tuple(r.format(p2) for r in refs)),
                  insurer=b.ref("Organization", f"{x}-aetna")),
    ]
    return resources


def test_server_mode_applies_the_payers_policies_in_one_batch_per_page(
        fhir_server, capsys, tmp_path: Path):
    _load(fhir_server, _chart("pol"))
    config = tmp_path / "b12.toml"
    config.write_text('[policies.payers]\n"Medicare Part B" = "medicare-l33967"\n'
                      f'"{NPI}|pol-npi" = "aetna-cpb-0536"\n')
    status = main(["check", "--server", fhir_server, "--format", "json", *MEDPLUM,
                   "--claim", "pol-k1", "--claim", "pol-k2", "--dry-run", "--stats",
                   "--config", str(config)])
    out, err = capsys.readouterr()
    assert status == 0, out
    report = json.loads(out)
    claims = {c["claim"]: c for c in report["claims"]}
    assert claims["Claim/pol-k1"]["policy"] == "medicare-l33967"
    assert [f["code"] for f in claims["Claim/pol-k1"]["findings"]] == \
        ["frequency-exceeds-policy"]
    assert claims["Claim/pol-k2"]["policy"] == "aetna-cpb-0536"
    assert [f["code"] for f in claims["Claim/pol-k2"]["findings"]] == ["dx-not-covered"]
    stats = json.loads(err.split("requests: ", 1)[1].splitlines()[0])
    # the claim searches, the page's batch, and one batch reading the insurer by id
    assert stats["by_type"].get("batch") == 2, stats
