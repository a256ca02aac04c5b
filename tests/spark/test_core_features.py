"""What the core learned since Spark mode was written reaches Spark mode, as file mode has it.

One export holds each: ExplanationOfBenefit checked like a Claim and a preauthorization
skipped; drugs in Medication resources (one written twice: the last counts, as in file mode;
one missing, also for a patient with no claim); an injection Procedure beside a B12 order
(``admin-not-recorded``); pemetrexed premedication; claims sharing an id (the first in file
order stands, across files and in a Bundle); a facility time zone; a resource in a claim
file. Spark mode must give file mode's output exactly, and these findings must be there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from adapter.cli import main
from fixtures import builders as b
from tests.spark.compare import assert_same, file_output, spark_output

pytestmark = pytest.mark.spark

MAR = "2026-03-02"
NEW_YORK = "America/New_York"
Resource = dict[str, Any]


def backed(pid: str, kid: str, given: Resource | None, **claim: Any) -> list[Resource]:
    """A B12 claim with its documenting Condition and a low B12 lab, both linked, and
    ``given`` (an administration, or None)."""
    return [b.patient(pid),
            b.condition(f"{kid}-dx", pid, icd="E53.8", onset="2025-06-01"),
            b.lab(f"{kid}-b12", pid, "b12", 160, "pg/mL", "2026-01-20"),
            *([given] if given else []),
            b.claim(kid, pid, MAR, supporting=(f"Condition/{kid}-dx", f"Observation/{kid}-b12"),
                    **claim)]


def tablet(mid: str) -> Resource:
    return b.medication(mid, rxnorm=None, form=None, text="cyanocobalamin 1000 MCG Oral Tablet")


def export(directory: Path) -> Path:
    directory.mkdir()
    resources = [
        # drugs in Medication resources; "inj" is written twice, the injection last
        tablet("inj"), tablet("oral"), b.medication("inj"),
        b.medication("pem", rxnorm="1728072", form=None, text="pemetrexed 500 MG injection"),
        # (no route coded: the drug's form or name says how it was given)
        *backed("q1", "k-med", b.administration("a1", "q1", MAR, medication="Medication/inj",
                                                route=None)),
        *backed("q2", "k-oral", b.administration("a2", "q2", MAR, medication="Medication/oral",
                                                 route=None)),
        *backed("q3", "k-nomed", b.administration("a3", "q3", MAR,
                                                  medication="Medication/nowhere")),
        b.patient("q4"),  # no claim: its drug still must be told, as file mode tells it
        b.administration("a4", "q4", MAR, medication="Medication/nowhere-else"),
        # the payer's record is checked like a claim; a preauthorization is not
        *backed("q5", "e-eob", b.administration("a5", "q5", MAR), kind="ExplanationOfBenefit"),
        b.claim("k-preauth", "q5", "2026-04-02", use="preauthorization"),
        # an injection procedure and a B12 order (its drug a Medication), no administration
        *backed("q6", "k-proc", None),
        b.procedure("pr6", "q6", MAR),
        {**b.medication_request("mr6", "q6", "2026-02-16"),
         "medicationReference": {"reference": "Medication/inj"},
         "medicationCodeableConcept": None},
        # B12 two weeks before pemetrexed (ordered as a Medication resource)
        b.patient("q7", "male"),
        b.condition("c7", "q7", icd="C34.90", onset="2026-01-20"),
        {**b.medication_request("pem7", "q7", "2026-03-16"),
         "medicationReference": {"reference": "Medication/pem"},
         "medicationCodeableConcept": None},
        b.administration("a7", "q7", MAR),
        b.claim("k-pem", "q7", MAR, diagnoses=("C34.90",), supporting=("Condition/c7",)),
        # given at 20:30 in New York, stamped in UTC: the next day unless the zone is known
        *backed("q9", "k-zone", b.administration("a9", "q9", "2026-03-03T01:30:00Z")),
        # ids given twice: the first in file order (1.Claim.ndjson, Claim.ndjson, the Bundle)
        *backed("q8", "k-dup", b.administration("a8", "q8", MAR)),
        b.claim("k-dup", "q8", MAR, product=(b.CPT, "90686")),
    ]
    for resource in resources:  # drop the concept a medicationReference replaces
        if resource.get("medicationCodeableConcept", "") is None:
            del resource["medicationCodeableConcept"]
    by_type: dict[str, list[str]] = {}
    for resource in resources:
        by_type.setdefault(resource["resourceType"], []).append(json.dumps(resource))
    by_type["Claim"].append(json.dumps(b.lab("in-a-claim-file", "q8", "b12", 150, "pg/mL",
                                             "2026-01-20")))
    for rtype, text_lines in by_type.items():
        (directory / f"{rtype}.ndjson").write_text("\n".join(text_lines) + "\n")
    flu = b.claim("k-dup2", "q8", MAR, product=(b.CPT, "90686"))
    (directory / "1.Claim.ndjson").write_text(json.dumps(flu) + "\n")
    with (directory / "Claim.ndjson").open("a") as claims:
        claims.write(json.dumps(b.claim("k-dup2", "q8", MAR)) + "\n")
    (directory / "zz-claims.json").write_text(json.dumps({
        "resourceType": "Bundle", "type": "collection",
        "entry": [{"resource": b.claim("k-dup", "q8", MAR)},
                  {"resource": b.claim("k-bundled", "q1", MAR)}]}))
    return directory


def verdicts(run: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
    return {ref: (c["verdict"], sorted(f["code"] for f in c["findings"]))
            for ref, c in run["claims"].items()}


def test_core_features_give_file_modes_output_in_spark(spark, tmp_path, capsys):
    source = export(tmp_path / "export")
    out = tmp_path / "out"

    status = main(["spark", "--source", str(source), "--out", str(out), "--master", "local[2]",
                   "--facility-timezone", NEW_YORK])

    capsys.readouterr()
    assert status == 1  # the missing Medications, the second claims, the misfiled lab
    spark_run = spark_output(out)
    assert_same(spark_run, file_output(source, ZoneInfo(NEW_YORK)))

    found = verdicts(spark_run)
    assert found["Claim/k-med"] == ("supported", [])  # the last Medication/inj: injectable
    assert found["Claim/k-oral"] == ("unsupported", ["admin-missing"])
    assert found["Claim/k-nomed"] == ("unsupported", ["admin-missing"])
    assert found["ExplanationOfBenefit/e-eob"] == ("supported", [])
    assert found["Claim/k-proc"] == ("review", ["admin-not-recorded"])
    assert found["Claim/k-pem"] == ("review", ["premedication-timing"])
    assert found["Claim/k-zone"] == ("supported", [])  # 20:30 on 03-02 in New York
    assert found["Claim/k-dup"] == ("supported", [])  # the first of its id
    assert "Claim/k-dup2" not in found  # its first is the flu shot, in 1.Claim.ndjson
    skipped = [json.loads(s) for s in spark_run["skipped"].elements()]
    assert {"claim": "Claim/k-dup2", "reason": "no B12 injection item"} in skipped
    assert any(s["claim"] == "Claim/k-preauth" for s in skipped)
    errors = [json.loads(e) for e in spark_run["errors"].elements()]
    second = "a second claim with this id: ids must be unique; it is not checked"
    assert sorted(e["resource"] for e in errors if e["message"] == second) == [
        "Claim/k-dup", "Claim/k-dup", "Claim/k-dup2"]
    assert {(e["resource"], e["message"]) for e in errors if "medicationReference" in e[
        "message"]} == {
        ("MedicationAdministration/a3", "medicationReference Medication/nowhere is not in the "
         "source: the drug cannot be told"),
        ("MedicationAdministration/a4", "medicationReference Medication/nowhere-else is not "
         "in the source: the drug cannot be told")}
    assert {"resource": "Observation/in-a-claim-file",
            "message": "in Claim.ndjson, a file of Claim: not read"} in errors


def test_without_the_facility_time_zone_both_modes_read_the_timestamps_offset(spark, tmp_path):
    source = export(tmp_path / "export")
    out = tmp_path / "out"

    assert main(["spark", "--source", str(source), "--out", str(out)]) == 1

    spark_run = spark_output(out)
    assert_same(spark_run, file_output(source))
    # stamped in UTC, it counts on each day it may be at the clinic (issue 25): 03-02 too
    assert verdicts(spark_run)["Claim/k-zone"] == ("supported", [])
